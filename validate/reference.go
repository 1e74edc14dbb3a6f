package validate

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// An invitation reference is what a person types, reads over the phone or
// copies into an email subject, so it carries check digits:
//
//	INV-75-2026-7KQ3-M9XD-47
//	    │  │    └───┬───┘ └ 2 check digits, ISO 7064 MOD 97-10
//	    │  │        └ 8 random characters, Crockford base32 (40 bits)
//	    │  └ year of issue
//	    └ site code: the site id upper-cased, hyphens dropped (SiteCode)
//
// The check digits are computed as in IBANs (ISO 7064 MOD 97-10, result
// 98 - N·100 mod 97) except that every character counts as a fixed two-digit
// number (0→00 … 9→09, A→10 … Z→35). With fixed width the guarantees are
// exact: a single wrong character changes N by d·100^k with 0 < |d| < 97, and
// swapping two adjacent characters by d·99·100^k; 97 is prime and divides
// neither, so both errors are always detected (IBAN's mixed width cannot
// promise that when a digit is swapped with a letter).

// referencePrefix starts every reference; it tells a reader (and FindReferences)
// what the string is.
const referencePrefix = "INV"

// crockford is the Crockford base32 alphabet: no I, L, O, U, so that the
// characters a person confuses map to one value.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Reference parse errors. ParseReference wraps them with the detail.
var (
	ErrRefEmpty     = errors.New("reference: empty")
	ErrRefShape     = errors.New("reference: not of the form INV-<site>-<year>-XXXX-XXXX-<2 check digits>")
	ErrRefCharacter = errors.New("reference: character not allowed")
	ErrRefYear      = errors.New("reference: year out of range")
	ErrRefSite      = errors.New("reference: invalid site code")
	ErrRefChecksum  = errors.New("reference: check digits do not match (a character is mistyped)")
)

// Reference is an invitation reference. The zero value is not a valid
// reference; build one with NewReference or ParseReference.
type Reference struct {
	// Code is the site code of the issuing site (SiteCode of its id).
	Code string
	// Year of issue, 2000–2099.
	Year int
	// Body is the 8 random characters, canonical Crockford base32.
	Body string
}

// maxCodeLen bounds site codes; site ids are at most 32 characters.
const maxCodeLen = 32

// validSiteID mirrors storage.CheckSite: 1 to 32 of [a-z0-9-], not starting
// or ending with "-" ("75", "pp", "2a", "sp-bobigny").
func validSiteID(site string) bool {
	if site == "" || len(site) > maxCodeLen || site[0] == '-' || site[len(site)-1] == '-' {
		return false
	}
	for i := 0; i < len(site); i++ {
		if c := site[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SiteCode returns the code a site's references carry: its id upper-cased
// without hyphens ("sp-bobigny" → "SPBOBIGNY", "2a" → "2A"). Hyphens go
// because people put separators anywhere in a reference; two site ids that
// differ only by hyphens must not both be configured (config check).
func SiteCode(siteID string) (string, error) {
	if !validSiteID(siteID) {
		return "", fmt.Errorf("%w: site id %q", ErrRefSite, siteID)
	}
	code := strings.ToUpper(strings.ReplaceAll(siteID, "-", ""))
	if !validCode(code) {
		return "", fmt.Errorf("%w: site id %q gives code %q", ErrRefSite, siteID, code)
	}
	return code, nil
}

// validCode: 1 to 32 upper-case ASCII letters or digits, not starting with
// "INV" (it would read as the prefix).
func validCode(code string) bool {
	if len(code) < 1 || len(code) > maxCodeLen || strings.HasPrefix(code, referencePrefix) {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// NewReference draws a fresh reference for the site with this id and year
// from random (nil means crypto/rand). Uniqueness is not guaranteed here: the
// registry creates the record with IfAbsent and draws again on a collision.
func NewReference(site string, year int, random io.Reader) (Reference, error) {
	code, err := SiteCode(site)
	if err != nil {
		return Reference{}, err
	}
	if year < 2000 || year > 2099 {
		return Reference{}, fmt.Errorf("%w: %d", ErrRefYear, year)
	}
	if random == nil {
		random = rand.Reader
	}
	var b [5]byte // 40 bits = 8 characters of 5 bits
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return Reference{}, fmt.Errorf("reference: random: %w", err)
	}
	v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
	body := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		body[i] = crockford[v&31]
		v >>= 5
	}
	return Reference{Code: code, Year: year, Body: string(body)}, nil
}

// String returns the canonical form, INV-<site>-<year>-XXXX-XXXX-CC.
func (r Reference) String() string {
	if len(r.Body) != 8 {
		return ""
	}
	return fmt.Sprintf("%s-%s-%04d-%s-%s-%02d", referencePrefix, r.Code, r.Year,
		r.Body[:4], r.Body[4:], r.CheckDigits())
}

// IsZero reports whether r is the zero Reference.
func (r Reference) IsZero() bool { return r == Reference{} }

// CheckDigits returns the ISO 7064 MOD 97-10 check number (2–98) of r.
func (r Reference) CheckDigits() int {
	n := mod97(0, r.Code)
	n = mod97(n, fmt.Sprintf("%04d", r.Year))
	n = mod97(n, r.Body)
	return 98 - n*100%97
}

// mod97 continues the MOD 97 remainder n over s, each character being the
// two-digit number of its base-36 value.
func mod97(n int, s string) int {
	for i := 0; i < len(s); i++ {
		n = (n*100 + base36(s[i])) % 97
	}
	return n
}

func base36(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	return int(c-'A') + 10
}

// ParseReference reads a reference as a person may have written it: any
// case, with or without the INV prefix, with spaces, dashes or dots anywhere,
// and with O for 0 and I or L for 1 in the year, body and check digits
// (Crockford). The site code is taken as written (upper-cased), since site
// codes may legitimately contain those letters; mapping it back to a site id
// is the caller's (compare with SiteCode of the configured sites). Errors wrap one of the
// ErrRef… values and say where the problem is.
func ParseReference(s string) (Reference, error) {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '_' || c == '\t' || isUnicodeSeparator(c):
			continue
		case c < 0x80:
			b.WriteByte(upper(byte(c)))
		default:
			return Reference{}, fmt.Errorf("%w: %q", ErrRefCharacter, c)
		}
	}
	t := b.String()
	if t == "" {
		return Reference{}, ErrRefEmpty
	}
	t = strings.TrimPrefix(t, referencePrefix)
	// Read from the right: check digits, body and year have fixed widths,
	// the site takes what is left, so no separator is needed to split.
	if len(t) < 2+8+4+1 {
		return Reference{}, fmt.Errorf("%w: %d characters after the prefix, want at least 15", ErrRefShape, len(t))
	}
	checkPart, t := t[len(t)-2:], t[:len(t)-2]
	bodyPart, t := t[len(t)-8:], t[:len(t)-8]
	yearPart, code := t[len(t)-4:], t[:len(t)-4]

	if !validCode(code) {
		return Reference{}, fmt.Errorf("%w: code %q", ErrRefSite, code)
	}
	year, err := lenientDigits(yearPart, "year")
	if err != nil {
		return Reference{}, err
	}
	if year < 2000 || year > 2099 {
		return Reference{}, fmt.Errorf("%w: %d", ErrRefYear, year)
	}
	body := make([]byte, 8)
	for i := 0; i < 8; i++ {
		c := crockfordCanonical(bodyPart[i])
		if c == 0 {
			return Reference{}, fmt.Errorf("%w: %q in the random part (character %d of 8)", ErrRefCharacter, bodyPart[i], i+1)
		}
		body[i] = c
	}
	check, err := lenientDigits(checkPart, "check digits")
	if err != nil {
		return Reference{}, err
	}
	r := Reference{Code: code, Year: year, Body: string(body)}
	if want := r.CheckDigits(); check != want {
		return Reference{}, fmt.Errorf("%w: %s has %02d", ErrRefChecksum, referencePrefix+"-"+code+"-"+yearPart+"-"+string(body), check)
	}
	return r, nil
}

// lenientDigits parses decimal digits, reading O as 0 and I or L as 1.
func lenientDigits(s, what string) (int, error) {
	d := []byte(s)
	for i, c := range d {
		switch c {
		case 'O':
			d[i] = '0'
		case 'I', 'L':
			d[i] = '1'
		default:
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%w: %q in the %s", ErrRefCharacter, c, what)
			}
		}
	}
	n, err := strconv.Atoi(string(d))
	if err != nil {
		return 0, fmt.Errorf("%w: %q in the %s", ErrRefCharacter, s, what)
	}
	return n, nil
}

// crockfordCanonical maps an upper-case character to its canonical Crockford
// form, or 0 when it is not part of the alphabet (U, punctuation).
func crockfordCanonical(c byte) byte {
	switch c {
	case 'O':
		return '0'
	case 'I', 'L':
		return '1'
	}
	if strings.IndexByte(crockford, c) >= 0 {
		return c
	}
	return 0
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// isUnicodeSeparator covers the spaces and dashes word processors put in:
// no-break spaces (French typography) and typographic hyphens and dashes.
func isUnicodeSeparator(c rune) bool {
	switch c {
	case '\u00a0', '\u202f', '\u2009', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
		return true
	}
	return false
}

// Found is a reference found in free text by FindReferences.
type Found struct {
	// Text is the reference as written; Start and End are its byte offsets.
	Text       string
	Start, End int
	// Ref is the parsed reference when Err is nil.
	Ref Reference
	// Err says why a string shaped like a reference is not a valid one
	// (ErrRefChecksum for a typo, …). Such candidates are reported only
	// when they carry the INV prefix: a typo is evidence staff should see.
	Err error
}

// sepClass is what may stand between the groups of a reference in free text:
// ASCII spaces, dashes, dots and their typographic variants, never a line
// break.
const sepClass = `[ \t\-.\x{00A0}\x{202F}\x{2009}\x{2010}-\x{2014}\x{2212}]`

var (
	// prefixedRef: INV then the groups with optional separators, lenient on
	// O/I/L in the digits. After INV comes a separator or a digit, so that
	// words like "INVOICE" do not start a candidate.
	prefixedRef = regexp.MustCompile(`(?i)\bINV(?:` + sepClass + `{1,3}[0-9A-Z]|[0-9])[0-9A-Z]{0,31}` + sepClass + `{0,3}[0-9OIL]{4}` +
		sepClass + `{0,3}[0-9A-Z]{4}` + sepClass + `{0,2}[0-9A-Z]{4}` + sepClass + `{0,3}[0-9OIL]{2}\b`)
	// bareRef: the canonical dashed shape without the prefix, accepted only
	// with valid check digits (a bare number with dashes is too common).
	bareRef = regexp.MustCompile(`(?i)\b[0-9A-Z]{1,32}-20[0-9]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9]{2}\b`)
)

// FindReferences returns the references written in text, in order of
// appearance: every INV-prefixed candidate (valid or with its error) and
// every bare dashed one whose check digits are right.
func FindReferences(text string) []Found {
	var out []Found
	covered := func(start, end int) bool {
		for _, f := range out {
			if start < f.End && end > f.Start {
				return true
			}
		}
		return false
	}
	for _, m := range prefixedRef.FindAllStringIndex(text, -1) {
		s := text[m[0]:m[1]]
		r, err := ParseReference(s)
		out = append(out, Found{Text: s, Start: m[0], End: m[1], Ref: r, Err: err})
	}
	for _, m := range bareRef.FindAllStringIndex(text, -1) {
		if covered(m[0], m[1]) {
			continue
		}
		s := text[m[0]:m[1]]
		if r, err := ParseReference(s); err == nil {
			out = append(out, Found{Text: s, Start: m[0], End: m[1], Ref: r})
		}
	}
	slices.SortFunc(out, func(a, b Found) int { return a.Start - b.Start })
	return out
}
