package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestConfigCheckOK(t *testing.T) {
	for k, v := range exampleEnv {
		t.Setenv(k, v)
	}
	code, out, errOut := runCmd("config", "check", "testdata/config/example.yaml")
	if code != 0 || out != "ok\n" || errOut != "" {
		t.Errorf("config check example.yaml: exit %d, stdout %q, stderr %q; want 0, \"ok\\n\", \"\"", code, out, errOut)
	}
}

func TestConfigCheckErrors(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd("config", "check", "testdata/config/bad.yaml")
	if code != 1 || out != "" {
		t.Errorf("config check bad.yaml: exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{
		"testdata/config/bad.yaml:2: log.level: \"loud\"",
		"testdata/config/bad.yaml:6: sites[0].departments[1]: \"2C\" is not a French department number\n",
		"testdata/config/bad.yaml:15: imap.accounts[0].tls:",
		"testdata/config/bad.yaml: 5 error(s)\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("config check bad.yaml: stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestConfigCheckWarnings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "trial.yaml")
	yml := minimalSite + strings.Replace(okAccount, "{env: PW}", "hunter2", 1)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("config", "check", path)
	if code != 0 || out != "ok\n" {
		t.Errorf("config check trial.yaml: exit %d, stdout %q; want 0, ok", code, out)
	}
	want := path + ":16: warning: imap.accounts[0].password: a literal secret"
	if !strings.Contains(errOut, want) || strings.Contains(errOut, "hunter2") {
		t.Errorf("config check trial.yaml: stderr %q, want %q and no secret", errOut, want)
	}
}

func TestConfigUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"config"}, 2},
		{[]string{"config", "validate"}, 2},
		{[]string{"config", "check"}, 2},
		{[]string{"config", "check", "a.yaml", "b.yaml"}, 2},
		{[]string{"config", "describe", "extra"}, 2},
		{[]string{"config", "-h"}, 0},
		{[]string{"config", "check", filepath.Join(t.TempDir(), "missing.yaml")}, 1},
	}
	for _, tc := range cases {
		if code, _, _ := runCmd(tc.args...); code != tc.code {
			t.Errorf("recevable %s: exit %d, want %d", strings.Join(tc.args, " "), code, tc.code)
		}
	}
	if _, _, errOut := runCmd("help"); !strings.Contains(errOut, "config ") {
		t.Errorf("recevable help does not list config:\n%s", errOut)
	}
}
