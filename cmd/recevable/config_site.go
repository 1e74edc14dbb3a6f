package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // sites' time zones load in containers without zoneinfo
)

// Site is one prefecture or sub-prefecture receiving dossiers: an entry of
// sites. Its identity appears on acknowledgments, so the mentions CRPA
// R112-5 requires (name, postal address, email, phone of the service) are
// mandatory here.
type Site struct {
	ID                  string       `yaml:"id" doc:"Short lowercase id (letters, digits, inner hyphens, at most 32), used in registration numbers (<id>-<year>-<number>), invitation references and bucket keys. Never change it once dossiers exist."`
	Name                string       `yaml:"name" doc:"Name of the service as printed on letters, e.g. Préfecture de police."`
	Departments         []string     `yaml:"departments" doc:"Departments of residence this site is competent for (arrêté 2023-08-01 art. 4 al. 3): 01 to 95, 2A, 2B, 971 to 978. An applicant residing elsewhere is flagged."`
	Timezone            string       `yaml:"timezone" doc:"Time zone of the site (IANA name): dates on letters, the year of registration numbers and deadlines use it."`
	Letterhead          []string     `yaml:"letterhead" doc:"Lines at the top left of letters (ministry, prefecture, direction, bureau). Empty: the name alone."`
	PostalAddress       []string     `yaml:"postal_address" doc:"Postal address of the service, one line per item (CRPA R112-5: required on acknowledgments)."`
	Email               string       `yaml:"email" doc:"The dedicated address receiving submissions (CRPA R112-5: required on acknowledgments)."`
	Phone               string       `yaml:"phone" doc:"Phone number of the service (CRPA R112-5: required on acknowledgments)."`
	SigningKeyFile      string       `yaml:"signing_key_file" doc:"File of the Ed25519 private key signing this site's invitations (PEM PKCS #8 with Key-Id and Site headers, mode 600, as recevable makes them), e.g. /etc/recevable/keys/pp.pem; read at start. Its public key must be in trusted_keys. Empty: the site verifies invitations but cannot issue any."`
	TrustedKeys         []TrustedKey `yaml:"trusted_keys" doc:"Public keys whose signatures on invitations are accepted: this site's current and earlier keys, and those of other sites whose invitations should be recognised as genuine (and flagged as another prefecture's)."`
	InvitationValidDays int          `yaml:"invitation_valid_days" doc:"Days an invitation stays valid after it is issued."`

	// signing is what LoadConfig read from SigningKeyFile.
	signing *signingKeyInfo
}

// TrustedKey is a public key verifying invitations.
type TrustedKey struct {
	ID        string `yaml:"id" doc:"Key id, written in every token signed with the key (1 to 32 letters, digits, . _ -)."`
	Site      string `yaml:"site" doc:"Id of the site whose invitations the key signs; empty: this site."`
	PublicKey string `yaml:"public_key" doc:"Ed25519 public key, standard base64 of its 32 bytes."`
	RetiredOn string `yaml:"retired_on" doc:"Date (YYYY-MM-DD) from which the key no longer signs: tokens it signed on or after that day are refused, earlier ones stay valid. Set it when rotating, and keep the key listed until its invitations have expired."`
}

// signingKeyInfo is the public part of a site's signing key file.
type signingKeyInfo struct {
	id, site string
	public   ed25519.PublicKey
}

// Ed25519 decodes the public key.
func (k TrustedKey) Ed25519() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k.PublicKey))
	if err != nil {
		return nil, errors.New("not standard base64")
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Retirement parses retired_on: the zero time when the key is not retired.
func (k TrustedKey) Retirement() (time.Time, error) {
	if k.RetiredOn == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, k.RetiredOn)
}

// SiteOr is the key's site, defaulting to site, the one listing it.
func (k TrustedKey) SiteOr(site string) string {
	if k.Site == "" {
		return site
	}
	return k.Site
}

// siteRefCode is validate.SiteCode without its checks: the id upper-cased,
// hyphens dropped. Invitation references carry it, so two sites must not
// share it ("sp-75" and "sp75").
func siteRefCode(id string) string { return strings.ToUpper(strings.ReplaceAll(id, "-", "")) }

// Location loads the site's time zone.
func (s Site) Location() (*time.Location, error) { return time.LoadLocation(s.Timezone) }

// readSigningKey reads the public part of a key file written by
// validate.WritePrivateKeyFile, holding it to the rules of
// validate.ReadPrivateKeyFile (mode 600, PKCS #8 Ed25519, Key-Id and Site
// headers) so that `config check` fails where `serve` would.
func readSigningKey(path string) (*signingKeyInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key", path, k)
	}
	info := &signingKeyInfo{id: blk.Headers["Key-Id"], site: blk.Headers["Site"], public: priv.Public().(ed25519.PublicKey)}
	if !reKeyID.MatchString(info.id) {
		return nil, fmt.Errorf("%s: Key-Id header %q is not a key id", path, info.id)
	}
	return info, nil
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
	// Mirrors storage.CheckSite.
	reSiteID = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
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
	case !reSiteID.MatchString(s.ID):
		c.errorf(p+".id", "%q: use 1 to 32 lowercase letters, digits and inner hyphens", s.ID)
	case strings.HasPrefix(strings.ToUpper(strings.ReplaceAll(s.ID, "-", "")), "INV"):
		// validate.SiteCode: references read INV-<code>-…, so a code
		// starting with INV would be ambiguous.
		c.errorf(p+".id", "%q: must not start with inv", s.ID)
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
		if k.Site != "" && !reSiteID.MatchString(k.Site) {
			c.errorf(kp+".site", "%q is not a site id", k.Site)
		}
		if _, err := k.Retirement(); err != nil {
			c.errorf(kp+".retired_on", "%q: want a date YYYY-MM-DD", k.RetiredOn)
		}
		pub, err := k.Ed25519()
		if err != nil {
			c.errorf(kp+".public_key", "not an Ed25519 public key: %v", err)
			continue
		}
		if j, dup := pubs[string(pub)]; dup {
			c.errorf(kp+".public_key", "same key as trusted_keys[%d]", j)
		}
		pubs[string(pub)] = i
	}
	if s.signing == nil { // no key file, or a configuration built in code
		return
	}
	kf := p + ".signing_key_file"
	pub64 := base64.StdEncoding.EncodeToString(s.signing.public)
	if s.signing.site != s.ID {
		c.errorf(kf, "the key is for site %q (its Site header), not %q", s.signing.site, s.ID)
	}
	i, ok := ids[s.signing.id]
	if !ok {
		c.errorf(kf, "its key %s is not in trusted_keys: add {id: %s, public_key: %s}", s.signing.id, s.signing.id, pub64)
		return
	}
	k := s.TrustedKeys[i]
	kp := fmt.Sprintf("%s.trusted_keys[%d]", p, i)
	if pub, err := k.Ed25519(); err == nil && !pub.Equal(s.signing.public) {
		c.errorf(kp+".public_key", "is not the public key of signing_key_file (%s)", pub64)
	}
	if k.SiteOr(s.ID) != s.ID {
		c.errorf(kp+".site", "%q: this is the site's own signing key", k.Site)
	}
	if k.RetiredOn != "" {
		c.errorf(kp+".retired_on", "%s is the signing key: the invitations it signs would be refused", k.ID)
	}
}
