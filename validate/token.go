package validate

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// The token is what the QR code of an invitation letter carries: the claims
// of the invitation, signed with the site's Ed25519 key, so that a scan can
// be verified offline. Format, version 1:
//
//	"RCV1:" base45( packed claims ‖ Ed25519 signature )
//
//	packed claims (big-endian):
//	  1 byte   version (1)
//	  1 byte   length of the site id, then the site id (ASCII)
//	  1 byte   reference year − 2000
//	  5 bytes  reference body (8 Crockford characters, 40 bits)
//	  1 byte   length of key id, then the key id (ASCII)
//	  2 bytes  issue date, days since 2020-01-01
//	  2 bytes  expiry date, days since 2020-01-01
//	  16 bytes name hash (NameHash)
//	64 bytes   signature over tokenContext ‖ packed claims
//
// Base45 (RFC 9285, as in the EU digital COVID certificate) uses only
// characters of the QR alphanumeric mode, which stores 5.5 bits per character
// against 8 in byte mode: about 110 bytes become 172 characters and fit a
// version 9 code at error correction Q. The reference's site code is not
// stored: it is SiteCode of the site id.

// TokenPrefix starts every version 1 token.
const TokenPrefix = "RCV1:"

// tokenContext separates token signatures from anything else the key might
// ever sign.
const tokenContext = "recevable invitation token v1\x00"

// tokenEpoch is day 0 of the packed dates.
var tokenEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Token verification errors; VerifyToken wraps them with detail.
var (
	ErrTokenMalformed = errors.New("token: malformed")
	ErrTokenVersion   = errors.New("token: unsupported version")
	ErrUnknownKey     = errors.New("token: signed with an unknown key")
	ErrBadSignature   = errors.New("token: signature does not verify")
	ErrKeyRetired     = errors.New("token: issued after its key was retired")
	ErrKeySite        = errors.New("token: signed with a key of another site")
	ErrWrongSite      = errors.New("token: issued by another site")
)

// NameHash binds a token to the applicant's name without carrying it: the
// first 16 bytes of SHA-256 over the words of NormaliseName(name) sorted, so
// that "N'DIAYE Élodie" and "Élodie N'Diaye" match. It is a binding, not an
// anonymisation: names are few enough to be guessed from it.
type NameHash [16]byte

// HashName returns the NameHash of name.
func HashName(name string) NameHash {
	words := strings.Fields(NormaliseName(name))
	slices.Sort(words)
	sum := sha256.Sum256([]byte(strings.Join(words, " ")))
	var h NameHash
	copy(h[:], sum[:16])
	return h
}

// String returns the hash in lower-case hex.
func (h NameHash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is unset.
func (h NameHash) IsZero() bool { return h == NameHash{} }

// ParseNameHash reads the hex form written by String.
func ParseNameHash(s string) (NameHash, error) {
	var h NameHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("name hash %q: want %d hex bytes", s, len(h))
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText writes the hex form (JSON strings in the registry).
func (h NameHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form.
func (h *NameHash) UnmarshalText(b []byte) error {
	v, err := ParseNameHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// nameFold spells out the letters NFKD does not decompose.
var nameFold = strings.NewReplacer(
	"œ", "oe", "Œ", "OE", "æ", "ae", "Æ", "AE", "ß", "ss", "ẞ", "SS",
	"ø", "o", "Ø", "O", "đ", "d", "Đ", "D", "ł", "l", "Ł", "L", "ı", "i", "þ", "th", "Þ", "TH",
)

// NormaliseName folds a person's name to the form that is hashed: NFKD with
// the accents dropped, upper case, typographic apostrophes and hyphens made
// ASCII, spaces around them removed and runs of white space collapsed.
// "Élodie  N’Diaye" becomes "ELODIE N'DIAYE".
func NormaliseName(name string) string {
	s := norm.NFKD.String(nameFold.Replace(name))
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == '\u2019' || r == '\u2018' || r == '\u02bc' || r == '`' || r == '\u00b4':
			r = '\''
		case r == '\u2010' || r == '\u2011' || r == '\u2013' || r == '\u2014':
			r = '-'
		case unicode.IsSpace(r):
			r = ' '
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	s = strings.Join(strings.Fields(b.String()), " ")
	for _, p := range []string{"'", "-"} {
		s = strings.ReplaceAll(s, " "+p, p)
		s = strings.ReplaceAll(s, p+" ", p)
	}
	return s
}

// Claims are what a token asserts.
type Claims struct {
	// Site is the id of the issuing site.
	Site string
	// Reference of the invitation; its Code is SiteCode(Site).
	Reference Reference
	// KeyID names the key that signed (or is to sign) the token.
	KeyID string
	// IssuedOn and ExpiresOn are calendar dates (midnight UTC stands for the
	// day). The invitation is valid through ExpiresOn inclusive.
	IssuedOn  time.Time
	ExpiresOn time.Time
	// Name is the hash of the applicant's name.
	Name NameHash
}

// ExpiredOn reports whether the invitation had expired on day t. Pass the
// date that counts for the applicant — the postmark for a letter (CRPA
// L112-1), the reception date for an email — never the date of processing.
func (c Claims) ExpiredOn(t time.Time) bool {
	return CivilDay(t).After(c.ExpiresOn)
}

// CivilDay returns the calendar day of t, in t's location, as midnight UTC.
func CivilDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// SignToken packs c and signs it with k. c.KeyID is set to k's id; c.Site
// must be k's site.
func SignToken(c Claims, k SigningKey) (string, error) {
	if c.Site != k.Site {
		return "", fmt.Errorf("sign token: claims of site %q, key of site %q", c.Site, k.Site)
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign token: key %s has no private key", k.ID)
	}
	c.KeyID = k.ID
	packed, err := packClaims(c)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := ed25519.Sign(k.Private, append([]byte(tokenContext), packed...))
	return TokenPrefix + base45Encode(append(packed, sig...)), nil
}

// VerifyToken checks a token against the trusted keys and returns its claims.
// Errors wrap one of the ErrToken…/ErrKey… values:
//   - ErrTokenMalformed, ErrTokenVersion: not a token this code can read;
//   - ErrUnknownKey: no trusted key has its key id (verify by the registry);
//   - ErrBadSignature: altered or forged;
//   - ErrKeySite: the key's site differs from the token's (forged);
//   - ErrKeyRetired: issued on or after the retirement date of its key;
//   - ErrWrongSite: genuine, but issued by a site other than trusted.Site.
//
// Only with ErrWrongSite are the claims returned as well, since they are
// authentic: they say which prefecture issued it. Expiry is not checked
// here; see Claims.ExpiredOn.
func VerifyToken(token string, trusted KeySet) (Claims, error) {
	c, packed, sig, err := splitToken(token)
	if err != nil {
		return Claims{}, err
	}
	key, ok := trusted.Lookup(c.KeyID)
	if !ok {
		return Claims{}, fmt.Errorf("%w: %q", ErrUnknownKey, c.KeyID)
	}
	if !ed25519.Verify(key.Key, append([]byte(tokenContext), packed...), sig) {
		return Claims{}, fmt.Errorf("%w: key %s", ErrBadSignature, key.ID)
	}
	if key.Site != c.Site {
		return Claims{}, fmt.Errorf("%w: key %s of site %s, token of site %s", ErrKeySite, key.ID, key.Site, c.Site)
	}
	// Tokens issued before the retirement stay valid: they were signed when
	// the key was trusted and the letter is in the applicant's hands. A key
	// that may have leaked is removed from the set instead (ErrUnknownKey),
	// since its holder could backdate.
	if !key.RetiredOn.IsZero() && !c.IssuedOn.Before(CivilDay(key.RetiredOn)) {
		return Claims{}, fmt.Errorf("%w: key %s retired on %s, token issued on %s", ErrKeyRetired,
			key.ID, key.RetiredOn.Format(time.DateOnly), c.IssuedOn.Format(time.DateOnly))
	}
	// arrêté 2023-08-01 art. 4 al. 2: only the territorially competent
	// prefecture's invitation makes the dossier admissible.
	if trusted.Site != "" && c.Site != trusted.Site {
		return c, fmt.Errorf("%w: issued by site %s, received by site %s", ErrWrongSite, c.Site, trusted.Site)
	}
	return c, nil
}

// ParseTokenUnverified reads a token's claims WITHOUT checking the
// signature. Use it only to look the reference up in the registry when
// VerifyToken fails with ErrUnknownKey; never trust what it returns.
func ParseTokenUnverified(token string) (Claims, error) {
	c, _, _, err := splitToken(token)
	return c, err
}

// splitToken decodes a token into its claims, the signed bytes and the
// signature.
func splitToken(token string) (c Claims, packed, sig []byte, err error) {
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, TokenPrefix) {
		if len(token) >= 5 && strings.HasPrefix(token, "RCV") && token[4] == ':' {
			return Claims{}, nil, nil, fmt.Errorf("%w: prefix %q", ErrTokenVersion, token[:5])
		}
		return Claims{}, nil, nil, fmt.Errorf("%w: no %q prefix", ErrTokenMalformed, TokenPrefix)
	}
	raw, err := base45Decode(token[len(TokenPrefix):])
	if err != nil {
		return Claims{}, nil, nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	if len(raw) <= ed25519.SignatureSize {
		return Claims{}, nil, nil, fmt.Errorf("%w: %d bytes", ErrTokenMalformed, len(raw))
	}
	packed, sig = raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:]
	c, err = unpackClaims(packed)
	return c, packed, sig, err
}

// packClaims writes the binary form described at the top of this file.
func packClaims(c Claims) ([]byte, error) {
	r := c.Reference
	code, err := SiteCode(c.Site)
	if err != nil {
		return nil, err
	}
	if r.Code != code || r.Year < 2000 || r.Year > 2099 || len(r.Body) != 8 {
		return nil, fmt.Errorf("invalid reference %+v for site %q", r, c.Site)
	}
	if !validKeyID(c.KeyID) {
		return nil, fmt.Errorf("%w: %q", ErrKeyID, c.KeyID)
	}
	issued, err := packDay(c.IssuedOn)
	if err != nil {
		return nil, fmt.Errorf("issue date: %w", err)
	}
	expires, err := packDay(c.ExpiresOn)
	if err != nil {
		return nil, fmt.Errorf("expiry date: %w", err)
	}
	if expires < issued {
		return nil, fmt.Errorf("expires %s before issued %s", c.ExpiresOn.Format(time.DateOnly), c.IssuedOn.Format(time.DateOnly))
	}
	var body uint64
	for i := 0; i < 8; i++ {
		v := strings.IndexByte(crockford, r.Body[i])
		if v < 0 {
			return nil, fmt.Errorf("invalid reference body %q", r.Body)
		}
		body = body<<5 | uint64(v)
	}
	b := []byte{1, byte(len(c.Site))}
	b = append(b, c.Site...)
	b = append(b, byte(r.Year-2000))
	b = append(b, byte(body>>32), byte(body>>24), byte(body>>16), byte(body>>8), byte(body))
	b = append(b, byte(len(c.KeyID)))
	b = append(b, c.KeyID...)
	b = binary.BigEndian.AppendUint16(b, issued)
	b = binary.BigEndian.AppendUint16(b, expires)
	b = append(b, c.Name[:]...)
	return b, nil
}

// unpackClaims reads packClaims' output, refusing anything left over.
func unpackClaims(b []byte) (Claims, error) {
	bad := func(what string) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrTokenMalformed, what)
	}
	if len(b) < 1 {
		return bad("empty")
	}
	if b[0] != 1 {
		return Claims{}, fmt.Errorf("%w: packed version %d", ErrTokenVersion, b[0])
	}
	b = b[1:]
	site, b, ok := cutLenPrefixed(b)
	if !ok {
		return bad("site")
	}
	code, err := SiteCode(site)
	if err != nil {
		return bad("site")
	}
	if len(b) < 6 {
		return bad("reference")
	}
	year := 2000 + int(b[0])
	if year > 2099 {
		return bad("reference year")
	}
	v := uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
	body := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		body[i] = crockford[v&31]
		v >>= 5
	}
	b = b[6:]
	keyID, b, ok := cutLenPrefixed(b)
	if !ok || !validKeyID(keyID) {
		return bad("key id")
	}
	if len(b) != 2+2+len(NameHash{}) {
		return bad(fmt.Sprintf("%d bytes after the key id, want 20", len(b)))
	}
	c := Claims{
		Site:      site,
		Reference: Reference{Code: code, Year: year, Body: string(body)},
		KeyID:     keyID,
		IssuedOn:  tokenEpoch.AddDate(0, 0, int(binary.BigEndian.Uint16(b[0:]))),
		ExpiresOn: tokenEpoch.AddDate(0, 0, int(binary.BigEndian.Uint16(b[2:]))),
	}
	copy(c.Name[:], b[4:])
	if c.ExpiresOn.Before(c.IssuedOn) {
		return bad("expires before issued")
	}
	return c, nil
}

func cutLenPrefixed(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

func packDay(t time.Time) (uint16, error) {
	if t.IsZero() {
		return 0, errors.New("missing")
	}
	d := CivilDay(t).Sub(tokenEpoch).Hours() / 24
	if d < 0 || d > 0xffff {
		return 0, fmt.Errorf("%s out of range", t.Format(time.DateOnly))
	}
	return uint16(d), nil
}

// base45Alphabet is RFC 9285 §4, all of it in the QR alphanumeric set.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Encode is RFC 9285 §4: two bytes become three characters, a last
// odd byte two.
func base45Encode(b []byte) string {
	out := make([]byte, 0, (len(b)+1)/2*3)
	for i := 0; i+1 < len(b); i += 2 {
		n := int(b[i])<<8 | int(b[i+1])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
	}
	if len(b)%2 == 1 {
		n := int(b[len(b)-1])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return string(out)
}

// base45Decode is the inverse of base45Encode, refusing out-of-range
// groups (RFC 9285 §4.3) and stray characters.
func base45Decode(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("base45: length %d", len(s))
	}
	out := make([]byte, 0, len(s)/3*2+1)
	val := func(c byte) (int, error) {
		i := strings.IndexByte(base45Alphabet, c)
		if i < 0 {
			return 0, fmt.Errorf("base45: character %q", c)
		}
		return i, nil
	}
	for i := 0; i < len(s); i += 3 {
		n := len(s) - i
		if n > 3 {
			n = 3
		}
		v, mult := 0, 1
		for j := 0; j < n; j++ {
			d, err := val(s[i+j])
			if err != nil {
				return nil, err
			}
			v += d * mult
			mult *= 45
		}
		if n == 3 {
			if v > 0xffff {
				return nil, fmt.Errorf("base45: group %q out of range", s[i:i+3])
			}
			out = append(out, byte(v>>8), byte(v))
		} else {
			if v > 0xff {
				return nil, fmt.Errorf("base45: group %q out of range", s[i:i+2])
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}
