package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// extractCorpus returns shared/corpus/mime beside the repository: a test
// failure in CI when missing, a skip elsewhere.
func extractCorpus(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "mime")
	if _, err := os.Stat(filepath.Join(dir, "expected.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MIME corpus missing (want shared/ beside the repository): %v", err)
		}
		t.Skipf("MIME corpus not found at %s, skipping outside CI: %v", dir, err)
	}
	return dir
}

type oracleEntry struct {
	Attachments []struct {
		Filename *string `json:"filename"`
		Size     int64   `json:"size"`
		SHA256   string  `json:"sha256"`
		Path     string  `json:"path"`
	} `json:"attachments"`
}

func TestExtractJSONMatchesOracle(t *testing.T) {
	dir := extractCorpus(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var oracle map[string]oracleEntry
	if err := json.Unmarshal(data, &oracle); err != nil {
		t.Fatal(err)
	}
	files := []string{
		"webklex-php-imap/issue-414.eml",                             // hostile names
		"mikel-mail/attachment_emails_attachment_message_rfc822.eml", // forwarded message
		"webklex-php-imap/attachment_long_filename.eml",              // RFC 2231 continuations
		"hunnysoft/m4006.eml",                                        // winmail.dat
	}
	args := []string{"extract", "--json"}
	for _, f := range files {
		args = append(args, filepath.Join(dir, filepath.FromSlash(f)))
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("run(%q) = %d, stderr %q", args, code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
	var got []extractResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if len(got) != len(files) {
		t.Fatalf("%d results, want %d", len(got), len(files))
	}
	for i, f := range files {
		want := oracle[f].Attachments
		if len(got[i].Documents) != len(want) {
			t.Errorf("extract %s: %d documents, want %d", f, len(got[i].Documents), len(want))
			continue
		}
		for j, d := range got[i].Documents {
			w := want[j]
			if w.Filename != nil && d.Filename != *w.Filename || d.Size != w.Size || d.SHA256 != w.SHA256 || d.Path != w.Path {
				t.Errorf("extract %s doc %d = %+v, want %+v", f, j, d, w)
			}
			if d.SafeName == "" || strings.ContainsAny(d.SafeName, `/\`) {
				t.Errorf("extract %s doc %d safe_name %q", f, j, d.SafeName)
			}
		}
	}
	if len(got[1].Embedded) != 1 || got[1].Embedded[0].Path != "2" {
		t.Errorf("forwarded message not listed: %+v", got[1].Embedded)
	}
}

func TestExtractFailures(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.eml")
	writeExtractFile(t, good, "From: a@example.org\r\nSubject: ok\r\nContent-Type: application/pdf; name=\"lettre.pdf\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n")
	huge := filepath.Join(tmp, "huge-header.eml")
	writeExtractFile(t, huge, "Subject: "+strings.Repeat("x", 2<<20)+"\r\n\r\nbody\r\n")
	missing := filepath.Join(tmp, "missing.eml")

	var stdout, stderr bytes.Buffer
	code := run([]string{"extract", "--json", good, huge, missing}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stderr has %d lines, want one per failed file:\n%s", len(lines), stderr.String())
	}
	if !strings.Contains(lines[0], huge) || !strings.Contains(lines[0], "mime_header_size") {
		t.Errorf("stderr line %q should name the file and the limit", lines[0])
	}
	if !strings.Contains(lines[1], missing) {
		t.Errorf("stderr line %q should name the file", lines[1])
	}
	var got []extractResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(got) != 3 || got[0].Error != "" || len(got[0].Documents) != 1 || got[1].Error == "" || got[2].Error == "" {
		t.Fatalf("results = %+v", got)
	}
	if d := got[0].Documents[0]; d.Filename != "lettre.pdf" || d.ContentType != "application/pdf" || d.Size != 9 {
		t.Errorf("good file document = %+v", d)
	}
}

func TestExtractTable(t *testing.T) {
	tmp := t.TempDir()
	f := filepath.Join(tmp, "hostile.eml")
	// The name decodes to "a<LF>b<RLO>fdp.exe": shown quoted, stored safe.
	writeExtractFile(t, f, "Subject: test\nContent-Type: application/octet-stream;\n name=\"=?utf-8?Q?a=0Ab=E2=80=AEfdp.exe?=\"\n\nMZ\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"extract", f}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{`"a\nb\u202efdp.exe"`, "a bfdp.exe", "SAFE NAME", "application/octet-stream"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\u202e") {
		t.Errorf("table prints a raw bidi override:\n%s", out)
	}
}

func TestExtractUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"extract"}, &stdout, &stderr); code != 2 {
		t.Errorf("extract without files: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "usage: recevable extract") {
		t.Errorf("stderr = %q, want the usage", stderr.String())
	}
}

func writeExtractFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
