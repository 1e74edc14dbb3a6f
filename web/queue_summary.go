package web

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"recevable/storage"
	"recevable/validate"
)

// summarize keeps what the queue list, the counts and the search need of a
// manifest.
func summarize(m *storage.Manifest) *summary {
	s := &summary{channel: m.Channel, assigned: m.AssignedTo, evidence: evidenceSummary(m)}
	if m.Postal != nil {
		s.postmark = m.Postal.Postmark
	}
	hay := []string{m.Number}
	if m.Sender != nil {
		s.applicant = m.Sender.Name
		if s.applicant == "" {
			s.applicant = m.Sender.Email
		}
		hay = append(hay, m.Sender.Name, m.Sender.Email)
	}
	for _, ev := range m.Evidence {
		if ev.Kind != storage.EvidenceInvitation || ev.Value == "" {
			continue
		}
		ref := strings.ToUpper(ev.Value)
		if r, err := validate.ParseReference(ev.Value); err == nil {
			ref = r.String()
		}
		if !containsString(s.refs, ref) {
			s.refs = append(s.refs, ref)
		}
		hay = append(hay, ref)
	}
	s.search = normalizeSearch(strings.Join(hay, " "))
	return s
}

func containsString(l []string, v string) bool {
	for _, e := range l {
		if e == v {
			return true
		}
	}
	return false
}

// evidenceSummary is the one-line account of a dossier's evidence shown in
// the queue: the strongest piece and its verdict.
func evidenceSummary(m *storage.Manifest) string {
	if len(m.Evidence) == 0 {
		return "Aucun justificatif"
	}
	rank := map[string]int{"valid": 0, "unverifiable": 1, "invalid": 2}
	best := m.Evidence[0]
	for _, ev := range m.Evidence[1:] {
		if r, ok := rank[ev.Verdict]; ok && r < rankOr(rank, best.Verdict) {
			best = ev
		}
	}
	short := map[storage.EvidenceKind]string{
		storage.EvidenceInvitation: "Invitation",
		storage.EvidenceCCCEmail:   "Courriel CCC",
		storage.EvidenceCCCTicket:  "Ticket CCC",
		storage.EvidenceCCCPrint:   "Courriel CCC imprimé",
	}
	verdict := map[string]string{"valid": "valide", "unverifiable": "non vérifiable", "invalid": "invalide"}
	out := labelOr(short[best.Kind], string(best.Kind)) + " : " + labelOr(verdict[best.Verdict], best.Verdict)
	if n := len(m.Evidence) - 1; n > 0 {
		out += " (+" + strconv.Itoa(n) + ")"
	}
	return out
}

func rankOr(rank map[string]int, v string) int {
	if r, ok := rank[v]; ok {
		return r
	}
	return len(rank)
}

// normalizeSearch folds text for matching: lower case, accents removed
// (NFD, combining marks dropped), ligatures spelled out, punctuation and
// runs of spaces turned into one space — "Lœtitia N'Diaye-Çelik" and
// "loetitia n diaye celik" compare equal.
func normalizeSearch(s string) string {
	var b strings.Builder
	space := true
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'œ' || r == 'Œ':
			b.WriteString("oe")
			space = false
		case r == 'æ' || r == 'Æ':
			b.WriteString("ae")
			space = false
		case r == 'ß':
			b.WriteString("ss")
			space = false
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '@' || r == '.':
			b.WriteRune(unicode.ToLower(r))
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSpace(b.String())
}
