package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKeyFile writes a key file in the format of
// validate.WritePrivateKeyFile (PEM PKCS #8 with Key-Id and Site headers)
// and returns the public key in configuration form.
func writeKeyFile(t *testing.T, path, id, site string, mode os.FileMode) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Key-Id": id, "Site": site}, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pub)
}

func TestSigningKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "pp.pem")
	pub := writeKeyFile(t, good, "PP-20250106-7KQ3", "pp", 0o600)
	other := filepath.Join(dir, "other.pem")
	otherPub := writeKeyFile(t, other, "PP-20250106-7KQ3", "pp", 0o600)
	lyon := filepath.Join(dir, "lyon.pem")
	lyonPub := writeKeyFile(t, lyon, "LYON-1", "lyon", 0o600)
	open := filepath.Join(dir, "open.pem")
	openPub := writeKeyFile(t, open, "PP-2", "pp", 0o644)
	notKey := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notKey, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	site := func(file, keys string) string {
		return minimalSite + "    signing_key_file: " + file + "\n    trusted_keys:\n" + keys
	}
	key := func(id, pub, extra string) string {
		return "      - {id: " + id + ", public_key: " + pub + extra + "}\n"
	}
	// The good configuration loads.
	if _, err := parseConfig([]byte(site(good, key("PP-20250106-7KQ3", pub, "")+key("OLD", otherPub, ", retired_on: 2025-01-06"))), envMap(nil)); err != nil {
		t.Fatalf("good key file: %v", err)
	}
	cases := []struct{ name, yaml, path, msg string }{
		{"key not listed", site(good, key("OTHER", otherPub, "")), "sites[0].signing_key_file", "is not in trusted_keys: add {id: PP-20250106-7KQ3, public_key: " + pub + "}"},
		{"listed with another public key", site(other, key("PP-20250106-7KQ3", pub, "")), "sites[0].trusted_keys[0].public_key", "is not the public key of signing_key_file"},
		{"key of another site", site(lyon, key("LYON-1", lyonPub, ", site: lyon")), "sites[0].signing_key_file", `the key is for site "lyon"`},
		{"own key listed for another site", site(good, key("PP-20250106-7KQ3", pub, ", site: lyon")), "sites[0].trusted_keys[0].site", "own signing key"},
		{"signing key retired", site(good, key("PP-20250106-7KQ3", pub, ", retired_on: 2025-06-01")), "sites[0].trusted_keys[0].retired_on", "would be refused"},
		{"readable by others", site(open, key("PP-2", openPub, "")), "sites[0].signing_key_file", "chmod 600"},
		{"not a private key", site(notKey, key("X", pub, "")), "sites[0].signing_key_file", "no PEM PRIVATE KEY block"},
		{"duplicate key id", site(good, key("PP-20250106-7KQ3", pub, "")+key("PP-20250106-7KQ3", otherPub, "")), "sites[0].trusted_keys[1].id", "already the id"},
		{"duplicate public key", site(good, key("PP-20250106-7KQ3", pub, "")+key("B", pub, "")), "sites[0].trusted_keys[1].public_key", "same key"},
	}
	for _, tc := range cases {
		_, err := parseConfig([]byte(tc.yaml), envMap(nil))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: parseConfig = %v, want an error at %s", tc.name, err, tc.path)
			continue
		}
		found := false
		for _, is := range ce.Issues {
			found = found || (is.Path == tc.path && strings.Contains(is.Msg, tc.msg) && is.Line > 0)
		}
		if !found {
			t.Errorf("%s: errors\n%v\nname no %s with %q and a line", tc.name, err, tc.path, tc.msg)
		}
	}
}

func TestValidDepartment(t *testing.T) {
	t.Parallel()
	valid := []string{"01", "09", "19", "2A", "2B", "21", "75", "95", "971", "974", "976", "977", "978"}
	invalid := []string{"", "0", "1", "00", "20", "96", "99", "2C", "2a", "970", "979", "980", "988", "075", "7 5", "75 ", "AB"}
	for _, d := range valid {
		if !validDepartment(d) {
			t.Errorf("validDepartment(%q) = false, want true", d)
		}
	}
	for _, d := range invalid {
		if validDepartment(d) {
			t.Errorf("validDepartment(%q) = true, want false", d)
		}
	}
}
