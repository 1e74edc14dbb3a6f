package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"recevable/validate"
)

func TestKeysGenerate(t *testing.T) {
	dir := t.TempDir()
	out := mustCLI(t, "keys", "generate", "--site", "sp-bobigny", "--dir", dir)
	m := reKeyLine.FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], "SPBOBIGNY-") {
		t.Fatalf("keys generate output:\n%s", out)
	}
	st, err := os.Stat(m[3])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, mode %v", m[3], err, st.Mode())
	}
	k, err := validate.ReadPrivateKeyFile(m[3])
	if err != nil || k.ID != m[1] || k.Site != "sp-bobigny" {
		t.Fatalf("ReadPrivateKeyFile = %+v, %v", k, err)
	}
	if !strings.Contains(out, "public_key: "+validate.FormatPublicKey(k.Public().Key)) || !strings.Contains(out, "signing_key_file: "+m[3]) {
		t.Errorf("the output does not give the configuration lines:\n%s", out)
	}
	// Never over an existing key.
	if code, _, errOut := runCLI(t, "keys", "generate", "--site", "sp-bobigny", "--out", m[3]); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("generate over an existing file: status %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"keys", "generate"}, {"keys", "generate", "--site", "Bad Site", "--dir", dir}, {"keys", "frobnicate"}} {
		if code, _, _ := runCLI(t, args...); code == 0 {
			t.Errorf("recevable %v: status 0", args)
		}
	}
	if code, _, errOut := runCLI(t, "keys", "generate", "--site", "13", "--config", filepath.Join(dir, "none.yaml")); code != 1 || errOut == "" {
		t.Errorf("generate with a missing config: status %d", code)
	}
}

func TestKeysListRetire(t *testing.T) {
	w := newCLIWorld(t)
	out := mustCLI(t, "keys", "list", "--config", w.cfg)
	for _, k := range w.keys {
		if !strings.Contains(out, k.id) || !strings.Contains(out, k.pub) {
			t.Errorf("keys list lacks %s:\n%s", k.id, out)
		}
	}
	if strings.Count(out, "signing") != 2 {
		t.Errorf("keys list: want both keys signing:\n%s", out)
	}
	code, _, errOut := runCLI(t, "keys", "retire", w.keys["75"].id, "--config", w.cfg)
	if code != 1 || !strings.Contains(errOut, "signing key of site 75") {
		t.Errorf("retire a signing key: status %d, %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "keys", "retire", "NOPE-1", "--config", w.cfg); code != 1 {
		t.Errorf("retire an unknown key: status %d", code)
	}
	// Site 93 switches to a new key: the old one, still listed by site 75
	// and no longer signing, can be retired.
	data, _ := os.ReadFile(w.cfg)
	newKey := mustCLI(t, "keys", "generate", "--site", "93", "--dir", w.dir)
	m, p := reKeyLine.FindStringSubmatch(newKey), rePubLine.FindStringSubmatch(newKey)
	old := w.keys["93"]
	cfg := strings.Replace(string(data), "signing_key_file: "+old.file, "signing_key_file: "+m[3], 1)
	cfg = strings.Replace(cfg, "      - {id: "+old.id+", public_key: \""+old.pub+"\"}\n",
		"      - {id: "+old.id+", public_key: \""+old.pub+"\", retired_on: 2026-01-01}\n      - {id: "+m[1]+", public_key: \""+p[1]+"\"}\n", 1)
	if err := os.WriteFile(w.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, "keys", "retire", old.id, "--on", "2026-01-01", "--config", w.cfg)
	if !strings.Contains(out, "retired_on: 2026-01-01") || !strings.Contains(out, "(site 75)") || !strings.Contains(out, "(site 93)") {
		t.Errorf("keys retire:\n%s", out)
	}
	out = mustCLI(t, "keys", "list", "--config", w.cfg)
	if !strings.Contains(out, "retired since 2026-01-01") {
		t.Errorf("keys list after the switch:\n%s", out)
	}
	// The retirement set on one site applies to every site that trusts it.
	c, err := LoadConfig(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := trustedKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == old.id && k.RetiredOn.IsZero() {
			t.Errorf("key %s not retired in the merged set", k.ID)
		}
	}
}
