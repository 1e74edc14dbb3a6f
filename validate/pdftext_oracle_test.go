package validate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// The extractor against an independent one: poppler's pdftotext, on the
// sample PDFs shipped with pdfcpu (Word, InDesign, FrameMaker, LaTeX,
// Chrome, Keynote, cairo, macOS, an OCR'd scan…). Words of three letters or
// more are compared as multisets, per file, over the first five pages.
// Known differences, which the thresholds absorb: pdftotext keeps U+FB01
// ligatures and joins words hyphenated at line ends; we spell ligatures out
// and keep the hyphen.
func TestExtractPDFTextMatchesPdftotext(t *testing.T) {
	t.Parallel()
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext (poppler-utils) is missing; .ci/run installs it")
		}
		t.Skip("pdftotext (poppler-utils) not installed")
	}
	lim := Limits{TextPages: 5}
	for _, f := range pdfcpuSamples(t) {
		out, err := exec.Command(pdftotext, "-l", "5", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext %s: %v", f, err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text, err := ExtractPDFText(t.Context(), bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			t.Errorf("ExtractPDFText(%s): %v", filepath.Base(f), err)
			continue
		}
		want, got := oracleWords(string(out)), oracleWords(text.String())
		wantN, gotN, common := 0, 0, 0
		for w, n := range want {
			wantN += n
			common += min(n, got[w])
		}
		for _, n := range got {
			gotN += n
		}
		if wantN < 20 {
			continue // images only
		}
		recall, precision := float64(common)/float64(wantN), float64(common)/float64(max(gotN, 1))
		if recall < 0.95 || precision < 0.95 {
			t.Errorf("ExtractPDFText(%s): recall %.3f, precision %.3f against pdftotext (%d words)", filepath.Base(f), recall, precision, wantN)
		}
	}
}

func oracleWords(s string) map[string]int {
	s = txLigatures.Replace(s)
	m := map[string]int{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) >= 3 {
			m[strings.ToLower(w)]++
		}
	}
	return m
}
