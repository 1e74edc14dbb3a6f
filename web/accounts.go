package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"recevable/storage"
)

// Local accounts live in the bucket, one JSON object per account at
// state/accounts/<id>.json, written by `recevable user` and read at login.
// They are the embedded default; production uses OIDC (oidc.go). Changes go
// through conditional writes like every record.
const accountPrefix = "state/accounts/"

// accountKey is the key of an account record; id must pass CheckAccountID.
func accountKey(id string) string { return accountPrefix + id + ".json" }

// Account errors.
var (
	// ErrBadAccountID: a login is not 1 to 64 of [a-z0-9._-] starting with a
	// letter or digit.
	ErrBadAccountID = errors.New("invalid account id")
	// ErrWeakPassword: a password is shorter than MinPasswordLength.
	ErrWeakPassword = errors.New("password too short")
	// ErrBadCredentials: unknown account, wrong password or disabled account
	// (one error for all three, so a login form cannot tell them apart).
	ErrBadCredentials = errors.New("bad credentials")
)

// MinPasswordLength follows ANSSI's guidance on passwords (length over
// complexity rules) for accounts that a rate limit protects.
const MinPasswordLength = 12

// Account is a local account.
type Account struct {
	ID    string   `json:"id"`
	Name  string   `json:"name,omitempty"`
	Roles []Role   `json:"roles"`
	Sites []string `json:"sites"`
	// PasswordHash is an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
	PasswordHash string    `json:"password_hash"`
	Disabled     bool      `json:"disabled,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Principal is the identity a session of this account carries.
func (a Account) Principal() Principal {
	return Principal{ID: a.ID, Name: a.Name, Roles: slices.Clone(a.Roles), Sites: slices.Clone(a.Sites), Method: "local"}
}

// CheckAccountID accepts logins usable as a key segment and in the audit
// log: 1 to 64 of [a-z0-9._-], starting with a letter or digit. "oidc:" ids
// cannot collide with them (":" is refused).
func CheckAccountID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: %q", ErrBadAccountID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadAccountID, id)
		}
	}
	return nil
}

// Accounts reads and writes local accounts in a bucket.
type Accounts struct {
	Bucket storage.Bucket
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s Accounts) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Get reads an account and its ETag; storage.ErrNotFound when there is none.
func (s Accounts) Get(ctx context.Context, id string) (Account, storage.ETag, error) {
	if err := CheckAccountID(id); err != nil {
		return Account{}, "", err
	}
	var a Account
	etag, err := storage.GetJSON(ctx, s.Bucket, accountKey(id), &a)
	if err != nil {
		return Account{}, "", fmt.Errorf("get account %s: %w", id, err)
	}
	if a.ID != id {
		return Account{}, "", fmt.Errorf("get account %s: record names %q", id, a.ID)
	}
	return a, etag, nil
}

// Create stores a new account with password; it fails with
// storage.ErrExists when the id is taken.
func (s Accounts) Create(ctx context.Context, a Account, password string) (Account, error) {
	if err := checkAccount(a); err != nil {
		return Account{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Account{}, err
	}
	a.PasswordHash = hash
	a.Created = s.now().UTC()
	a.Updated = a.Created
	if _, err := s.put(ctx, a, storage.PutOptions{IfAbsent: true}); err != nil {
		return Account{}, fmt.Errorf("create account %s: %w", a.ID, err)
	}
	return a, nil
}

// Update replaces an account if it is still the version etag. A non-empty
// password replaces the password.
func (s Accounts) Update(ctx context.Context, a Account, password string, etag storage.ETag) (Account, error) {
	if err := checkAccount(a); err != nil {
		return Account{}, err
	}
	if password != "" {
		hash, err := HashPassword(password)
		if err != nil {
			return Account{}, err
		}
		a.PasswordHash = hash
	}
	a.Updated = s.now().UTC()
	if _, err := s.put(ctx, a, storage.PutOptions{IfMatch: etag}); err != nil {
		return Account{}, fmt.Errorf("update account %s: %w", a.ID, err)
	}
	return a, nil
}

// List returns every account in id order.
func (s Accounts) List(ctx context.Context) ([]Account, error) {
	var out []Account
	err := storage.ListAll(ctx, s.Bucket, accountPrefix, func(o storage.Info) error {
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, accountPrefix), ".json")
		if CheckAccountID(id) != nil {
			return nil
		}
		a, _, err := s.Get(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// Authenticate checks a login and password. Every failure is
// ErrBadCredentials (wrapped); an unknown login costs the same hashing time
// as a known one, so response times do not reveal which logins exist.
func (s Accounts) Authenticate(ctx context.Context, id, password string) (Account, error) {
	a, _, err := s.Get(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, ErrBadAccountID) {
		return Account{}, err
	}
	hash := a.PasswordHash
	if err != nil || hash == "" {
		hash = dummyHash
	}
	ok, herr := CheckPassword(hash, password)
	switch {
	case herr != nil:
		return Account{}, fmt.Errorf("authenticate %s: %w", id, herr)
	case err != nil || !ok:
		return Account{}, ErrBadCredentials
	case a.Disabled:
		return Account{}, fmt.Errorf("%w: account disabled", ErrBadCredentials)
	}
	return a, nil
}

func (s Accounts) put(ctx context.Context, a Account, o storage.PutOptions) (storage.ETag, error) {
	return storage.PutJSON(ctx, s.Bucket, accountKey(a.ID), a, o)
}

func checkAccount(a Account) error {
	if err := CheckAccountID(a.ID); err != nil {
		return err
	}
	if len(a.Roles) == 0 {
		return fmt.Errorf("account %s: no role", a.ID)
	}
	for _, r := range a.Roles {
		if _, err := ParseRole(string(r)); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
	}
	if len(a.Sites) == 0 {
		return fmt.Errorf("account %s: no site (use %q for every site)", a.ID, AllSites)
	}
	for _, site := range a.Sites {
		if site == AllSites {
			continue
		}
		if err := storage.CheckSite(site); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
	}
	if len(a.Name) > 200 || !utf8.ValidString(a.Name) {
		return fmt.Errorf("account %s: name too long or not UTF-8", a.ID)
	}
	return nil
}

// argon2id parameters: OWASP's second recommended set (19 MiB, 2 passes,
// 1 lane), ~30 ms on one core. Stored in each hash, so raising them later
// keeps old hashes readable.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// dummyHash is checked when a login is unknown (see Authenticate).
var dummyHash = func() string {
	h, err := hashPassword("dummy password, never matches", make([]byte, argonSaltLen))
	if err != nil {
		panic(err)
	}
	return h
}()

// HashPassword returns the argon2id PHC string of password (RFC 9106,
// argon2id variant) with a random salt. It refuses passwords shorter than
// MinPasswordLength characters.
func HashPassword(password string) (string, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return "", fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPasswordLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return hashPassword(password, salt)
}

func hashPassword(password string, salt []byte) (string, error) {
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string hash. A
// malformed hash is an error, not a mismatch.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("password hash: version %q", parts[2])
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false, fmt.Errorf("password hash: parameters %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false, errors.New("password hash: bad base64")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
