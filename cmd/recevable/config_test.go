package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// envMap is a fake environment for parseConfig.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// exampleEnv holds the secrets testdata/config/example.yaml reads.
var exampleEnv = map[string]string{
	"RECEVABLE_S3_ACCESS_KEY":      "AKIAEXAMPLE",
	"RECEVABLE_S3_SECRET_KEY":      "s3-secret-value",
	"RECEVABLE_S3_SSE_C_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", // 32 bytes
	"RECEVABLE_IMAP_PP_PASSWORD":   "imap-password-value",
	"RECEVABLE_SESSION_KEY":        "0123456789abcdef0123456789abcdef-session",
	"RECEVABLE_OIDC_CLIENT_SECRET": "oidc-secret-value",
}

func TestLoadExample(t *testing.T) {
	for k, v := range exampleEnv {
		t.Setenv(k, v)
	}
	c, err := LoadConfig("testdata/config/example.yaml")
	if err != nil {
		t.Fatalf("LoadConfig(example.yaml): %v", err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	pp, bob := c.IMAP.Accounts[0], c.IMAP.Accounts[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"storage.s3.secret_key", c.Storage.S3.SecretKey.Reveal(), "s3-secret-value"},
		{"storage.s3.part_size_mb (default)", c.Storage.S3.PartSizeMB, 16},
		{"limits.message_mb", c.Limits.MessageMB, 40},
		{"limits.pdf_pages (default)", c.Limits.PDFPages, 500},
		{"sites[0].timezone (default)", c.Sites[0].Timezone, "Europe/Paris"},
		{"sites[0].invitation_valid_days (default)", c.Sites[0].InvitationValidDays, 90},
		{"sites[1].departments (unquoted)", c.Sites[1].Departments, []string{"93"}},
		{"sites[1].invitation_valid_days", c.Sites[1].InvitationValidDays, 60},
		{"imap.accounts[0].password", pp.Password.Reveal(), "imap-password-value"},
		{"imap.accounts[0].tls (default)", pp.TLS, TLSImplicit},
		{"imap.accounts[0] addr", pp.Addr(), "imap.prefecture.example:993"},
		{"imap.accounts[0].idle (default)", pp.Idle, true},
		{"imap.accounts[0].folders", pp.Folders, []string{"INBOX", "Depots"}},
		{"imap.accounts[0] message limit", pp.MessageLimit(c.Limits), int64(40 << 20)},
		{"imap.accounts[1].idle (explicit false)", bob.Idle, false},
		{"imap.accounts[1].poll_interval", bob.PollInterval, 2 * time.Minute},
		{"imap.accounts[1] addr", bob.Addr(), "imap.sous-prefecture.example:1993"},
		{"imap.accounts[1].token_command", bob.TokenCommand, []string{"/usr/local/bin/fetch-token", "bobigny"}},
		{"drops[0].stable_for (default)", c.Drops[0].StableFor, 30 * time.Second},
		{"drops[0].separators.qr_sheets (default)", c.Drops[0].Separators.QRSheets, true},
		{"drops[0] done dir", c.Drops[0].ResolvedDir(c.Drops[0].DoneDir), "/srv/recevable/scans/pp/done"},
		{"drops[1].separators.qr_sheets (explicit false)", c.Drops[1].Separators.QRSheets, false},
		{"drops[1] failed prefix", c.Drops[1].ResolvedDir(c.Drops[1].FailedDir), "scans/bobigny/failed/"},
		{"ccc.domains[0].selectors[0].key_type (default)", c.CCC.Domains[0].Selectors[0].KeyType, "rsa"},
		{"ccc.impossibility_phrases (default)", len(c.CCC.ImpossibilityPhrases) > 0, true},
		{"workers.pool_size", c.Workers.PoolSize, 8},
		{"workers.lease_ttl (default)", c.Workers.LeaseTTL, time.Minute},
		{"web.oidc.role_claim (default)", c.Web.OIDC.RoleClaim, "roles"},
		{"web.local_accounts", c.Web.LocalAccounts, false},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

// minimalSite is a valid sites section the error cases build on.
const minimalSite = `
sites:
  - id: pp
    name: Préfecture de police
    departments: ["75"]
    postal_address: [Préfecture de police, 75000 Paris]
    email: titres-sejour@prefecture.example
    phone: 01 00 00 00 00
`

const okAccount = `
imap:
  accounts:
    - name: pp
      site: pp
      host: imap.prefecture.example
      username: u
      password: {env: PW}
`

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		path       string // the field the error must name
		msg        string // a part of its message
		line       int    // its line, when not 0
	}{
		{"unknown top-level field", minimalSite + "lgo:\n  level: info\n", "lgo", "did you mean log", 9},
		{"unknown nested field", minimalSite + okAccount + "      pasword: x\n", "imap.accounts[0].pasword", "did you mean password", 17},
		{"unknown field in a secret", minimalSite + "web:\n  session_key: {vault: x}\n", "web.session_key", "{env: NAME}", 0},
		{"secret with env and file", minimalSite + "web:\n  session_key: {env: A, file: /b}\n", "web.session_key", "{env: NAME}", 0},
		{"bad department in second site", minimalSite + `  - id: corse
    name: Préfecture de Corse
    departments: ["2A", "2C"]
    postal_address: [x]
    email: a@corse.example
    phone: "04 00 00 00 00"
`, "sites[1].departments[1]", `"2C" is not a French department number`, 11},
		{"department without its zero", strings.Replace(minimalSite, `["75"]`, `[1]`, 1), "sites[0].departments[0]", `write it "01"`, 5},
		{"department 20", strings.Replace(minimalSite, `["75"]`, `["20"]`, 1), "sites[0].departments[0]", "not a French department", 0},
		{"department listed twice", strings.Replace(minimalSite, `["75"]`, `["75", "75"]`, 1), "sites[0].departments[1]", "listed twice", 0},
		{"no department", strings.Replace(minimalSite, `["75"]`, `[]`, 1), "sites[0].departments", "at least one", 5},
		{"no site", "log:\n  level: info\n", "sites", "at least one site", 0},
		{"duplicate site id", minimalSite + strings.Replace(minimalSite, "sites:\n", "", 1), "sites[1].id", "earlier site", 0},
		{"bad site id", strings.Replace(minimalSite, "id: pp", "id: PP_75", 1), "sites[0].id", "lowercase", 3},
		{"site id read as a reference", strings.Replace(minimalSite, "id: pp", "id: inv-1", 1), "sites[0].id", "inv", 0},
		{"bad email", strings.Replace(minimalSite, "titres-sejour@prefecture.example", "Titres <t@p.example>", 1), "sites[0].email", "bare email", 7},
		{"missing phone", strings.Replace(minimalSite, "    phone: 01 00 00 00 00\n", "", 1), "sites[0].phone", "CRPA R112-5", 0},
		{"unknown time zone", minimalSite + "    timezone: Europe/Lutece\n", "sites[0].timezone", "not a known time zone", 9},
		{"trusted key not base64", minimalSite + "    trusted_keys:\n      - {id: k1, public_key: '!!!'}\n", "sites[0].trusted_keys[0].public_key", "base64", 0},
		{"trusted key too short", minimalSite + "    trusted_keys:\n      - {id: k1, public_key: AAAA}\n", "sites[0].trusted_keys[0].public_key", "3 bytes", 0},
		{"trusted key bad date", minimalSite + "    trusted_keys:\n      - {id: k1, public_key: gpxit7aJ06jTQeSExIlOYzuG3gD0uPVVeqhKFxZxKso=, retired_on: 15/03/2026}\n", "sites[0].trusted_keys[0].retired_on", "YYYY-MM-DD", 0},
		{"missing signing key file", minimalSite + "    signing_key_file: /nonexistent/pp.pem\n", "sites[0].signing_key_file", "no such file", 9},
		{"bad log level", minimalSite + "log:\n  level: loud\n", "log.level", `"loud"`, 10},
		{"storage backend", minimalSite + "storage:\n  backend: nfs\n", "storage.backend", "fs or s3", 10},
		{"s3 endpoint not a URL", minimalSite + "storage:\n  backend: s3\n  s3:\n    endpoint: ftp://s3.example\n    bucket: b-1\n", "storage.s3.endpoint", "must be an http(s) URL", 12},
		{"s3 bucket name", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: My_Bucket\n", "storage.s3.bucket", "not a valid bucket name", 0},
		{"s3 access key alone", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: b-1\n    access_key: {env: AK}\n", "storage.s3.secret_key", "go together", 0},
		{"sse-c without key", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: b-1\n    sse: SSE-C\n", "storage.s3.sse_customer_key", "required with sse SSE-C", 0},
		{"sse-c short key", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: b-1\n    sse: SSE-C\n    sse_customer_key: {env: SHORT}\n", "storage.s3.sse_customer_key", "32 bytes", 0},
		{"sse-c over http", minimalSite + "storage:\n  backend: s3\n  s3:\n    endpoint: http://s3.example\n    bucket: b-1\n    sse: SSE-C\n    sse_customer_key: {env: KEY32}\n", "storage.s3.endpoint", "https", 0},
		{"sse unknown", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: b-1\n    sse: aws:kms\n", "storage.s3.sse", "AES256", 0},
		{"part size", minimalSite + "storage:\n  backend: s3\n  s3:\n    bucket: b-1\n    part_size_mb: 2\n", "storage.s3.part_size_mb", "5 to 5120", 0},
		{"limit zero", minimalSite + "limits:\n  mime_depth: 0\n", "limits.mime_depth", "at least 1", 10},
		{"limit not a number", minimalSite + "limits:\n  message_mb: big\n", "limits.message_mb", `"big": want a whole number`, 10},
		{"duration without unit", minimalSite + "workers:\n  lease_ttl: 60\n", "workers.lease_ttl", "want a duration", 10},
		{"duration in words", minimalSite + okAccount + "      poll_interval: 5 minutes\n", "imap.accounts[0].poll_interval", "want a duration", 17},
		{"list given a string", minimalSite + okAccount + "      folders: INBOX\n", "imap.accounts[0].folders", "want a list", 17},
		{"tls none to a remote host", minimalSite + okAccount + "      tls: none\n", "imap.accounts[0].tls", "loopback", 17},
		{"tls unknown", minimalSite + okAccount + "      tls: ssl\n", "imap.accounts[0].tls", "want tls, starttls or none", 0},
		{"account of an unknown site", minimalSite + strings.Replace(okAccount, "site: pp", "site: lyon", 1), "imap.accounts[0].site", `"lyon" is not the id of a site`, 13},
		{"login without password", minimalSite + strings.Replace(okAccount, "      password: {env: PW}\n", "", 1), "imap.accounts[0].password", "required with auth login", 0},
		{"password env unset", minimalSite + strings.Replace(okAccount, "{env: PW}", "{env: UNSET_VARIABLE}", 1), "imap.accounts[0].password", "environment variable UNSET_VARIABLE", 16},
		{"password file missing", minimalSite + strings.Replace(okAccount, "{env: PW}", "{file: /nonexistent/pw}", 1), "imap.accounts[0].password", "no such file", 16},
		{"ca file missing", minimalSite + okAccount + "      ca_file: /nonexistent/ca.pem\n", "imap.accounts[0].ca_file", "no such file", 17},
		{"ca file without certificate", minimalSite + okAccount + "      ca_file: testdata/config/bad.yaml\n", "imap.accounts[0].ca_file", "no PEM certificate", 17},
		{"oauth without token", minimalSite + okAccount + "      auth: xoauth2\n", "imap.accounts[0].token_file", "token_file or token_command", 0},
		{"oauth with both tokens", minimalSite + okAccount + "      auth: oauthbearer\n      token_file: /t\n      token_command: [/bin/t]\n", "imap.accounts[0].token_command", "not both", 0},
		{"processed folder polled", minimalSite + okAccount + "      folders: [INBOX, Archive]\n      processed_folder: Archive\n", "imap.accounts[0].processed_folder", "also in folders", 0},
		{"bad keyword", minimalSite + okAccount + "      post_action: keyword\n      keyword: \"$Vu par recevable\"\n", "imap.accounts[0].keyword", "not an IMAP keyword", 0},
		{"system flag as keyword", minimalSite + okAccount + "      post_action: keyword\n      keyword: \\Seen\n", "imap.accounts[0].keyword", "system flag", 0},
		{"poll too often", minimalSite + okAccount + "      poll_interval: 1s\n", "imap.accounts[0].poll_interval", "at least 5s", 0},
		{"duplicate account name", minimalSite + okAccount + "    - {name: pp, site: pp, host: h.example, username: u, password: {env: PW}}\n", "imap.accounts[1].name", "earlier account", 0},
		{"drop without path", minimalSite + "drops:\n  - name: scans\n    site: pp\n", "drops[0].path", "required with kind folder", 0},
		{"s3 drop without bucket", minimalSite + "drops:\n  - name: scans\n    site: pp\n    kind: s3\n    prefix: scans/\n", "drops[0].bucket", "required", 0},
		{"s3 drop prefix", minimalSite + "drops:\n  - {name: scans, site: pp, kind: s3, prefix: scans, bucket: b-1}\n", "drops[0].prefix", "end with /", 0},
		{"drop done equals failed", minimalSite + "drops:\n  - {name: scans, site: pp, path: /s, done_dir: out, failed_dir: /s/out}\n", "drops[0].failed_dir", "differ", 0},
		{"blank threshold", minimalSite + "drops:\n  - {name: scans, site: pp, path: /s, separators: {blank_pages: true, blank_ink_percent: 150}}\n", "drops[0].separators.blank_ink_percent", "percentage", 0},
		{"ticket pattern", minimalSite + "ccc:\n  ticket_pattern: \"ticket ([0-9]+\"\n", "ccc.ticket_pattern", "does not compile", 10},
		{"ticket pattern matching nothing", minimalSite + "ccc:\n  ticket_pattern: \"[0-9]*\"\n", "ccc.ticket_pattern", "empty string", 0},
		{"ccc domain", minimalSite + "ccc:\n  domains:\n    - {domain: localhost, selectors: [{selector: s1, public_key: AAAA}]}\n", "ccc.domains[0].domain", "not a domain name", 0},
		{"ccc key not rsa", minimalSite + "ccc:\n  domains:\n    - {domain: ccc.example, selectors: [{selector: s1, public_key: gpxit7aJ06jTQeSExIlOYzuG3gD0uPVVeqhKFxZxKso=}]}\n", "ccc.domains[0].selectors[0].public_key", "not an RSA public key", 0},
		{"ccc ed25519 key length", minimalSite + "ccc:\n  domains:\n    - {domain: ccc.example, selectors: [{selector: s1, key_type: ed25519, public_key: AAAA}]}\n", "ccc.domains[0].selectors[0].public_key", "want 32", 0},
		{"ccc no selector", minimalSite + "ccc:\n  domains:\n    - {domain: ccc.example}\n", "ccc.domains[0].selectors", "at least one", 0},
		{"retry backoff", minimalSite + "workers:\n  retry_backoff_min: 1m\n  retry_backoff_max: 10s\n", "workers.retry_backoff_max", "less than", 11},
		{"web listen", minimalSite + "web:\n  listen: 8080\n", "web.listen", "host:port", 10},
		{"base url", minimalSite + "web:\n  base_url: recevable.example\n", "web.base_url", "must be an http(s) URL", 10},
		{"short session key", minimalSite + "web:\n  session_key: {env: SHORT}\n", "web.session_key", "at least 32", 0},
		{"nobody can log in", minimalSite + "web:\n  local_accounts: false\n", "web.local_accounts", "nobody could log in", 10},
		{"oidc over http", minimalSite + "web:\n  oidc:\n    issuer: http://sso.example\n    client_id: r\n    client_secret: {env: PW}\n", "web.oidc.issuer", "https", 11},
		{"oidc without secret", minimalSite + "web:\n  oidc:\n    issuer: https://sso.example\n    client_id: r\n", "web.oidc.client_secret", "required with an issuer", 0},
		{"metrics on the web port", minimalSite + "metrics:\n  listen: 127.0.0.1:8080\n", "metrics.listen", "differ from web.listen", 10},
		{"duplicate key", minimalSite + "log:\n  level: info\nlog:\n  level: debug\n", "log", "already defined", 11},
		{"yaml syntax", minimalSite + "log: [\n", "", "YAML", 0},
		{"document not a mapping", "- a\n- b\n", "", "want a mapping", 1},
	}
	env := envMap(map[string]string{
		"PW":    "password",
		"SHORT": "c2hvcnQ=",
		"AK":    "access",
		"KEY32": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	})
	for _, tc := range cases {
		_, err := parseConfig([]byte(tc.yaml), env)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: parseConfig = %v, want a *ConfigError naming %q\n%s", tc.name, err, tc.path, tc.yaml)
			continue
		}
		found := false
		for _, is := range ce.Issues {
			if is.Path == tc.path && strings.Contains(is.Msg, tc.msg) {
				found = true
				if tc.line != 0 && is.Line != tc.line {
					t.Errorf("%s: %s at line %d, want %d", tc.name, is.Path, is.Line, tc.line)
				}
			}
		}
		if !found {
			t.Errorf("%s: errors\n%v\nname no %q with %q\n%s", tc.name, err, tc.path, tc.msg, tc.yaml)
		}
	}
}

// TestLoadAcceptable is the other side of TestLoadErrors: near misses that
// are allowed.
func TestLoadAcceptable(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml string }{
		{"minimal", minimalSite},
		{"overseas and Corsica", strings.Replace(minimalSite, `["75"]`, `["2A", "2B", "971", "976", "977", "978", "01", "95"]`, 1) + "    timezone: America/Guadeloupe\n"},
		{"tls none on loopback", minimalSite + strings.Replace(okAccount, "imap.prefecture.example", "127.0.0.1", 1) + "      tls: none\n"},
		{"tls none on localhost", minimalSite + strings.Replace(okAccount, "imap.prefecture.example", "localhost", 1) + "      tls: none\n"},
		{"tls none on ::1", minimalSite + strings.Replace(okAccount, "imap.prefecture.example", "'::1'", 1) + "      tls: none\n"},
		{"oauth with a token file", minimalSite + strings.Replace(okAccount, "      password: {env: PW}\n", "", 1) + "      auth: oauthbearer\n      token_file: /run/token\n"},
		{"keyword action", minimalSite + okAccount + "      post_action: keyword\n      processed_folder: INBOX\n"},
		{"s3 secrets unused with fs", minimalSite + "storage:\n  s3:\n    secret_key: {file: /nonexistent/secret}\n"},
		{"oidc only", minimalSite + "web:\n  local_accounts: false\n  oidc:\n    issuer: https://sso.example/realms/x\n    client_id: r\n    client_secret: {env: PW}\n"},
		{"metrics off", minimalSite + "metrics:\n  listen: \"\"\n"},
		{"merge keys", minimalSite + "imap:\n  accounts:\n    - &a {name: a, site: pp, host: h.example, username: u, password: {env: PW}}\n    - <<: *a\n      name: b\n"},
		{"empty ticket pattern", minimalSite + "ccc:\n  ticket_pattern: \"\"\n"},
	}
	env := envMap(map[string]string{"PW": "password"})
	for _, tc := range cases {
		if _, err := parseConfig([]byte(tc.yaml), env); err != nil {
			t.Errorf("%s: parseConfig: %v\n%s", tc.name, err, tc.yaml)
		}
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig("testdata/config/bad.yaml")
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig(bad.yaml) = %v, want a *ConfigError", err)
	}
	want := []string{
		"testdata/config/bad.yaml:2: log.level:",
		"testdata/config/bad.yaml:6: sites[0].departments[1]: \"2C\" is not a French department number",
		"testdata/config/bad.yaml:15: imap.accounts[0].tls: none is only allowed to a loopback host",
		"testdata/config/bad.yaml:16: imap.accounts[0].password: required with auth login: environment variable RECEVABLE_TEST_UNSET_VARIABLE is empty",
		"imap.accounts[0].username: required",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("LoadConfig(bad.yaml) error lacks %q:\n%s", w, msg)
		}
	}
	// errors.As reaches each issue.
	var is Issue
	if !errors.As(err, &is) || is.Path == "" {
		t.Errorf("errors.As(err, *Issue) = %v", is)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Issues) != 1 || ce.Issues[0].Path != "sites" {
		t.Errorf("LoadConfig(empty) = %v, want only: sites: at least one site is required", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestDefaultConfigValidates(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("DefaultConfig().Warnings() = %v", w)
	}
	// The demo adds an account for its in-process server; that must pass.
	a := defaultIMAPAccount()
	a.Name, a.Site, a.Host, a.Port, a.TLS, a.Username = "demo", "demo", "127.0.0.1", 1143, TLSNone, "demo"
	a.Password = NewSecret("demo")
	c.IMAP.Accounts = append(c.IMAP.Accounts, a)
	if err := c.Validate(); err != nil {
		t.Errorf("DefaultConfig() with a loopback account: %v", err)
	}
	// Validate on a configuration built in code still names fields.
	c.Sites[0].Departments = []string{"2C"}
	var ce *ConfigError
	if err := c.Validate(); !errors.As(err, &ce) || ce.Issues[0].Path != "sites[0].departments[0]" || ce.Issues[0].Line != 0 {
		t.Errorf("Validate(2C) = %v, want sites[0].departments[0] without a line", err)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, path, msg string }{
		{"literal secret", minimalSite + strings.Replace(okAccount, "{env: PW}", "hunter2", 1), "imap.accounts[0].password", "trials only"},
		{"literal secret in an unused part", minimalSite + "storage:\n  s3:\n    secret_key: hunter2\n", "storage.s3.secret_key", "trials only"},
		{"optional env secret unset", minimalSite + "web:\n  session_key: {env: UNSET_VARIABLE}\n", "web.session_key", "UNSET_VARIABLE is not set"},
		{"department served twice", minimalSite + strings.Replace(strings.Replace(minimalSite, "sites:\n", "", 1), "id: pp", "id: sp", 1), "sites[1].departments[0]", `served by site "pp"`},
		{"overseas on Paris time", strings.Replace(minimalSite, `["75"]`, `["974"]`, 1), "sites[0].timezone", "Indian/Reunion"},
		{"http base url", minimalSite + "web:\n  base_url: http://recevable.example\n", "web.base_url", "plain http"},
		{"http s3", minimalSite + "storage:\n  backend: s3\n  s3: {endpoint: http://s3.example, bucket: b-1}\n", "storage.s3.endpoint", "plain http"},
	}
	env := envMap(map[string]string{"PW": "password"})
	for _, tc := range cases {
		c, err := parseConfig([]byte(tc.yaml), env)
		if err != nil {
			t.Errorf("%s: parseConfig: %v", tc.name, err)
			continue
		}
		found := false
		for _, w := range c.Warnings() {
			found = found || (w.Path == tc.path && strings.Contains(w.Msg, tc.msg) && w.Line > 0)
		}
		if !found {
			t.Errorf("%s: warnings %v lack %s: %q with a line", tc.name, c.Warnings(), tc.path, tc.msg)
		}
	}
}

func TestCAFile(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA interne"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig([]byte(minimalSite+okAccount+"      ca_file: "+path+"\n"), envMap(map[string]string{"PW": "pw"})); err != nil {
		t.Errorf("ca_file with a certificate: %v", err)
	}
}

// FuzzParseConfig: no input panics the loader, and what loads validates.
func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"example.yaml", "bad.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimalSite + okAccount))
	f.Add([]byte("---\n"))
	f.Add([]byte("sites: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data, envMap(map[string]string{"PW": "pw"}))
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Errorf("parseConfig succeeded but Validate fails: %v", verr)
			}
		}
	})
}

// Object Lock retention applies to the S3 backend only, in days.
func TestStorageRetention(t *testing.T) {
	s := StorageConfig{Backend: BackendS3, S3: S3Config{ObjectLockRetentionDays: 365}}
	if got, want := s.Retention(), 365*24*time.Hour; got != want {
		t.Errorf("S3 retention = %v, want %v", got, want)
	}
	s.Backend = BackendFS
	if got := s.Retention(); got != 0 {
		t.Errorf("filesystem retention = %v, want 0 (no Object Lock there)", got)
	}
}

// A mailroom batch is far larger than an email: the drop and the split take
// their limit from scan_mb, not message_mb.
func TestScanLimitsFromConfig(t *testing.T) {
	c := DefaultConfig()
	if got := c.Limits.ScanLimits().MaxBytes; got < 250<<20 {
		t.Errorf("default scan limit %d bytes: a 200-page batch at 300 dpi (up to 250 MiB) would be refused", got)
	}
	c.Limits.ScanMB, c.Limits.MessageMB = 300, 10
	l := c.Limits.ScanLimits()
	if l.MaxBytes != 300<<20 || l.MaxPages != c.Limits.PDFPages || l.MaxImagePixels != c.Limits.ImagePixels() {
		t.Errorf("ScanLimits() = %+v, want scan_mb, pdf_pages and image_megapixels", l)
	}
}
