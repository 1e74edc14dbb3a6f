package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

func TestAssessorFromConfig(t *testing.T) {
	w := newCLIWorld(t)
	c, err := LoadConfig(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := validateSites(c)
	if err != nil {
		t.Fatal(err)
	}
	// Site 93 lists only its own key, yet trusts 75's (listed by 75): an
	// invitation of 75 is recognised as genuine there.
	if _, ok := sites[1].Keys.Lookup(w.keys["75"].id); !ok || sites[1].Keys.Site != "93" {
		t.Errorf("site 93's keys: %+v", sites[1].Keys)
	}
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := assessorFromConfig(c, b, zerolog.Nop(), true)
	if err != nil {
		t.Fatal(err)
	}
	as, err := a.Assess(context.Background(), &validate.Submission{Site: "75", Channel: storage.ChannelEmail, Subject: "rien"})
	if err != nil || as.Decision.Outcome != storage.OutcomeIrrecevablePropose {
		t.Errorf("Assess(nothing) = %+v, %v", as.Decision, err)
	}

	// The same key id with another key is refused.
	c.Sites[1].TrustedKeys = append(c.Sites[1].TrustedKeys, TrustedKey{ID: w.keys["75"].id, Site: "75", PublicKey: w.keys["93"].pub})
	if _, err := trustedKeys(c); err == nil || !strings.Contains(err.Error(), w.keys["75"].id) {
		t.Errorf("conflicting trusted keys: %v", err)
	}
}

// TestConfigSiteCodes: two site ids that give the same reference code are
// refused (validate.SiteCode drops hyphens).
func TestConfigSiteCodes(t *testing.T) {
	w := newCLIWorld(t)
	data, _ := os.ReadFile(w.cfg)
	cfg := strings.Replace(string(data), `- id: "93"`, `- id: "7-5"`, 1)
	if err := os.WriteFile(w.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(w.cfg)
	if err == nil || !strings.Contains(err.Error(), "same invitation reference code") {
		t.Errorf("LoadConfig with sites 75 and 7-5: %v", err)
	}
}
