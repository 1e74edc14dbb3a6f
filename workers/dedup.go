package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"recevable/intake"
	"recevable/storage"
)

// Deduplication. The same bytes twice are caught by the raw sha (a raw item
// already done is acknowledged, nothing else). The same message with other
// bytes — fetched again after a UIDVALIDITY change, delivered twice with
// other trace headers, re-serialised by the server — is caught by its
// Message-ID, indexed per site (the same message sent to two prefectures
// makes a dossier at each):
//
//   - same Message-ID, same From (compared case-insensitively) and the same
//     attachments (the same SHA-256 values): a duplicate. No dossier; the
//     done record names the first copy, and the first dossier's history
//     records the copy's raw sha.
//   - same Message-ID and From but other attachments: not a duplicate (a
//     person resending with a piece added, or a client reusing ids): a
//     dossier is made, linked to the first, with a history entry saying
//     why. Merging it would hide documents from staff.
//   - same Message-ID, another From: not a duplicate either (a reused or
//     forged Message-ID must not swallow a filing); linked likewise.
//
// Nothing is dropped silently: every copy is either a dossier or a named
// duplicate of one.

// maxLinkAttempts bounds the conditional updates of the first dossier.
const maxLinkAttempts = 10

// messageIDCopy indexes the item's Message-ID and, when another raw item of
// the same site had it first, decides. dup is the result to return for a
// duplicate; otherwise linked and notes go into the new dossier.
func (p *Pipeline) messageIDCopy(ctx context.Context, j *job, pr *unit) (dup *Result, linked []string, notes []storage.HistoryEntry, err error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(pr.env.MessageID), "<"), ">")
	if id == "" {
		return nil, nil, nil, nil
	}
	first, err := p.raws.IndexMessageID(ctx, j.site.ID+" "+id, j.sha)
	if err != nil || first == j.sha {
		return nil, nil, nil, err
	}
	numbers, firstRaw, err := p.firstCopy(ctx, j, first)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(numbers) == 0 {
		// The first copy made no dossier (it is in quarantine): this one
		// stands on its own.
		return nil, nil, []storage.HistoryEntry{{Action: "message_id_seen",
			Detail: fmt.Sprintf("même Message-ID que l'original %s, en quarantaine", firstRaw)}}, nil
	}
	m, _, err := p.dossiers.Get(ctx, numbers[0])
	if err != nil {
		return nil, nil, nil, err
	}
	firstFrom := ""
	if m.Sender != nil {
		firstFrom = m.Sender.Email
	}
	if !strings.EqualFold(strings.TrimSpace(firstFrom), strings.TrimSpace(pr.env.From)) {
		j.log.Warn().Str("dossier", numbers[0]).Str("first_raw", firstRaw).Msg("same Message-ID as an earlier dossier, other sender: not a duplicate")
		return nil, numbers, []storage.HistoryEntry{{Action: "message_id_reused",
			Detail: fmt.Sprintf("même Message-ID que le dossier %s (original %s), autre expéditeur", numbers[0], firstRaw)}}, nil
	}
	if !sameAttachments(m.Documents, pr) {
		j.log.Info().Str("dossier", numbers[0]).Str("first_raw", firstRaw).Msg("same Message-ID and sender as an earlier dossier, other documents: not a duplicate")
		return nil, numbers, []storage.HistoryEntry{{Action: "message_id_reused",
			Detail: fmt.Sprintf("même Message-ID et même expéditeur que le dossier %s (original %s), autres pièces", numbers[0], firstRaw)}}, nil
	}
	if err := p.recordCopy(ctx, numbers[0], j.sha); err != nil {
		return nil, nil, nil, err
	}
	if err := p.raws.MarkDone(ctx, j.sha, storage.Done{DuplicateOf: firstRaw}); err != nil {
		return nil, nil, nil, err
	}
	j.log.Info().Str("dossier", numbers[0]).Str("first_raw", firstRaw).Msg("duplicate of an earlier message (same Message-ID and sender)")
	return &Result{Raw: j.sha, Result: ResultDuplicate, Disposition: intake.Processed, Numbers: numbers, DuplicateOf: firstRaw}, nil, nil, nil
}

// firstCopy returns the dossiers of the raw item first, processing it now if
// it is unfinished (a crash left it between raw stored and dossier written:
// waiting for recovery would hold this item back for nothing, and every
// step is idempotent). numbers is empty when first is in quarantine.
func (p *Pipeline) firstCopy(ctx context.Context, j *job, first string) (numbers []string, raw string, err error) {
	d, err := p.raws.GetDone(ctx, first)
	if errors.Is(err, storage.ErrNotFound) {
		if _, _, qerr := p.quar.Get(ctx, first); qerr == nil {
			return nil, first, nil
		} else if !errors.Is(qerr, storage.ErrNotFound) {
			return nil, "", qerr
		}
		j.log.Info().Str("first_raw", first).Msg("first copy unfinished, processing it first")
		res, perr := p.processRaw(ctx, j.stop, first, false)
		if perr != nil {
			return nil, "", fmt.Errorf("first copy %s: %w", first, perr)
		}
		if res.Result == ResultQuarantined {
			return nil, first, nil
		}
		d, err = p.raws.GetDone(ctx, first)
	}
	if err != nil {
		return nil, "", fmt.Errorf("first copy %s: %w", first, err)
	}
	if d.DuplicateOf != "" {
		// first was itself a copy (it cannot be: the index names the first
		// raw item); follow once rather than trust it.
		return p.firstDone(ctx, d.DuplicateOf)
	}
	return d.Numbers, first, nil
}

func (p *Pipeline) firstDone(ctx context.Context, sha string) ([]string, string, error) {
	d, err := p.raws.GetDone(ctx, sha)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, sha, nil
	}
	if err != nil {
		return nil, "", err
	}
	return d.Numbers, sha, nil
}

// recordCopy adds to the history of dossier number that a copy (raw sha)
// arrived, once, with a conditional update.
func (p *Pipeline) recordCopy(ctx context.Context, number, sha string) error {
	detail := "copie reçue (même Message-ID, même expéditeur) : original " + sha
	for range maxLinkAttempts {
		m, etag, err := p.dossiers.Get(ctx, number)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(m.History, func(h storage.HistoryEntry) bool { return h.Action == "duplicate_received" && h.Detail == detail }) {
			return nil
		}
		m.History = append(m.History, storage.HistoryEntry{At: p.o.Now().UTC(), Actor: actor, Action: "duplicate_received", Detail: detail})
		_, err = p.dossiers.Update(ctx, m, etag)
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrPreconditionFailed) {
			return err
		}
	}
	return fmt.Errorf("record copy %s on %s: dossier kept changing", sha, number)
}

// sameAttachments reports whether the first dossier's attachments are the
// item's, compared as multisets of SHA-256 values (names and order aside).
func sameAttachments(first []storage.Document, pr *unit) bool {
	var a, b []string
	for _, d := range first {
		if d.Role == "attachment" || d.Role == "scan" {
			a = append(a, d.SHA256)
		}
	}
	for _, d := range pr.docs {
		if d.isAttachment() {
			b = append(b, d.doc.SHA256)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
