package validate

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// testRand is a deterministic byte source for tests (never for real keys).
type testRand struct{ r *rand.ChaCha8 }

func newTestRand(seed byte) *testRand {
	var s [32]byte
	s[0] = seed
	return &testRand{rand.NewChaCha8(s)}
}

func (t *testRand) Read(p []byte) (int, error) { return t.r.Read(p) }

func TestReferenceCheckDigitsKnownValues(t *testing.T) {
	t.Parallel()
	// Expected values computed independently with Python big integers:
	// 98 - int("".join("%02d" % int(c, 36) for c in s)) * 100 % 97.
	tests := []struct {
		ref  Reference
		want string
	}{
		{Reference{Code: "75", Year: 2026, Body: "7KQ3M9XD"}, "INV-75-2026-7KQ3-M9XD-47"},
		{Reference{Code: "2A", Year: 2025, Body: "ABCDEFGH"}, "INV-2A-2025-ABCD-EFGH-22"},
		{Reference{Code: "971", Year: 2099, Body: "0000000Z"}, "INV-971-2099-0000-000Z-42"},
	}
	for _, tc := range tests {
		if got := tc.ref.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.ref, got, tc.want)
		}
		got, err := ParseReference(tc.want)
		if err != nil || got != tc.ref {
			t.Errorf("ParseReference(%q) = %+v, %v, want %+v", tc.want, got, err, tc.ref)
		}
	}
}

func TestNewReferenceRoundTrip(t *testing.T) {
	t.Parallel()
	rnd := newTestRand(1)
	seen := map[string]bool{}
	for i := 0; i < 500; i++ {
		r, err := NewReference("75", 2026, rnd)
		if err != nil {
			t.Fatal(err)
		}
		s := r.String()
		if seen[s] {
			t.Fatalf("reference %s drawn twice in 500", s)
		}
		seen[s] = true
		for _, c := range r.Body {
			if !strings.ContainsRune(crockford, c) {
				t.Fatalf("%s: body character %q outside Crockford", s, c)
			}
		}
		got, err := ParseReference(s)
		if err != nil || got != r {
			t.Fatalf("ParseReference(%q) = %+v, %v, want %+v", s, got, err, r)
		}
	}
	if _, err := NewReference("75", 2026, nil); err != nil {
		t.Errorf("NewReference with crypto/rand: %v", err)
	}
	for _, bad := range []string{"", "Paris", "75-", "-75", "inv1", "sp_bobigny", strings.Repeat("a", 33)} {
		if _, err := NewReference(bad, 2026, rnd); !errors.Is(err, ErrRefSite) {
			t.Errorf("NewReference(%q) error = %v, want ErrRefSite", bad, err)
		}
	}
	if _, err := NewReference("75", 1999, rnd); !errors.Is(err, ErrRefYear) {
		t.Errorf("NewReference(year 1999) error = %v, want ErrRefYear", err)
	}
}

func TestParseReferenceLenient(t *testing.T) {
	t.Parallel()
	want := Reference{Code: "75", Year: 2026, Body: "7KQ3M9XD"} // INV-75-2026-7KQ3-M9XD-47
	inputs := []string{
		"INV-75-2026-7KQ3-M9XD-47",
		"inv-75-2026-7kq3-m9xd-47",
		"INV 75 2026 7KQ3 M9XD 47",
		"INV7520267KQ3M9XD47",
		"  INV-75-2026-7KQ3M9XD-47 ",
		"75-2026-7KQ3-M9XD-47",
		"INV-75-2O26-7KQ3-M9XD-47",           // letter O in the year
		"INV.75.2026.7KQ3.M9XD.47",           // dots
		"INV\u00a075\u202f2026–7KQ3–M9XD–47", // no-break spaces, en dashes
	}
	for _, in := range inputs {
		got, err := ParseReference(in)
		if err != nil || got != want {
			t.Errorf("ParseReference(%q) = %+v, %v, want %+v", in, got, err, want)
		}
	}
	// Crockford confusions in the body: I and L read as 1, O as 0.
	r := Reference{Code: "13", Year: 2025, Body: "1100ABCD"}
	s := r.String()
	for _, in := range []string{
		strings.Replace(s, "1100", "IL00", 1),
		strings.Replace(s, "1100", "11OO", 1),
		strings.Replace(s, "1100", "ll0o", 1),
	} {
		got, err := ParseReference(in)
		if err != nil || got != r {
			t.Errorf("ParseReference(%q) = %+v, %v, want %+v", in, got, err, r)
		}
	}
}

func TestParseReferenceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrRefEmpty},
		{" - ", ErrRefEmpty},
		{"INV-75-2026-7KQ3", ErrRefShape},
		{"INV-75-2026-7KQ3-M9XD-48", ErrRefChecksum},                          // check digit mistyped
		{"INV-75-2026-7KQ3-M9XE-47", ErrRefChecksum},                          // body character mistyped
		{"INV-75-2026-K7Q3-M9XD-47", ErrRefChecksum},                          // adjacent transposition
		{"INV-76-2026-7KQ3-M9XD-47", ErrRefChecksum},                          // site mistyped
		{"INV-75-2026-7KQ3-M9UD-47", ErrRefCharacter},                         // U is not Crockford
		{"INV-75-2026-7KQ3-M9XD-4X", ErrRefCharacter},                         // letter in check digits
		{"INV-75-20A6-7KQ3-M9XD-47", ErrRefCharacter},                         // letter in year
		{"INV-75-1999-7KQ3-M9XD-47", ErrRefYear},                              // year out of range
		{"INV-75-2026-7KQ3-M9XD-47é", ErrRefCharacter},                        // non-ASCII
		{"INV-7#-2026-7KQ3-M9XD-47", ErrRefSite},                              // bad site character
		{"INV-" + strings.Repeat("A", 33) + "-2026-7KQ3-M9XD-47", ErrRefSite}, // site code too long
		{"INV-2026-7KQ3-M9XD-47", ErrRefShape},                                // no site
		{"INV-75-2026-7KQ3-M9XD-7KQ3-47", ErrRefCharacter},                    // extra group shifts the fields
		{"INV-75-2026-7KQ3-M9X*-47", ErrRefCharacter},                         // punctuation in body
		{"INVINV-75-2026-7KQ3-M9XD-47", ErrRefSite},                           // prefix twice
		{"INV-75-2026-7KQ3-M9XD-47-47", ErrRefCharacter},                      // trailing junk shifts the fields
	}
	for _, tc := range tests {
		_, err := ParseReference(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseReference(%q) error = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// TestReferenceDetectsEveryTypo checks the guarantee the check digits give:
// every single-character substitution and every swap of two adjacent
// characters of a reference is refused.
func TestReferenceDetectsEveryTypo(t *testing.T) {
	t.Parallel()
	rnd := newTestRand(2)
	alphabet := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for _, site := range []string{"75", "2a", "971", "pp", "sp-bobigny"} {
		for n := 0; n < 20; n++ {
			r, err := NewReference(site, 2020+n%10, rnd)
			if err != nil {
				t.Fatal(err)
			}
			s := r.String()
			// Positions of the characters (not the dashes), after the prefix.
			var pos []int
			for i := len(referencePrefix); i < len(s); i++ {
				if s[i] != '-' {
					pos = append(pos, i)
				}
			}
			for _, i := range pos {
				for _, c := range []byte(alphabet) {
					if equivalentAt(s, i, c) {
						continue
					}
					typo := s[:i] + string(c) + s[i+1:]
					if got, err := ParseReference(typo); err == nil {
						t.Errorf("substitution %q → %q accepted as %s", s, typo, got)
					}
				}
			}
			for k := 0; k+1 < len(pos); k++ {
				i, j := pos[k], pos[k+1]
				if equivalentAt(s, i, s[j]) {
					continue
				}
				b := []byte(s)
				b[i], b[j] = b[j], b[i]
				if got, err := ParseReference(string(b)); err == nil {
					t.Errorf("transposition %q → %q accepted as %s", s, b, got)
				}
			}
		}
	}
}

// equivalentAt reports whether writing c at s[i] means the same reference
// (same character, or a Crockford/O-I-L equivalent outside the site).
func equivalentAt(s string, i int, c byte) bool {
	if s[i] == c {
		return true
	}
	siteEnd := strings.Index(s[len(referencePrefix)+1:], "-") + len(referencePrefix) + 1
	if i < siteEnd {
		return false
	}
	return crockfordCanonical(c) != 0 && crockfordCanonical(c) == crockfordCanonical(s[i])
}

func TestFindReferences(t *testing.T) {
	t.Parallel()
	valid := "INV-75-2026-7KQ3-M9XD-47"
	other := Reference{Code: "92", Year: 2025, Body: "ABCDEFGH"}.String()
	text := "Bonjour,\nsuite à votre courrier (réf. " + valid + "), je vous envoie mon dossier.\n" +
		"Ancienne référence : inv 75 2026 7kq3 m9xd 48 — erronée.\n" +
		"Voir aussi " + strings.TrimPrefix(other, "INV-") + ".\n" +
		"Tél. 01-2026-1234-5678-90, dossier 75-2026-000123.\n" +
		"Collée : INV7520267KQ3M9XD47!"
	found := FindReferences(text)
	type want struct {
		text string
		ref  string
		err  error
	}
	wants := []want{
		{valid, valid, nil},
		{"inv 75 2026 7kq3 m9xd 48", "", ErrRefChecksum},
		{strings.TrimPrefix(other, "INV-"), other, nil},
		{"INV7520267KQ3M9XD47", valid, nil},
	}
	if len(found) != len(wants) {
		t.Fatalf("FindReferences found %d: %+v, want %d", len(found), found, len(wants))
	}
	for i, w := range wants {
		f := found[i]
		if f.Text != w.text || text[f.Start:f.End] != w.text {
			t.Errorf("found[%d].Text = %q (offsets %q), want %q", i, f.Text, text[f.Start:f.End], w.text)
		}
		if w.err != nil {
			if !errors.Is(f.Err, w.err) {
				t.Errorf("found[%d] %q: Err = %v, want %v", i, f.Text, f.Err, w.err)
			}
			continue
		}
		if f.Err != nil || f.Ref.String() != w.ref {
			t.Errorf("found[%d] %q: %s, %v, want %s", i, f.Text, f.Ref, f.Err, w.ref)
		}
	}
	if got := FindReferences("Nothing to see, INVOICE 2026, INV-., INVOICE-2026-0001-0002-33"); len(got) != 0 {
		t.Errorf("FindReferences on text without references = %+v", got)
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"INV-75-2026-7KQ3-M9XD-47", "inv7520267kq3m9xd47", "INV-2A-2025-ABCD-EFGH-22",
		"INV-971-2099-0000-000Z-42", "75-2026-7KQ3-M9XD-47", "INV--", "", "INV-75-2O26-IL00-ABCD-4O",
		"INV\u00a075\u202f2026–7KQ3–M9XD–47",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !r.IsZero() {
				t.Fatalf("ParseReference(%q) returned %+v with error %v", s, r, err)
			}
			return
		}
		canon := r.String()
		r2, err := ParseReference(canon)
		if err != nil || r2 != r {
			t.Fatalf("ParseReference(%q) = %+v; its canonical form %q parses as %+v, %v", s, r, canon, r2, err)
		}
		found := FindReferences("ref " + canon + " fin")
		if len(found) != 1 || found[0].Ref != r {
			t.Fatalf("FindReferences does not find canonical %q: %+v", canon, found)
		}
	})
}

func TestSiteCode(t *testing.T) {
	t.Parallel()
	tests := []struct{ site, want string }{
		{"75", "75"}, {"2a", "2A"}, {"pp", "PP"}, {"sp-bobigny", "SPBOBIGNY"}, {"971", "971"},
	}
	for _, tc := range tests {
		if got, err := SiteCode(tc.site); err != nil || got != tc.want {
			t.Errorf("SiteCode(%q) = %q, %v, want %q", tc.site, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "PP", "p p", "-75", "inv-75", strings.Repeat("a", 33)} {
		if got, err := SiteCode(bad); !errors.Is(err, ErrRefSite) {
			t.Errorf("SiteCode(%q) = %q, %v, want ErrRefSite", bad, got, err)
		}
	}
}
