package validate

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	k, err := GenerateKey("2a", date(2026, 1, 15), nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Site != "2a" || !regexp.MustCompile(`^2A-20260115-[0-9A-HJKMNP-TV-Z]{4}$`).MatchString(k.ID) {
		t.Errorf("GenerateKey(2a) = %s of site %s, want 2A-20260115-XXXX of 2a", k.ID, k.Site)
	}
	long, err := GenerateKey(strings.Repeat("a", 32), date(2026, 1, 15), nil)
	if err != nil || !validKeyID(long.ID) {
		t.Errorf("GenerateKey(32-character site) = %q, %v", long.ID, err)
	}
	if _, err := GenerateKey("Paris", date(2026, 1, 15), nil); !errors.Is(err, ErrRefSite) {
		t.Errorf("GenerateKey(Paris) error = %v, want ErrRefSite", err)
	}
}

func TestPrivateKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	path := filepath.Join(dir, "75.key")
	if err := WritePrivateKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadPrivateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Site != k.Site || !got.Private.Equal(k.Private) {
		t.Errorf("ReadPrivateKeyFile = %s/%s, want %s/%s (or a different key)", got.ID, got.Site, k.ID, k.Site)
	}
	// The key read back signs tokens the original's public key verifies.
	tok, err := SignToken(testClaims(t, "75"), got)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := NewKeySet("75", k.Public())
	if _, err := VerifyToken(tok, ks); err != nil {
		t.Errorf("token signed with the key read back: %v", err)
	}

	if err := WritePrivateKeyFile(path, testKey(t, "75", date(2026, 1, 15), 2)); !errors.Is(err, os.ErrExist) {
		t.Errorf("WritePrivateKeyFile over an existing key: %v, want os.ErrExist", err)
	}
	if again, _ := ReadPrivateKeyFile(path); !again.Private.Equal(k.Private) {
		t.Error("existing key file was modified")
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivateKeyFile(path); !errors.Is(err, ErrKeyFileMode) {
		t.Errorf("ReadPrivateKeyFile(0640) error = %v, want ErrKeyFileMode", err)
	}
}

func TestPrivateKeyFileInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	good := filepath.Join(dir, "good.key")
	if err := WritePrivateKeyFile(good, k); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"not PEM", "hello"},
		{"bad site header", strings.Replace(string(data), "Site: 75", "Site: Paris", 1)},
		{"no key id", strings.Replace(string(data), "Key-Id: "+k.ID+"\n", "", 1)},
		{"public key block", "-----BEGIN PUBLIC KEY-----\nKey-Id: " + k.ID + "\nSite: 75\n\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPrivateKeyFile(p); !errors.Is(err, ErrKeyFile) {
			t.Errorf("ReadPrivateKeyFile(%s) error = %v, want ErrKeyFile", tc.name, err)
		}
	}
}

func TestPublicKeyString(t *testing.T) {
	t.Parallel()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	s := FormatPublicKey(k.Public().Key)
	got, err := ParsePublicKey(s)
	if err != nil || !got.Equal(k.Public().Key) {
		t.Errorf("ParsePublicKey(%q) = %x, %v", s, got, err)
	}
	for _, bad := range []string{"", "not base64!", "AAAA", s + "AAAA"} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrPublicKey) {
			t.Errorf("ParsePublicKey(%q) error = %v, want ErrPublicKey", bad, err)
		}
	}
}

func TestNewKeySet(t *testing.T) {
	t.Parallel()
	a := testKey(t, "75", date(2026, 1, 15), 1).Public()
	b := testKey(t, "75", date(2026, 6, 1), 2).Public()
	if ks, err := NewKeySet("75", a, b); err != nil || ks.Len() != 2 {
		t.Fatalf("NewKeySet(two keys) = %d keys, %v", ks.Len(), err)
	}
	if _, err := NewKeySet("75", a, a); !errors.Is(err, ErrKeyID) {
		t.Errorf("duplicate key id: %v, want ErrKeyID", err)
	}
	badID := a
	badID.ID = "75 2026"
	if _, err := NewKeySet("75", badID); !errors.Is(err, ErrKeyID) {
		t.Errorf("key id with a space: %v, want ErrKeyID", err)
	}
	noSite := a
	noSite.Site = ""
	if _, err := NewKeySet("75", noSite); !errors.Is(err, ErrRefSite) {
		t.Errorf("key without site: %v, want ErrRefSite", err)
	}
	short := a
	short.Key = short.Key[:10]
	if _, err := NewKeySet("75", short); !errors.Is(err, ErrPublicKey) {
		t.Errorf("short key: %v, want ErrPublicKey", err)
	}
}

// TestKeyRotation: during a rotation both keys verify; once the old key is
// retired, what it signed before stays valid and what it signs after does not.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	old := testKey(t, "75", date(2025, 1, 15), 1)
	cur := testKey(t, "75", date(2026, 1, 15), 2)
	c := testClaims(t, "75")
	before, _ := SignToken(c, old) // issued 2026-03-02
	late := c
	late.IssuedOn, late.ExpiresOn = date(2026, 4, 1), date(2026, 7, 1)
	after, _ := SignToken(late, old)
	fresh, _ := SignToken(late, cur)

	retired := old.Public()
	retired.RetiredOn = date(2026, 3, 15)
	ks, err := NewKeySet("75", retired, cur.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyToken(before, ks); err != nil {
		t.Errorf("token of the old key issued before retirement: %v", err)
	}
	if _, err := VerifyToken(after, ks); !errors.Is(err, ErrKeyRetired) {
		t.Errorf("token of the old key issued after retirement: %v, want ErrKeyRetired", err)
	}
	if got, err := VerifyToken(fresh, ks); err != nil || got.KeyID != cur.ID {
		t.Errorf("token of the new key: %+v, %v", got, err)
	}
}
