package validate

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"
)

// Each site signs its invitation tokens with its own Ed25519 key. Keys made
// here are named "<site code>-<yyyymmdd>-<4 random Crockford characters>"
// (the day the key was made), so that a token says which key signed it and
// several keys can be trusted at once while one replaces another. Key ids
// from elsewhere are accepted if they are 1 to 32 of [A-Za-z0-9._-].
//
// The private key lives in a file only the service account can read (0600),
// PEM-encoded PKCS #8 ("PRIVATE KEY") with two PEM headers, Key-Id and Site;
// `openssl pkey` reads it once the two header lines are removed. The public
// key is written as standard base64 of its 32 bytes, to paste into the
// configuration of every site that must recognise the tokens.

// Key errors.
var (
	ErrKeyFileMode = errors.New("key file readable by group or others (want 0600)")
	ErrKeyFile     = errors.New("key file invalid")
	ErrKeyID       = errors.New("invalid key id")
	ErrPublicKey   = errors.New("invalid public key")
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// validKeyID: what a token can carry and a configuration can name.
func validKeyID(id string) bool { return keyIDPattern.MatchString(id) }

// SigningKey is a site's private key.
type SigningKey struct {
	ID      string
	Site    string // site id
	Private ed25519.PrivateKey
}

// PublicKey is a trusted public key.
type PublicKey struct {
	ID   string
	Site string // id of the site whose invitations it signs
	Key  ed25519.PublicKey
	// RetiredOn, when set, is the first day on which the key no longer
	// signs: tokens issued from that day on are refused (ErrKeyRetired),
	// tokens issued before stay valid.
	RetiredOn time.Time
}

// Public returns the public half of k, not retired.
func (k SigningKey) Public() PublicKey {
	return PublicKey{ID: k.ID, Site: k.Site, Key: k.Private.Public().(ed25519.PublicKey)}
}

// GenerateKey makes a new key for the site with this id, named for the day
// of now. random nil means crypto/rand.
func GenerateKey(site string, now time.Time, random io.Reader) (SigningKey, error) {
	code, err := SiteCode(site)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate key: %w", err)
	}
	if len(code) > 18 { // keep the id within 32 characters
		code = code[:18]
	}
	if random == nil {
		random = rand.Reader
	}
	var b [3]byte // 20 bits used: 4 Crockford characters
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return SigningKey{}, fmt.Errorf("generate key: random: %w", err)
	}
	v := int(b[0])<<12 | int(b[1])<<4 | int(b[2])>>4
	suffix := []byte{crockford[v>>15&31], crockford[v>>10&31], crockford[v>>5&31], crockford[v&31]}
	_, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate key: %w", err)
	}
	id := fmt.Sprintf("%s-%s-%s", code, now.Format("20060102"), suffix)
	return SigningKey{ID: id, Site: site, Private: priv}, nil
}

// WritePrivateKeyFile writes k to a new file at path with mode 0600. It
// refuses to overwrite an existing file: losing a key in use would make every
// letter signed with it unverifiable.
func WritePrivateKeyFile(path string, k SigningKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return fmt.Errorf("write key %s: %w", k.ID, err)
	}
	block := &pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{"Key-Id": k.ID, "Site": k.Site},
		Bytes:   der,
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key %s: %w", k.ID, err)
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", k.ID, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", k.ID, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", k.ID, err)
	}
	return nil
}

// ReadPrivateKeyFile reads a key written by WritePrivateKeyFile. A file that
// group or others may read is refused (ErrKeyFileMode), as ssh does.
func ReadPrivateKeyFile(path string) (SigningKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("read key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return SigningKey{}, fmt.Errorf("read key %s: %w: mode %v", path, ErrKeyFileMode, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("read key: %w", err)
	}
	return parsePrivateKeyPEM(data)
}

func parsePrivateKeyPEM(data []byte) (SigningKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return SigningKey{}, fmt.Errorf("%w: no PRIVATE KEY block", ErrKeyFile)
	}
	id, site := block.Headers["Key-Id"], block.Headers["Site"]
	if !validKeyID(id) {
		return SigningKey{}, fmt.Errorf("%w: %w: %q", ErrKeyFile, ErrKeyID, id)
	}
	if !validSiteID(site) {
		return SigningKey{}, fmt.Errorf("%w: site %q", ErrKeyFile, site)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("%w: %T, want Ed25519", ErrKeyFile, key)
	}
	return SigningKey{ID: id, Site: site, Private: priv}, nil
}

// FormatPublicKey returns the configuration form of a public key: standard
// base64 of its 32 bytes.
func FormatPublicKey(k ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// ParsePublicKey reads FormatPublicKey's output.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPublicKey, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// KeySet is the set of public keys a site trusts: its own, current and
// retired, and possibly other sites' keys so that their invitations are
// recognised as genuine but not competent (ErrWrongSite).
type KeySet struct {
	// Site is the receiving site; VerifyToken refuses other sites' tokens
	// with ErrWrongSite. Empty accepts any site.
	Site string
	keys map[string]PublicKey
}

// NewKeySet builds the set of keys trusted by the site with this id.
// Duplicate or invalid ids, keys without a valid site and invalid keys are
// refused.
func NewKeySet(site string, keys ...PublicKey) (KeySet, error) {
	ks := KeySet{Site: site, keys: make(map[string]PublicKey, len(keys))}
	for _, k := range keys {
		if !validKeyID(k.ID) {
			return KeySet{}, fmt.Errorf("%w: %q", ErrKeyID, k.ID)
		}
		if !validSiteID(k.Site) {
			return KeySet{}, fmt.Errorf("%w: key %s: site id %q", ErrRefSite, k.ID, k.Site)
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return KeySet{}, fmt.Errorf("%w: key %s: %d bytes", ErrPublicKey, k.ID, len(k.Key))
		}
		if _, dup := ks.keys[k.ID]; dup {
			return KeySet{}, fmt.Errorf("%w: %s listed twice", ErrKeyID, k.ID)
		}
		ks.keys[k.ID] = k
	}
	return ks, nil
}

// Lookup returns the key with this id.
func (ks KeySet) Lookup(id string) (PublicKey, bool) {
	k, ok := ks.keys[id]
	return k, ok
}

// Len is the number of keys.
func (ks KeySet) Len() int { return len(ks.keys) }
