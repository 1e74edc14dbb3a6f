package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// ruleArt4 is cited by every decision (DESIGN.md, "Admissibility").
const ruleArt4 = "arrêté 2023-08-01 art. 4"

// actor names the pipeline in dossier histories.
const actor = "recevable"

// writeDossier writes the documents, then the manifest (the commit: a
// dossier exists when its manifest does). Each write is idempotent, so a
// replay after a crash anywhere in here finishes the same dossier; the done
// marker is the caller's, once every unit of the item is written.
func (p *Pipeline) writeDossier(ctx context.Context, j *job, u *unit, number string, as validate.Assessment, linked []string, notes []storage.HistoryEntry) error {
	docs := make([]storage.Document, 0, len(u.docs))
	half := (len(u.docs) + 1) / 2
	for i, s := range u.docs {
		doc, err := p.putDocument(ctx, j, number, s)
		if err != nil {
			return fmt.Errorf("dossier %s: %w", number, err)
		}
		docs = append(docs, doc)
		if i+1 == half {
			p.fault(FaultDocumentsHalfWritten, j.sha)
		}
	}

	// A replay reads the manifest first: a dossier already created is left
	// as it is, not even given a queue marker for a status staff may have
	// changed since. A fresh item has no dossier yet (its number is bound to
	// its raw sha, which did not exist before this attempt), so the read is
	// skipped; should a replica that took the same bytes alongside have
	// written it meanwhile, Create fails with ErrExists — done — after
	// adding at most a marker in the queue that replica chose too, or one
	// List removes after its grace (storage.Queue: one marker too many,
	// never one too few).
	var exists error = storage.ErrNotFound
	if !j.fresh {
		_, _, exists = p.dossiers.Get(ctx, number)
	}
	created := false
	if errors.Is(exists, storage.ErrNotFound) {
		m := p.manifest(j, u, number, docs, as, linked, notes)
		// Every document of m was put just above, in this attempt: the
		// HEAD per document of Create would only confirm it.
		if _, err := p.dossiers.CreateAfterPut(ctx, m); err == nil {
			created = true
		} else if !errors.Is(err, storage.ErrExists) {
			return err
		}
	} else if exists != nil {
		return exists
	}
	p.fault(FaultDossierCreated, j.sha)
	if created {
		p.metrics.DossiersCreated.WithLabelValues(j.site.ID, string(j.channel), string(as.Decision.Outcome)).Inc()
		j.log.Info().Str("dossier", number).Str("outcome", string(as.Decision.Outcome)).Int("documents", len(docs)).Msg("dossier registered")
	}
	return nil
}

// putDocument stores one document and returns its record. A letter cut
// from a scan is written anew by each attempt, and pdfcpu's output is not
// byte-stable (document id, dates): when an earlier attempt already stored
// the letter, the stored copy is kept and described — same pages, and the
// dossier must not hold two versions. Any other document is the same bytes
// at every attempt; different bytes under its name mean the item was parsed
// differently (another version of the code), and a person must look.
// On a fresh job no earlier attempt can have stored it, so it is put
// without looking first (storage.Dossiers.PutNewDocument).
func (p *Pipeline) putDocument(ctx context.Context, j *job, number string, s *spooled) (storage.Document, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return storage.Document{}, err
	}
	put := p.dossiers.PutDocument
	if j.fresh {
		put = p.dossiers.PutNewDocument
	}
	err = put(ctx, number, s.doc, f)
	f.Close()
	if !errors.Is(err, storage.ErrExists) {
		return s.doc, err
	}
	if s.doc.Role != "scan" {
		return storage.Document{}, intake.Permanent(err)
	}
	rc, _, err := p.o.Bucket.Get(ctx, storage.DocumentKey(number, s.doc.SafeName))
	if err != nil {
		return storage.Document{}, err
	}
	defer rc.Close()
	sha, size, err := storage.Digest(rc)
	if err != nil {
		return storage.Document{}, err
	}
	doc := s.doc
	doc.SHA256, doc.Size = sha, size
	return doc, nil
}

// manifest builds the manifest of a new dossier.
func (p *Pipeline) manifest(j *job, u *unit, number string, docs []storage.Document, as validate.Assessment, linked []string, notes []storage.HistoryEntry) *storage.Manifest {
	now := p.o.Now().UTC()
	dec := as.Decision
	status, known := statusFor(dec.Outcome)
	if !known {
		// Never let a verification failure pass silently: an outcome we do
		// not know goes to a person.
		dec.Reasons = append(dec.Reasons, storage.Reason{Code: "outcome_unknown",
			Text: fmt.Sprintf("Proposition inconnue (%q) : vérification manuelle nécessaire.", dec.Outcome)})
		dec.Outcome = storage.OutcomeAVerifier
	}
	if dec.Rule == "" {
		dec.Rule = ruleArt4
	}
	if dec.At.IsZero() {
		dec.At = now
	}
	as.Decision = dec
	src := maps.Clone(j.meta.Coordinates)
	if src == nil {
		src = map[string]string{}
	}
	src["source"] = j.meta.Source
	m := &storage.Manifest{
		Number:     number,
		Site:       j.site.ID,
		Channel:    j.channel,
		ReceivedAt: u.received(j).UTC(),
		Postal:     u.postal,
		Raw:        j.sha,
		Source:     src,
		MessageID:  u.env.MessageID,
		Subject:    u.env.Subject,
		Sender:     u.sender,
		Documents:  docs,
		Evidence:   as.Evidence,
		Decision:   dec,
		Status:     status,
		Linked:     uniq(append(slices.Clone(as.Linked), linked...)),
	}
	if u.env.From != "" {
		m.Sender = &storage.Party{Name: u.env.FromName, Email: u.env.From}
	}
	m.History = append(m.History, storage.HistoryEntry{At: now, Actor: actor, Action: "received", Detail: "source " + j.meta.Source})
	if len(u.notes) > 0 {
		m.History = append(m.History, storage.HistoryEntry{At: now, Actor: actor, Action: "parse_notes", Detail: strings.Join(u.notes, "; ")})
	}
	for _, n := range notes {
		n.At, n.Actor = now, actor
		m.History = append(m.History, n)
	}
	m.History = append(m.History, storage.HistoryEntry{At: now, Actor: actor, Action: "registered",
		Detail: fmt.Sprintf("%s, proposition %s (%s)", number, dec.Outcome, dec.Rule)})
	return m
}

// statusFor is the queue of a proposed outcome.
func statusFor(o storage.Outcome) (storage.Status, bool) {
	switch o {
	case storage.OutcomeRecevable:
		return storage.StatusRecevable, true
	case storage.OutcomeAVerifier:
		return storage.StatusAVerifier, true
	case storage.OutcomeIrrecevablePropose:
		return storage.StatusIrrecevablePropose, true
	}
	return storage.StatusAVerifier, false
}

// uniq drops repeated and empty strings, keeping the first order.
func uniq(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
