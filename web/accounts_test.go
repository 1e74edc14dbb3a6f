package web

import (
	"context"
	"errors"
	"strings"
	"testing"

	"recevable/storage"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with the expected parameters", h)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapler": false, "": false} {
		if ok, err := CheckPassword(h, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := HashPassword("court"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("short password: %v", err)
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=65536,t=1,p=1$%%%$AAAA"} {
		if _, err := CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword accepted the malformed hash %q", bad)
		}
	}
}

func TestAccounts(t *testing.T) {
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := Accounts{Bucket: b}
	ctx := context.Background()
	a := Account{ID: "jdupont", Name: "Jeanne Dupont", Roles: []Role{RoleAgent}, Sites: []string{"pp"}}
	if _, err := s.Create(ctx, a, "une phrase de passe longue"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, a, "une phrase de passe longue"); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	for _, bad := range []Account{
		{ID: "Jdupont", Roles: []Role{RoleAgent}, Sites: []string{"pp"}},
		{ID: "oidc:x", Roles: []Role{RoleAgent}, Sites: []string{"pp"}},
		{ID: "x", Roles: []Role{"admin"}, Sites: []string{"pp"}},
		{ID: "x", Roles: []Role{RoleAgent}},
		{ID: "x", Roles: []Role{RoleAgent}, Sites: []string{"Paris!"}},
	} {
		if _, err := s.Create(ctx, bad, "une phrase de passe longue"); err == nil {
			t.Errorf("Create accepted %+v", bad)
		}
	}
	got, err := s.Authenticate(ctx, "jdupont", "une phrase de passe longue")
	if err != nil || got.Name != "Jeanne Dupont" {
		t.Fatalf("authenticate: %v", err)
	}
	for _, tc := range []struct{ id, pw string }{{"jdupont", "mauvais mot de passe"}, {"inconnu", "une phrase de passe longue"}, {"../etc", "x"}} {
		if _, err := s.Authenticate(ctx, tc.id, tc.pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q): %v, want ErrBadCredentials", tc.id, err)
		}
	}
	cur, etag, _ := s.Get(ctx, "jdupont")
	cur.Disabled = true
	if _, err := s.Update(ctx, cur, "", etag); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "jdupont", "une phrase de passe longue"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("disabled account: %v", err)
	}
	if _, err := s.Update(ctx, cur, "", etag); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("update with a stale ETag: %v", err)
	}
	if l, err := s.List(ctx); err != nil || len(l) != 1 {
		t.Errorf("list: %v, %d", err, len(l))
	}
}
