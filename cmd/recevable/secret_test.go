package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

const testSecret = "s3cr3t-Value-that-must-not-leak"

func TestSecretFromEnv(t *testing.T) {
	t.Setenv("RECEVABLE_TEST_SESSION", testSecret+"-0123456789")
	c, err := parseConfig([]byte(minimalSite+"web:\n  session_key: {env: RECEVABLE_TEST_SESSION}\n"), os.LookupEnv)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if got := c.Web.SessionKey.Reveal(); got != testSecret+"-0123456789" {
		t.Errorf("Reveal() = %q", got)
	}
	if got := c.Web.SessionKey.Source(); got != "environment variable RECEVABLE_TEST_SESSION" {
		t.Errorf("Source() = %q", got)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %v, want none", w)
	}
}

func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		warn    string // part of the expected warning, "" for none
	}{
		{"trailing newline trimmed", testSecret + "-0123456789\n", 0o600, testSecret + "-0123456789", ""},
		{"CRLF trimmed", testSecret + "-0123456789\r\n", 0o400, testSecret + "-0123456789", ""},
		{"inner newline kept", "line one of the key...........\nline two\n", 0o600, "line one of the key...........\nline two", ""},
		{"readable by others", testSecret + "-0123456789\n", 0o644, testSecret + "-0123456789", "mode 0644"},
		{"readable by group", testSecret + "-0123456789\n", 0o640, testSecret + "-0123456789", "mode 0640"},
	}
	for i, tc := range cases {
		path := filepath.Join(dir, fmt.Sprintf("secret%d", i))
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		c, err := parseConfig([]byte(minimalSite+"web:\n  session_key: {file: "+path+"}\n"), envMap(nil))
		if err != nil {
			t.Errorf("%s: parseConfig: %v", tc.name, err)
			continue
		}
		if got := c.Web.SessionKey.Reveal(); got != tc.want {
			t.Errorf("%s: Reveal() = %q, want %q", tc.name, got, tc.want)
		}
		var warns []string
		for _, w := range c.Warnings() {
			warns = append(warns, w.Error())
		}
		joined := strings.Join(warns, "\n")
		if tc.warn == "" && joined != "" {
			t.Errorf("%s: warnings %q, want none", tc.name, joined)
		}
		if tc.warn != "" && (!strings.Contains(joined, "web.session_key: file "+path) || !strings.Contains(joined, tc.warn)) {
			t.Errorf("%s: warnings %q, want web.session_key with %q", tc.name, joined, tc.warn)
		}
	}
}

func TestSecretFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, msg string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "not a regular file"},
		{empty, "is empty"},
		{big, "larger than"},
	} {
		_, err := parseConfig([]byte(minimalSite+"web:\n  session_key: {file: "+tc.path+"}\n"), envMap(nil))
		if err == nil || !strings.Contains(err.Error(), "web.session_key: ") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("session_key {file: %s}: %v, want web.session_key: …%s", tc.path, err, tc.msg)
		}
	}
}

// TestSecretNeverPrinted prints a loaded configuration every way a
// developer might, and looks for the secrets' values.
func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "oidc")
	if err := os.WriteFile(file, []byte(testSecret+"-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := minimalSite + strings.Replace(okAccount, "{env: PW}", testSecret+"-literal", 1) + `
web:
  session_key: {env: SESSION}
  oidc:
    issuer: https://sso.example
    client_id: recevable
    client_secret: {file: ` + file + `}
`
	c, err := parseConfig([]byte(yml), envMap(map[string]string{"SESSION": testSecret + "-env-0123456789"}))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if !c.Web.SessionKey.IsSet() || !c.Web.OIDC.ClientSecret.IsSet() || !c.IMAP.Accounts[0].Password.IsSet() {
		t.Fatal("secrets not loaded")
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, *c), fmt.Sprintf(verb, c.Web.SessionKey))
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := zerolog.New(&logged)
	log.Info().Interface("config", c).Stringer("key", c.Web.SessionKey).Msg("")
	outputs = append(outputs, string(j), string(y), logged.String())
	for i, out := range outputs {
		if strings.Contains(out, testSecret) || strings.Contains(out, fmt.Sprintf("%x", testSecret)) {
			t.Errorf("output %d reveals a secret: %s", i, out)
		}
	}
	// The references themselves are not secret, and are kept.
	if !strings.Contains(string(y), "env: SESSION") || !strings.Contains(string(y), "file: "+file) {
		t.Errorf("yaml.Marshal lost the references:\n%s", y)
	}
}

func TestSecretYAMLForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		yaml    string
		kind    secretKind
		wantErr bool
	}{
		{"k: plain", secretLiteral, false},
		{"k: 1234", secretLiteral, false},
		{"k: ~", secretUnset, false},
		{`k: ""`, secretUnset, false},
		{"k: {env: NAME_1}", secretEnv, false},
		{"k: {file: /run/secrets/x}", secretFile, false},
		{"k: {env: 1NAME}", 0, true},
		{"k: {env: \"\"}", 0, true},
		{"k: {env: A, file: /b}", 0, true},
		{"k: {vault: x}", 0, true},
		{"k: [a]", 0, true},
		{"k: {env: [A]}", 0, true},
	}
	for _, tc := range cases {
		var v struct {
			K Secret `yaml:"k"`
		}
		err := yaml.Unmarshal([]byte(tc.yaml), &v)
		if (err != nil) != tc.wantErr {
			t.Errorf("Unmarshal(%q) error = %v, want error %v", tc.yaml, err, tc.wantErr)
			continue
		}
		if err == nil && v.K.kind != tc.kind {
			t.Errorf("Unmarshal(%q) kind = %v, want %v", tc.yaml, v.K.kind, tc.kind)
		}
	}
}
