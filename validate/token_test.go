package validate

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormaliseName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Élodie  N'Diaye", "ELODIE N'DIAYE"},
		{"ELODIE N'DIAYE", "ELODIE N'DIAYE"},
		{"élodie n’diaye", "ELODIE N'DIAYE"},
		{" Élodie\tN ' Diaye\n", "ELODIE N'DIAYE"},
		{"Jean‑Pierre Nguyễn Thị", "JEAN-PIERRE NGUYEN THI"},
		{"Jean - Pierre", "JEAN-PIERRE"},
		{"Œdipe Cæsar Straße", "OEDIPE CAESAR STRASSE"},
		{"Łukasz Søren", "LUKASZ SOREN"},
		{"Şükrü Çelik", "SUKRU CELIK"},
		{"ＡＢＣ", "ABC"}, // full-width letters, NFKD compatibility
		{"", ""},
	}
	for _, tc := range tests {
		if got := NormaliseName(tc.in); got != tc.want {
			t.Errorf("NormaliseName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHashName(t *testing.T) {
	t.Parallel()
	a := HashName("Élodie  N'Diaye")
	for _, same := range []string{"ELODIE N'DIAYE", "N’DIAYE Élodie", "n'diaye elodie"} {
		if HashName(same) != a {
			t.Errorf("HashName(%q) differs from HashName(%q)", same, "Élodie  N'Diaye")
		}
	}
	for _, other := range []string{"Elodie NDiaye", "Élodie N'Diaye Sow", "Elodie"} {
		if HashName(other) == a {
			t.Errorf("HashName(%q) equals HashName(%q)", other, "Élodie  N'Diaye")
		}
	}
	h, err := ParseNameHash(a.String())
	if err != nil || h != a {
		t.Errorf("ParseNameHash(%s) = %s, %v", a, h, err)
	}
	if _, err := ParseNameHash("abc"); err == nil {
		t.Error("ParseNameHash(abc) accepted")
	}
}

// RFC 9285 §4 examples.
func TestBase45(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, enc string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := base45Encode([]byte(tc.raw)); got != tc.enc {
			t.Errorf("base45Encode(%q) = %q, want %q", tc.raw, got, tc.enc)
		}
		got, err := base45Decode(tc.enc)
		if err != nil || string(got) != tc.raw {
			t.Errorf("base45Decode(%q) = %q, %v, want %q", tc.enc, got, err, tc.raw)
		}
	}
	for _, bad := range []string{"GGW", "A", "ABCD", "ab8", "BB8~"} { // GGW = 65535+1
		if _, err := base45Decode(bad); err == nil {
			t.Errorf("base45Decode(%q) accepted", bad)
		}
	}
}

// testKey makes a key for site, deterministic per seed.
func testKey(t testing.TB, site string, day time.Time, seed byte) SigningKey {
	t.Helper()
	k, err := GenerateKey(site, day, newTestRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClaims(t testing.TB, site string) Claims {
	t.Helper()
	ref, err := NewReference(site, 2026, newTestRand(9))
	if err != nil {
		t.Fatal(err)
	}
	return Claims{
		Site:      site,
		Reference: ref,
		IssuedOn:  date(2026, 3, 2),
		ExpiresOn: date(2026, 6, 1),
		Name:      HashName("Élodie N'Diaye"),
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	c := testClaims(t, "75")
	tok, err := SignToken(c, k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) {
		t.Fatalf("token %q lacks prefix", tok)
	}
	for _, r := range tok {
		if !strings.ContainsRune(base45Alphabet, r) {
			t.Fatalf("token %q: %q outside the QR alphanumeric set", tok, r)
		}
	}
	raw, _ := base45Decode(tok[len(TokenPrefix):])
	t.Logf("token: %d characters, %d bytes (claims %d + signature 64)", len(tok), len(raw), len(raw)-64)
	ks, err := NewKeySet("75", k.Public())
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyToken(tok, ks)
	if err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	c.KeyID = k.ID
	if !claimsEqual(got, c) {
		t.Errorf("VerifyToken = %+v, want %+v", got, c)
	}
	// Surrounding white space (a QR reader adding a newline) is tolerated.
	if _, err := VerifyToken(" "+tok+"\n", ks); err != nil {
		t.Errorf("VerifyToken with white space: %v", err)
	}
	un, err := ParseTokenUnverified(tok)
	if err != nil || !claimsEqual(un, c) {
		t.Errorf("ParseTokenUnverified = %+v, %v", un, err)
	}
	if !c.ExpiredOn(date(2026, 6, 2)) || c.ExpiredOn(time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC)) {
		t.Errorf("ExpiredOn: the invitation is valid through %s inclusive", c.ExpiresOn)
	}
}

func claimsEqual(a, b Claims) bool {
	return a.Site == b.Site && a.Reference == b.Reference && a.KeyID == b.KeyID && a.Name == b.Name &&
		a.IssuedOn.Equal(b.IssuedOn) && a.ExpiresOn.Equal(b.ExpiresOn)
}

func TestVerifyTokenErrors(t *testing.T) {
	t.Parallel()
	k75 := testKey(t, "75", date(2026, 1, 15), 1)
	k75b := testKey(t, "75", date(2026, 1, 15), 2) // same site, another key
	k92 := testKey(t, "92", date(2026, 1, 10), 3)
	c := testClaims(t, "75")
	tok, err := SignToken(c, k75)
	if err != nil {
		t.Fatal(err)
	}
	ks75, err := NewKeySet("75", k75.Public(), k92.Public())
	if err != nil {
		t.Fatal(err)
	}

	// A token claiming site 75, signed by 92's key under 92's key id.
	c92 := c
	c92.KeyID = k92.ID
	packed, err := packClaims(c92)
	if err != nil {
		t.Fatal(err)
	}
	crossSite := TokenPrefix + base45Encode(append(packed, ed25519.Sign(k92.Private, append([]byte(tokenContext), packed...))...))

	// A token signed by k75b but naming k75's key id.
	c.KeyID = k75.ID
	packed, _ = packClaims(c)
	impostor := TokenPrefix + base45Encode(append(packed, ed25519.Sign(k75b.Private, append([]byte(tokenContext), packed...))...))

	// One character of the signature changed.
	raw, err := base45Decode(tok[len(TokenPrefix):])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-10] ^= 1
	flipped := TokenPrefix + base45Encode(raw)

	retired := k75.Public()
	retired.RetiredOn = date(2026, 3, 2) // the token's issue day
	ksRetired, _ := NewKeySet("75", retired)
	retiredLater := k75.Public()
	retiredLater.RetiredOn = date(2026, 3, 3)
	ksRetiredLater, _ := NewKeySet("75", retiredLater)
	ks92, _ := NewKeySet("92", k75.Public(), k92.Public())
	ksOther, _ := NewKeySet("75", k75b.Public())

	tests := []struct {
		name  string
		token string
		ks    KeySet
		want  error // nil: accepted
	}{
		{"genuine", tok, ks75, nil},
		{"empty", "", ks75, ErrTokenMalformed},
		{"no prefix", strings.TrimPrefix(tok, TokenPrefix), ks75, ErrTokenMalformed},
		{"future version", "RCV2:" + tok[5:], ks75, ErrTokenVersion},
		{"lower case", strings.ToLower(tok), ks75, ErrTokenMalformed},
		{"truncated", tok[:len(tok)-3], ks75, ErrTokenMalformed},
		{"truncated to claims", tok[:60], ks75, ErrTokenMalformed},
		{"signature altered", flipped, ks75, ErrBadSignature},
		{"signed by another key", impostor, ks75, ErrBadSignature},
		{"unknown key", tok, ksOther, ErrUnknownKey},
		{"key of another site", crossSite, ks75, ErrKeySite},
		{"issued on retirement day", tok, ksRetired, ErrKeyRetired},
		{"issued before retirement", tok, ksRetiredLater, nil},
		{"another site's invitation", tok, ks92, ErrWrongSite},
	}
	for _, tc := range tests {
		got, err := VerifyToken(tc.token, tc.ks)
		if tc.want == nil {
			if err != nil {
				t.Errorf("VerifyToken(%s) error = %v, want nil", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("VerifyToken(%s) error = %v, want %v", tc.name, err, tc.want)
		}
		// Claims come back only when they are authentic but not competent.
		if errors.Is(err, ErrWrongSite) != (got.KeyID != "") {
			t.Errorf("VerifyToken(%s) returned claims %+v with %v", tc.name, got, err)
		}
	}

	// Every single-character change of the token is refused.
	for i := len(TokenPrefix); i < len(tok); i++ {
		for _, c := range []byte(base45Alphabet) {
			if c == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, err := VerifyToken(bad, ks75); err == nil {
				t.Fatalf("altered token accepted: position %d %q→%q", i, tok[i], c)
			}
		}
	}
}

func TestSignTokenRefuses(t *testing.T) {
	t.Parallel()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	c := testClaims(t, "75")
	other := testClaims(t, "92")
	if _, err := SignToken(other, k); err == nil {
		t.Error("SignToken signed another site's reference")
	}
	bad := c
	bad.ExpiresOn = date(2026, 1, 1)
	if _, err := SignToken(bad, k); err == nil {
		t.Error("SignToken accepted an expiry before the issue date")
	}
	bad = c
	bad.IssuedOn = time.Time{}
	if _, err := SignToken(bad, k); err == nil {
		t.Error("SignToken accepted a missing issue date")
	}
	if _, err := SignToken(c, SigningKey{ID: k.ID, Site: "75"}); err == nil {
		t.Error("SignToken accepted a key without private part")
	}
}

func FuzzVerifyToken(f *testing.F) {
	k := testKey(f, "75", date(2026, 1, 15), 1)
	c := testClaims(f, "75")
	tok, err := SignToken(c, k)
	if err != nil {
		f.Fatal(err)
	}
	ks, err := NewKeySet("75", k.Public())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, tok[:40], "RCV1:", "RCV1:BB8", "RCV2:" + tok[5:], "RCV1:" + strings.Repeat("0", 171), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := VerifyToken(s, ks)
		if err != nil {
			return
		}
		// Ed25519 is deterministic and the encoding canonical: an accepted
		// token is exactly the one we would sign for its claims.
		again, err := SignToken(got, k)
		if err != nil {
			t.Fatalf("VerifyToken(%q) accepted claims SignToken refuses: %v", s, err)
		}
		if again != strings.TrimSpace(s) {
			t.Fatalf("VerifyToken accepted %q, which differs from the signed form %q", s, again)
		}
	})
}
