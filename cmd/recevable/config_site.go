package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Site is one prefecture or sub-prefecture receiving dossiers: an entry of
// sites. Its identity appears on acknowledgments, so the mentions CRPA
// R112-5 requires (name, postal address, email, phone of the service) are
// mandatory here.
type Site struct {
	ID                  string       `yaml:"id" doc:"Short lowercase id (letters, digits, hyphens), used in registration numbers (<id>-<year>-<number>) and bucket keys. Never change it once dossiers exist."`
	Name                string       `yaml:"name" doc:"Name of the service as printed on letters, e.g. Préfecture de police."`
	Departments         []string     `yaml:"departments" doc:"Departments of residence this site is competent for (arrêté 2023-08-01 art. 4 al. 3): 01 to 95, 2A, 2B, 971 to 978. An applicant residing elsewhere is flagged."`
	Timezone            string       `yaml:"timezone" doc:"Time zone of the site (IANA name): dates on letters, the year of registration numbers and deadlines use it."`
	Letterhead          []string     `yaml:"letterhead" doc:"Lines at the top left of letters (ministry, prefecture, direction, bureau). Empty: the name alone."`
	PostalAddress       []string     `yaml:"postal_address" doc:"Postal address of the service, one line per item (CRPA R112-5: required on acknowledgments)."`
	Email               string       `yaml:"email" doc:"The dedicated address receiving submissions (CRPA R112-5: required on acknowledgments)."`
	Phone               string       `yaml:"phone" doc:"Phone number of the service (CRPA R112-5: required on acknowledgments)."`
	SigningKey          Secret       `yaml:"signing_key" doc:"Ed25519 private key signing this site's invitations: base64 of the 32-byte seed, or PEM (PKCS #8). Empty: the site verifies invitations but cannot issue any."`
	SigningKeyID        string       `yaml:"signing_key_id" doc:"Id of the signing key: must name an entry of trusted_keys holding its public key."`
	TrustedKeys         []TrustedKey `yaml:"trusted_keys" doc:"Public keys whose signatures on this site's invitations are accepted, the current one and those of earlier keys whose invitations may still be outstanding."`
	InvitationValidDays int          `yaml:"invitation_valid_days" doc:"Days an invitation stays valid after it is issued."`
}

// TrustedKey is a public key verifying a site's invitations.
type TrustedKey struct {
	ID        string `yaml:"id" doc:"Key id, written in every token signed with the key (letters, digits, . _ -)."`
	PublicKey string `yaml:"public_key" doc:"Ed25519 public key, base64 of its 32 bytes."`
	Retired   bool   `yaml:"retired" doc:"A retired key no longer proves anything: an invitation it signed goes to manual check (a_verifier). Retire a key that may have leaked; during an ordinary rotation keep the old key unretired until its invitations have expired."`
}

// Ed25519 decodes the public key.
func (k TrustedKey) Ed25519() (ed25519.PublicKey, error) {
	b, err := decodeBase64(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// SigningKeyPair decodes the site's signing key; nil, nil when the site has
// none.
func (s Site) SigningKeyPair() (ed25519.PrivateKey, error) {
	if !s.SigningKey.IsSet() {
		return nil, nil
	}
	return parseEd25519Private(s.SigningKey.Reveal())
}

// Location loads the site's time zone.
func (s Site) Location() (*time.Location, error) { return time.LoadLocation(s.Timezone) }

// parseEd25519Private accepts base64 of a 32-byte seed or 64-byte private
// key, or a PEM "PRIVATE KEY" block (PKCS #8, as openssl genpkey writes).
func parseEd25519Private(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, errors.New("not a PEM PRIVATE KEY block")
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #8: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
		}
		return ek, nil
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		k := ed25519.PrivateKey(b)
		// The second half is the public key; a mismatch means a damaged key.
		if !ed25519.NewKeyFromSeed(k.Seed()).Equal(k) {
			return nil, errors.New("64-byte key whose public half does not match its seed")
		}
		return k, nil
	}
	return nil, fmt.Errorf("%d bytes, want a %d-byte seed", len(b), ed25519.SeedSize)
}

// decodeBase64 accepts standard and URL alphabets, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

var (
	reSiteID = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	reKeyID  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	rePhone  = regexp.MustCompile(`^\+?[0-9 .()-]+$`)
)

// validDepartment reports whether code is a French department number as
// INSEE writes it: 01–19, 2A, 2B, 21–95, and the overseas 971–978
// (Saint-Barthélemy 977 and Saint-Martin 978: arrêté 2023-08-01 art. 5).
func validDepartment(code string) bool {
	switch len(code) {
	case 2:
		if code == "2A" || code == "2B" {
			return true
		}
		if code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' {
			return false
		}
		return code != "00" && code != "20" && code <= "95"
	case 3:
		return code >= "971" && code <= "978"
	}
	return false
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// overseasZones gives the time zone of each overseas department, to catch a
// site left on Europe/Paris.
var overseasZones = map[string]string{
	"971": "America/Guadeloupe", "972": "America/Martinique", "973": "America/Cayenne",
	"974": "Indian/Reunion", "975": "America/Miquelon", "976": "Indian/Mayotte",
	"977": "America/St_Barthelemy", "978": "America/Marigot",
}

func (s *Site) validate(c *checker, p string) {
	switch {
	case s.ID == "":
		c.errorf(p+".id", "required")
	case len(s.ID) > 32 || !reSiteID.MatchString(s.ID):
		c.errorf(p+".id", "%q: use 1 to 32 lowercase letters, digits and single inner hyphens", s.ID)
	}
	if strings.TrimSpace(s.Name) == "" {
		c.errorf(p+".name", "required")
	}
	if len(s.Departments) == 0 {
		c.errorf(p+".departments", "at least one department is required")
	}
	seen := map[string]bool{}
	for i, d := range s.Departments {
		dp := fmt.Sprintf("%s.departments[%d]", p, i)
		switch {
		case validDepartment(d):
		case len(d) == 1 && d[0] >= '1' && d[0] <= '9':
			c.errorf(dp, "%q is not a French department number: write it \"0%s\"", d, d)
		case d == "2a" || d == "2b":
			c.errorf(dp, "%q is not a French department number: write it %q", d, strings.ToUpper(d))
		default:
			c.errorf(dp, "%q is not a French department number", d)
		}
		if seen[d] {
			c.errorf(dp, "%q is listed twice", d)
		}
		seen[d] = true
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "" {
		c.errorf(p+".timezone", "%q is not a known time zone", s.Timezone)
	} else {
		for _, d := range s.Departments {
			if z, ok := overseasZones[d]; ok && s.Timezone == "Europe/Paris" {
				c.warnf(p+".timezone", "department %s is in %s, not Europe/Paris", d, z)
				break
			}
		}
	}
	if len(s.PostalAddress) == 0 {
		c.errorf(p+".postal_address", "required: acknowledgments must state it (CRPA R112-5)")
	}
	if s.Email == "" {
		c.errorf(p+".email", "required: acknowledgments must state it (CRPA R112-5)")
	} else if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
		c.errorf(p+".email", "%q is not a bare email address", s.Email)
	}
	if s.Phone == "" {
		c.errorf(p+".phone", "required: acknowledgments must state it (CRPA R112-5)")
	} else if !rePhone.MatchString(s.Phone) || countDigits(s.Phone) < 4 {
		c.errorf(p+".phone", "%q is not a phone number", s.Phone)
	}
	if s.InvitationValidDays < 1 {
		c.errorf(p+".invitation_valid_days", "must be at least 1")
	}
	s.validateKeys(c, p)
}

// validateKeys checks the trusted keys and that the signing key is one of
// them: a site whose own signatures do not verify would issue invitations
// that all land in manual check.
func (s *Site) validateKeys(c *checker, p string) {
	ids := map[string]int{}
	pubs := map[string]int{}
	for i, k := range s.TrustedKeys {
		kp := fmt.Sprintf("%s.trusted_keys[%d]", p, i)
		if !reKeyID.MatchString(k.ID) {
			c.errorf(kp+".id", "%q: use 1 to 32 letters, digits, dots, underscores or hyphens", k.ID)
		} else if j, dup := ids[k.ID]; dup {
			c.errorf(kp+".id", "%q is already the id of trusted_keys[%d]", k.ID, j)
		} else {
			ids[k.ID] = i
		}
		pub, err := k.Ed25519()
		if err != nil {
			c.errorf(kp+".public_key", "%v", err)
			continue
		}
		if j, dup := pubs[string(pub)]; dup {
			c.errorf(kp+".public_key", "same key as trusted_keys[%d]", j)
		}
		pubs[string(pub)] = i
	}
	if !s.SigningKey.IsSet() {
		if s.SigningKey.kind == secretUnset && s.SigningKeyID != "" {
			c.warnf(p+".signing_key", "not set: signing_key_id is ignored and the site cannot issue invitations")
		}
		return
	}
	priv, err := parseEd25519Private(s.SigningKey.Reveal())
	if err != nil {
		c.errorf(p+".signing_key", "not an Ed25519 private key (%s): %v", s.SigningKey.Source(), err)
		return
	}
	i, ok := ids[s.SigningKeyID]
	switch {
	case s.SigningKeyID == "":
		c.errorf(p+".signing_key_id", "required with signing_key")
	case !ok:
		c.errorf(p+".signing_key_id", "%q names no entry of trusted_keys", s.SigningKeyID)
	case s.TrustedKeys[i].Retired:
		c.errorf(p+".signing_key_id", "%q is retired: issue invitations with a new key", s.SigningKeyID)
	default:
		pub, err := s.TrustedKeys[i].Ed25519()
		if err == nil && !pub.Equal(priv.Public()) {
			c.errorf(p+".signing_key", "its public key is not trusted_keys[%d].public_key (%s)", i,
				base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)))
		}
	}
}
