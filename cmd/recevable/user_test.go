package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"recevable/storage"
	"recevable/web"
)

// userConfig writes a configuration with a filesystem bucket.
func userConfig(t *testing.T) (cfg, bucket string) {
	dir := t.TempDir()
	bucket = filepath.Join(dir, "bucket")
	cfg = filepath.Join(dir, "recevable.yaml")
	data := "storage:\n  backend: fs\n  fs:\n    dir: " + bucket + "\n" + minimalSite
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, bucket
}

func runUserT(t *testing.T, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runUserWith(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserCommand(t *testing.T) {
	cfg, dir := userConfig(t)
	const pw = "une phrase de passe solide"
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"add", pw + "\n", []string{"add", "jdupont", "--role", "agent,superviseur", "--site", "pp", "--name", "Jeanne Dupont", "--config", cfg, "--by", "admin"}, 0, "account jdupont created"},
		{"add again", pw + "\n", []string{"add", "jdupont", "--role", "agent", "--site", "pp", "--config", cfg}, 1, ""},
		{"weak password", "court\n", []string{"add", "court", "--role", "agent", "--site", "pp", "--config", cfg}, 1, ""},
		{"no password", "", []string{"add", "vide", "--role", "agent", "--site", "pp", "--config", cfg}, 1, ""},
		{"unknown role", pw + "\n", []string{"add", "x", "--role", "admin", "--site", "pp", "--config", cfg}, 2, ""},
		{"unknown site", pw + "\n", []string{"add", "x", "--role", "agent", "--site", "lyon", "--config", cfg}, 2, ""},
		{"bad login", pw + "\n", []string{"add", "../x", "--role", "agent", "--site", "pp", "--config", cfg}, 1, ""},
		{"every site", pw + "\r\n", []string{"add", "--role", "courrier", "--site", "*", "--config", cfg, "courrier1"}, 0, "account courrier1 created"},
		{"list", "", []string{"list", "--config", cfg}, 0, "agent,superviseur  pp     active  Jeanne Dupont"},
		{"disable", "", []string{"disable", "jdupont", "--config", cfg}, 0, "account jdupont disabled"},
		{"passwd unknown", pw + "\n", []string{"passwd", "personne", "--config", cfg}, 1, ""},
	}
	for _, tc := range tests {
		code, out, errs := runUserT(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("%s: status %d, out %q, err %q; want %d and %q", tc.name, code, out, errs, tc.code, tc.out)
		}
	}
	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	accounts := web.Accounts{Bucket: b}
	ctx := context.Background()
	if _, err := accounts.Authenticate(ctx, "jdupont", pw); !errors.Is(err, web.ErrBadCredentials) {
		t.Errorf("disabled account authenticates: %v", err)
	}
	if code, _, errs := runUserT(t, "", "enable", "jdupont", "--config", cfg); code != 0 {
		t.Fatalf("enable: %s", errs)
	}
	if code, _, errs := runUserT(t, "une autre phrase de passe\n", "passwd", "jdupont", "--config", cfg); code != 0 {
		t.Fatalf("passwd: %s", errs)
	}
	a, err := accounts.Authenticate(ctx, "jdupont", "une autre phrase de passe")
	if err != nil || a.Name != "Jeanne Dupont" || len(a.Roles) != 2 || a.Sites[0] != "pp" {
		t.Errorf("after passwd: %+v, %v", a, err)
	}
	if c, _ := accounts.Authenticate(ctx, "courrier1", pw); c.Sites[0] != web.AllSites {
		t.Errorf("courrier1 sites %v", c.Sites)
	}
	// JSON listing never carries password hashes.
	_, out, _ := runUserT(t, "", "list", "--json", "--config", cfg)
	var list []web.Account
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || strings.Contains(out, "argon2") {
		t.Errorf("list --json: %v %s", err, out)
	}
	// Account changes are audited by the --by account.
	var who []string
	(storage.Audit{Bucket: b}).Range(ctx, a.Created.AddDate(0, 0, -1), a.Created.AddDate(0, 0, 2), func(e storage.AuditEvent) error {
		if strings.HasPrefix(e.Action, "account.") {
			who = append(who, e.Who+":"+e.Action)
		}
		return nil
	})
	if len(who) != 5 || who[0] != "admin:account.create" {
		t.Errorf("audit %v", who)
	}
}
