package validate

import (
	"html"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Text helpers of the evidence search: HTML to text, the folding used to
// match phrases "ignoring case and accents", ticket numbers, and finding a
// person's name in free text from its NameHash alone.

// maxSearchText bounds the text kept from one place (a body, a PDF text
// layer): the evidence is near the top of a letter, and the name search
// costs a hash per word.
const maxSearchText = 1 << 20

// htmlDrop removes what a reader never sees; htmlBreak turns block ends into
// line breaks so that words of two paragraphs do not run together.
var (
	htmlDrop  = regexp.MustCompile(`(?is)<(script|style|head|title)\b.*?</(script|style|head|title)\s*>|<!--.*?-->`)
	htmlBreak = regexp.MustCompile(`(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|/td|/table)\b[^>]*>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// htmlToText returns the visible text of an HTML body, entities decoded.
func htmlToText(s string) string {
	s = htmlDrop.ReplaceAllString(s, " ")
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}

// truncateText cuts s to at most n bytes on a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// foldText lowers s, drops accents, makes apostrophes and dashes ASCII and
// collapses white space, so that "Impossibilité  technique" and
// "IMPOSSIBILITE TECHNIQUE" compare equal.
func foldText(s string) string {
	s = norm.NFKD.String(nameFold.Replace(s))
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == '\u2019' || r == '\u2018' || r == '\u02bc' || r == '`' || r == '\u00b4':
			r = '\''
		case r == '\u2010' || r == '\u2011' || r == '\u2013' || r == '\u2014':
			r = '-'
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.TrimSpace(b.String())
}

// phraseMatcher finds the configured impossibility phrases.
type phraseMatcher struct {
	phrases []string // as configured, for the report
	folded  []string
}

func newPhraseMatcher(phrases []string) *phraseMatcher {
	m := &phraseMatcher{}
	for _, p := range phrases {
		if f := foldText(p); f != "" {
			m.phrases = append(m.phrases, p)
			m.folded = append(m.folded, f)
		}
	}
	return m
}

// find returns the first configured phrase found in folded text, or "".
func (m *phraseMatcher) find(folded string) string {
	for i, f := range m.folded {
		if strings.Contains(folded, f) {
			return m.phrases[i]
		}
	}
	return ""
}

// cccMarkers are what makes a text a copy of a CCC email: its name, or one
// of its configured domains.
func cccMarker(folded string, domains []string) bool {
	if strings.Contains(folded, "centre de contact citoyen") {
		return true
	}
	for _, d := range domains {
		if d != "" && strings.Contains(folded, "@"+strings.ToLower(d)) {
			return true
		}
	}
	return false
}

// findTickets returns the CCC ticket numbers re finds in text: its first
// group, or the whole match without one, upper-cased. A "number" without a
// digit is a word that happened to follow "ticket" and is dropped.
func findTickets(re *regexp.Regexp, text string) []string {
	if re == nil {
		return nil
	}
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, 50) {
		t := m[0]
		if len(m) > 1 && m[1] != "" {
			t = m[1]
		}
		t = NormaliseTicket(t)
		if t == "" || !strings.ContainsAny(t, "0123456789") {
			continue
		}
		out = append(out, t)
	}
	return out
}

// nameWords splits text into the words of NormaliseName: letters, digits,
// apostrophes and hyphens, upper-cased without accents.
func nameWords(text string, max int) []string {
	words := strings.FieldsFunc(NormaliseName(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '-')
	})
	if len(words) > max {
		words = words[:max]
	}
	for i, w := range words {
		words[i] = strings.Trim(w, "'-")
	}
	return words
}

// maxNameWords bounds the words of one text tried as a name, and
// maxNameLen the words of a name: compound first names and family names
// rarely make more than five.
const (
	maxNameWords = 50_000
	maxNameLen   = 5
)

// containsName reports whether some run of 1 to maxNameLen consecutive
// words of words hashes to h (HashName sorts the words, so their order does
// not matter: "N'DIAYE Élodie" matches "Élodie N'Diaye").
func containsName(words []string, h NameHash) bool {
	if h.IsZero() {
		return false
	}
	for i := range words {
		for n := 1; n <= maxNameLen && i+n <= len(words); n++ {
			if words[i+n-1] == "" {
				break
			}
			if HashName(strings.Join(words[i:i+n], " ")) == h {
				return true
			}
		}
	}
	return false
}
