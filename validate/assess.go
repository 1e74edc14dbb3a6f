package validate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// The Assessor the worker calls (submission.go): search (evidence*.go),
// verify (invitation_verify.go, ccc.go), decide (decide.go).

// AssessorOptions configure NewAssessor.
type AssessorOptions struct {
	// Bucket holds the invitation registry and the imported CCC tickets.
	Bucket storage.Bucket
	// Sites are every configured site, each with the keys it trusts; the
	// submission's Site must be one of them.
	Sites []SiteInfo
	// CCC configures the CCC attestation checks.
	CCC CCCOptions
	// Limits bound the parsing of documents (zero: the defaults).
	Limits Limits
	// Search bounds the QR phase (zero: the defaults).
	Search SearchLimits
	// PostmarkGrace: a letter received this long after its invitation
	// expired, whose postmark was not recorded, is a_verifier rather than
	// expired — it may have been posted in time (default 15 days).
	PostmarkGrace time.Duration
	// DryRun: read only — no invitation is recorded as consumed
	// (`recevable check`). A submission without Dossier is never recorded
	// either.
	DryRun bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives one line per assessment: ids, outcome and reason codes,
	// never names, addresses or subjects.
	Log zerolog.Logger
}

// EvidenceAssessor implements the Assessor interface: the art. 4 evidence
// search, verification and proposed decision.
type EvidenceAssessor struct {
	bucket        storage.Bucket
	registry      *Registry
	territory     *Territory
	ccc           *cccChecker
	limits        Limits
	search        SearchLimits
	postmarkGrace time.Duration
	dryRun        bool
	now           func() time.Time
	log           zerolog.Logger
}

var _ Assessor = (*EvidenceAssessor)(nil)

// NewAssessor checks the options and builds the Assessor.
func NewAssessor(o AssessorOptions) (*EvidenceAssessor, error) {
	if o.Bucket == nil {
		return nil, errors.New("assessor: no bucket")
	}
	if len(o.Sites) == 0 {
		return nil, errors.New("assessor: no site")
	}
	t, err := NewTerritory(o.Sites)
	if err != nil {
		return nil, fmt.Errorf("assessor: %w", err)
	}
	a := &EvidenceAssessor{
		bucket: o.Bucket, registry: NewRegistry(o.Bucket), territory: t,
		ccc: newCCCChecker(o.CCC), limits: o.Limits.withDefaults(), search: o.Search.withDefaults(),
		postmarkGrace: o.PostmarkGrace, dryRun: o.DryRun, now: o.Now, log: o.Log,
	}
	if a.postmarkGrace <= 0 {
		a.postmarkGrace = 15 * 24 * time.Hour
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Assess searches, verifies and proposes a decision. See Assessor.
func (a *EvidenceAssessor) Assess(ctx context.Context, s *Submission) (Assessment, error) {
	as, _, err := a.Explain(ctx, s)
	return as, err
}

// Explain is Assess with the trace of what was searched (English lines),
// for `recevable check`.
func (a *EvidenceAssessor) Explain(ctx context.Context, s *Submission) (Assessment, []string, error) {
	start := time.Now()
	site, ok := a.territory.Site(s.Site)
	if !ok {
		return Assessment{}, nil, fmt.Errorf("assess: site %q is not configured", s.Site)
	}
	e := newEvidenceSearch(a, s)
	if err := e.cheap(ctx); err != nil {
		return Assessment{}, e.trace, fmt.Errorf("assess %s: %w", s.Dossier, err)
	}
	v := a.newVerification(site, s, e)
	invitations, err := a.verifyInvitations(ctx, v)
	if err != nil {
		return Assessment{}, e.trace, fmt.Errorf("assess %s: %w", s.Dossier, err)
	}
	others, err := a.verifyCCC(ctx, e)
	if err != nil {
		return Assessment{}, e.trace, fmt.Errorf("assess %s: %w", s.Dossier, err)
	}
	qr := false
	if !hasValid(invitations) && !hasValid(others) {
		// Only now the expensive part: images and scanned pages.
		qr = true
		before := len(e.tokens)
		if err := e.qr(ctx); err != nil {
			return Assessment{}, e.trace, fmt.Errorf("assess %s: %w", s.Dossier, err)
		}
		if len(e.tokens) > before {
			if invitations, err = a.verifyInvitations(ctx, v); err != nil {
				return Assessment{}, e.trace, fmt.Errorf("assess %s: %w", s.Dossier, err)
			}
		}
	} else {
		e.tracef("QR phase skipped: valid evidence found in the texts")
	}

	f := Findings{Items: append(invitations, others...), Gaps: e.gaps}
	_, f.Stated = a.statements(e)
	if s.Sender.Address != "" {
		if dept := DepartmentOfAddress(s.Sender.Address); dept != "" && !site.Serves(dept) {
			f.Flags = append(f.Flags, reason(ReasonTerritoryAddress, dept, a.territory.competentLabel(dept)))
		}
	}
	as := Assessment{Decision: Decide(f, a.now())}
	for _, it := range f.Items {
		as.Evidence = append(as.Evidence, it.Evidence)
		for _, d := range it.Linked {
			as.Linked = appendOnce(as.Linked, d)
		}
	}
	if as.Evidence == nil {
		as.Evidence = []storage.Evidence{}
	}
	codes := make([]string, len(as.Decision.Reasons))
	for i, r := range as.Decision.Reasons {
		codes[i] = r.Code
	}
	a.log.Info().Str("site", s.Site).Str("dossier", s.Dossier).Str("outcome", string(as.Decision.Outcome)).
		Str("reasons", strings.Join(codes, ",")).Int("evidence", len(as.Evidence)).Bool("qr", qr).
		Int("qr_images", e.qrImages).Bool("qr_bounded", e.qrBounded).Dur("took", time.Since(start)).
		Msg("art. 4 assessment")
	return as, e.trace, nil
}

// verifyInvitations groups and verifies every invitation sighting.
func (a *EvidenceAssessor) verifyInvitations(ctx context.Context, v *verification) ([]Finding, error) {
	var out []Finding
	for _, cand := range groupInvitations(v.e.refs, v.e.tokens) {
		f, err := a.verifyInvitation(ctx, v, cand)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// verifyCCC verifies forwarded messages and tickets, and reports a printout
// when nothing better stands for the CCC.
func (a *EvidenceAssessor) verifyCCC(ctx context.Context, e *evidenceSearch) ([]Finding, error) {
	var out []Finding
	emails := 0
	for _, m := range e.messages {
		f, ok, err := a.verifyMessage(ctx, m)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, f)
			emails++
		}
	}
	var order []string
	wheres := map[string][]string{}
	for _, t := range e.tickets {
		if _, ok := wheres[t.ticket]; !ok {
			order = append(order, t.ticket)
		}
		wheres[t.ticket] = appendOnce(wheres[t.ticket], t.where)
	}
	for _, t := range order {
		f, err := a.verifyTicket(ctx, t, wheres[t])
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if emails == 0 {
		if p, _ := a.statements(e); p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}
