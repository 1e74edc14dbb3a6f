package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNewLogger: JSON by default with the STYLE.md field names (err, not
// zerolog's error), console when asked (the flag beats the file), the
// level honoured, an unknown format refused.
func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(LogConfig{Format: "json", Level: "info"}, "", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug().Msg("hidden")
	log.Warn().Err(errors.New("boom")).Str("raw", "ab12").Msg("shown")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("json logger wrote %q: %v", buf.String(), err)
	}
	if line["err"] != "boom" || line["raw"] != "ab12" || line["message"] != "shown" || line["level"] != "warn" || line["time"] == nil {
		t.Errorf("json line %v", line)
	}
	if _, ok := line["error"]; ok || strings.Contains(buf.String(), "hidden") {
		t.Errorf("json line %s: an error field, or the debug line at info", buf.String())
	}

	buf.Reset()
	log, err = newLogger(LogConfig{Format: "json", Level: "debug"}, "console", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug().Str("dossier", "pp-2026-000001").Msg("for people")
	out := buf.String()
	if json.Valid([]byte(out)) || !strings.Contains(out, "for people") || !strings.Contains(out, "dossier=pp-2026-000001") {
		t.Errorf("--log-format console over log.format json wrote %q", out)
	}

	if _, err := newLogger(LogConfig{Format: "xml"}, "", &buf); err == nil {
		t.Error("format xml accepted")
	}
}

// TestBuildInfo: recevable_build_info carries the version; a binary built
// without -X main.version (this test) says "dev". (deploy's
// TestDockerfileBuild checks that -X reaches the binary.)
func TestBuildInfo(t *testing.T) {
	if got := buildVersion(); got != "dev" {
		t.Errorf("buildVersion() = %q in a test binary, want dev", got)
	}
	for _, v := range []string{"dev", "v1.4.2-3-gabcdef"} {
		reg := prometheus.NewRegistry()
		registerBuildInfo(reg, v)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP recevable_build_info 1, labelled with the version of the running binary.
# TYPE recevable_build_info gauge
recevable_build_info{version="`+v+`"} 1
`), "recevable_build_info"); err != nil {
			t.Errorf("version %q: %v", v, err)
		}
	}
}
