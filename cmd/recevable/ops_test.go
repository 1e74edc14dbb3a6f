package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFilesPresent: the readiness check "config" names each file or
// directory of the configuration that is read while running and is gone,
// by its field.
func TestConfigFilesPresent(t *testing.T) {
	dir := t.TempDir()
	bucket := filepath.Join(dir, "bucket")
	drop := filepath.Join(dir, "drop")
	token := filepath.Join(dir, "token")
	registry := filepath.Join(dir, "ccc.txt")
	for _, d := range []string{bucket, drop} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{token, registry} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &Config{}
	c.Storage.Backend, c.Storage.FS.Dir = BackendFS, bucket
	c.Drops = []Drop{{Name: "s3", Kind: DropS3, Path: filepath.Join(dir, "ignored")}, {Name: "courrier", Kind: DropFolder, Path: drop}}
	c.IMAP.Accounts = []IMAPAccount{{Name: "pp"}, {Name: "sp", TokenFile: token}}
	c.CCC.RegistryFile = registry
	if err := configFilesPresent(c); err != nil {
		t.Fatalf("everything present: %v", err)
	}

	for _, tc := range []struct {
		gone, field string
	}{
		{bucket, "storage.fs.dir"},
		{drop, "drops[1].path"},
		{token, "imap.accounts[1].token_file"},
		{registry, "ccc.registry_file"},
	} {
		if err := os.RemoveAll(tc.gone); err != nil {
			t.Fatal(err)
		}
		err := configFilesPresent(c)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s removed: %v, want an error naming %s", tc.gone, err, tc.field)
		}
	}
	// A file where a directory is expected.
	if err := os.WriteFile(bucket, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := configFilesPresent(c); err == nil || !strings.Contains(err.Error(), "storage.fs.dir: "+bucket+" is not a directory") {
		t.Errorf("bucket dir replaced by a file: %v", err)
	}
}
