package validate

import (
	"context"
	"strings"
	"testing"

	"recevable/storage"
)

// FuzzParseTicketCSV: any file is parsed or refused, never a panic, and
// what is accepted is normalised.
func FuzzParseTicketCSV(f *testing.F) {
	for _, s := range []string{
		"ticket,date,department\nCCC-1,2026-01-01,75\n",
		"\xef\xbb\xbfNuméro;Date\nccc 2;01/02/2026\n",
		"CCC-1\n\"CCC-2\nCCC-3\"\n",
		";;;\n,,,\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		recs, err := ParseTicketCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range recs {
			if NormaliseTicket(r.Ticket) != r.Ticket || r.Ticket == "" {
				t.Fatalf("ticket %q not normalised", r.Ticket)
			}
		}
	})
}

// FuzzAssessText: whatever the subject, body and forwarded message say, the
// assessment gives one of the three outcomes with reasons, or an error —
// and never recevable without a valid piece of evidence.
func FuzzAssessText(f *testing.F) {
	f.Add("INV-75-2026-7KQ3-M9XD-47", "ticket n° CCC-2026-000001", "From: x@ccc.ants.gouv.fr\r\n\r\nimpossibilité technique")
	f.Add("", "<p>INV 75 2026 AAAA BBBB 12</p>", "DKIM-Signature: v=1; a=ed25519-sha256; d=ccc.ants.gouv.fr; s=s2026; h=from; bh=; b=\r\nFrom: a@ccc.ants.gouv.fr\r\n\r\nx")
	f.Add("Réf. INV-93-2026-XXXX-XXXX-00", "centre de contact citoyens : dépôt en ligne impossible", "")
	w := newWorld(f)
	a := w.assessor(func(o *AssessorOptions) { o.DryRun = true; o.Search.MaxQRImages = 1 })
	f.Fuzz(func(t *testing.T, subject, body, forwarded string) {
		s := &Submission{
			Site: "75", Channel: storage.ChannelEmail, ReceivedAt: w.now, Subject: subject,
			Texts: []Text{{Where: "corps", Body: body}, {Where: "corps html", HTML: true, Body: body}},
		}
		if forwarded != "" {
			s.Embedded = []Embedded{{Where: "partie 2", Open: opener([]byte(forwarded)), Size: int64(len(forwarded))}}
		}
		as, err := a.Assess(context.Background(), s)
		if err != nil {
			return
		}
		switch as.Decision.Outcome {
		case storage.OutcomeRecevable:
			if !hasValidEvidence(as.Evidence) {
				t.Fatalf("recevable without valid evidence: %+v", as)
			}
		case storage.OutcomeAVerifier, storage.OutcomeIrrecevablePropose:
		default:
			t.Fatalf("outcome %q", as.Decision.Outcome)
		}
		if len(as.Decision.Reasons) == 0 {
			t.Fatalf("decision without reasons: %+v", as.Decision)
		}
	})
}

func hasValidEvidence(ev []storage.Evidence) bool {
	for _, e := range ev {
		if e.Verdict == VerdictValid {
			return true
		}
	}
	return false
}
