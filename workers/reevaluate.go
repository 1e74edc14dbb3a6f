package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"recevable/intake"
	"recevable/storage"
)

// Re-evaluation: the evidence search and the proposed decision of dossiers
// already registered, run again on a supervisor's request (a key was added,
// a CCC registry imported, a bug fixed). The dossier keeps its number and
// documents; its evidence, decision and the problems found on its documents
// are replaced, its status follows the new proposal only while staff have
// not acted on it (still one of the three proposals), and its history says
// what changed.

// maxUpdateAttempts bounds the conditional updates of one manifest.
const maxUpdateAttempts = 10

// reevaluate runs the checks and the assessment again for every dossier
// made from j's raw item.
func (p *Pipeline) reevaluate(ctx context.Context, j *job) (Result, error) {
	pr, err := p.parse(ctx, j)
	if err != nil {
		return Result{}, err
	}
	defer pr.Close()
	var numbers []string
	for _, u := range pr.units {
		number, err := p.counter.Lookup(ctx, j.sha, u.part)
		if err != nil {
			return Result{}, fmt.Errorf("re-evaluate raw %s part %d: %w", j.sha, u.part, err)
		}
		if err := p.checkDocuments(ctx, u); err != nil {
			return Result{}, err
		}
		sub, err := p.submission(j, u, number)
		if err != nil {
			return Result{}, err
		}
		as, err := p.assess(ctx, sub)
		if err != nil {
			return Result{}, err
		}
		problems := map[string][]string{}
		for _, s := range u.docs {
			problems[s.doc.SafeName] = s.doc.Problems
		}
		if err := p.updateDecision(ctx, number, func(m *storage.Manifest) {
			dec := p.normalizeDecision(as.Decision)
			before := m.Decision.Outcome
			m.Evidence, m.Decision = as.Evidence, dec
			if m.Evidence == nil {
				m.Evidence = []storage.Evidence{}
			}
			for i := range m.Documents {
				if pb, ok := problems[m.Documents[i].SafeName]; ok {
					m.Documents[i].Problems = pb
				}
			}
			switch m.Status {
			case storage.StatusRecevable, storage.StatusAVerifier, storage.StatusIrrecevablePropose:
				m.Status, _ = statusFor(dec.Outcome)
			}
			m.Linked = uniq(append(m.Linked, as.Linked...))
			m.History = append(m.History, storage.HistoryEntry{At: p.o.Now().UTC(), Actor: actor, Action: "reevaluated",
				Detail: fmt.Sprintf("proposition %s (avant : %s)", dec.Outcome, before)})
		}); err != nil {
			return Result{}, err
		}
		j.log.Info().Str("dossier", number).Str("outcome", string(as.Decision.Outcome)).Msg("dossier re-evaluated")
		numbers = append(numbers, number)
	}
	return Result{Raw: j.sha, Source: j.source, Result: ResultStored, Disposition: intake.Processed, Numbers: numbers}, nil
}

// normalizeDecision fills the rule and time of a decision and turns an
// unknown outcome into a manual check, as for a new dossier.
func (p *Pipeline) normalizeDecision(dec storage.Decision) storage.Decision {
	if _, known := statusFor(dec.Outcome); !known {
		dec.Reasons = append(dec.Reasons, storage.Reason{Code: "outcome_unknown",
			Text: fmt.Sprintf("Proposition inconnue (%q) : vérification manuelle nécessaire.", dec.Outcome)})
		dec.Outcome = storage.OutcomeAVerifier
	}
	if dec.Rule == "" {
		dec.Rule = ruleArt4
	}
	if dec.At.IsZero() {
		dec.At = p.o.Now().UTC()
	}
	if dec.Reasons == nil {
		dec.Reasons = []storage.Reason{}
	}
	return dec
}

// updateDecision applies change to dossier number with a conditional
// update, re-reading and re-applying when staff changed it meanwhile.
func (p *Pipeline) updateDecision(ctx context.Context, number string, change func(*storage.Manifest)) error {
	for range maxUpdateAttempts {
		m, etag, err := p.dossiers.Get(ctx, number)
		if err != nil {
			return err
		}
		change(m)
		if _, err = p.dossiers.Update(ctx, m, etag); err == nil {
			return nil
		} else if !errors.Is(err, storage.ErrPreconditionFailed) {
			return err
		}
	}
	return fmt.Errorf("re-evaluate %s: the dossier kept changing", number)
}

// reevaluable reports whether a done record names dossiers of its own.
func reevaluable(d storage.Done) bool {
	return d.DuplicateOf == "" && len(d.Numbers) > 0 && !slices.Contains(d.Numbers, "")
}
