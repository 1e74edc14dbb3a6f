package validate

import (
	"bytes"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"golang.org/x/image/tiff"
)

// corpusDocuments returns the PDF and image attachments of the shared MIME
// corpus (../../shared/corpus/mime, real messages from ten mail libraries'
// test suites), decoded with go-message. Nil when the corpus is absent.
func corpusDocuments(t testing.TB) [][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../shared/corpus/mime/*/*.eml")
	var docs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := message.Read(bytes.NewReader(raw))
		if e == nil {
			continue // unreadable messages are intake's business, not ours
		}
		_ = err // unknown charsets still give an entity
		e.Walk(func(_ []int, part *message.Entity, err error) error {
			if err != nil || part == nil {
				return nil
			}
			ct, _, _ := part.Header.ContentType()
			_, params, _ := part.Header.ContentDisposition()
			name := strings.ToLower(params["filename"])
			if ct == "application/pdf" || strings.HasPrefix(ct, "image/") || strings.HasSuffix(name, ".pdf") {
				if b, err := io.ReadAll(io.LimitReader(part.Body, 1<<20)); err == nil && len(b) > 0 {
					docs = append(docs, b)
				}
			}
			return nil
		})
	}
	return docs
}

// FuzzCheckDocument: whatever the bytes, CheckDocument returns (no panic
// escapes the guard, no hang: a parse overrunning its bound is a failure
// here), reports only known problem codes, and keeps its text limits.
func FuzzCheckDocument(f *testing.F) {
	img := testImage(16, 12)
	seeds := [][]byte{
		fpdfLetter(f, frLine1, frLine2, frLine3),
		rawPDF("", onePage("/OpenAction << /S /JavaScript /JS (x) >>", "/Annots [6 0 R]", "BT /F1 12 Tf 72 720 Td [(a)-300(b)] TJ ET",
			obj("<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 1 1] >>"))...),
		rawPDF("", onePage("", "", helloContent, rawObj{body: "<< /S /Launch /F (x) >>", compressed: true})...),
		fontPage("<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [7 0 R] /ToUnicode 6 0 R >>",
			"BT /F1 12 Tf 72 720 Td <00010002> Tj ET",
			obj(toUnicode("1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfrange <0001> <0002> <0041> endbfrange")),
			obj("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /W [1 [500 600]] >>")),
		encode(f, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) }),
		encode(f, func(b *bytes.Buffer) error { return png.Encode(b, img) }),
		encode(f, func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) }),
		encode(f, func(b *bytes.Buffer) error { return tiff.Encode(b, img, nil) }),
		pngBomb(60000, 60000),
		[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"),
		[]byte("<!DOCTYPE html><script>x</script>"),
	}
	if chrome, err := os.ReadFile("testdata/docs/chrome-lettre.pdf"); err == nil {
		seeds = append(seeds, chrome)
	}
	seeds = append(seeds, corpusDocuments(f)...)
	for _, s := range seeds {
		f.Add(s, "doc.pdf")
	}
	known := map[string]bool{}
	for code := range docProblemTexts {
		known[strings.TrimSuffix(code, "/owner")] = true
	}
	lim := Limits{ExtractText: true, TextPages: 5, TextBytes: 64 << 10, ParserTimeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		res, err := CheckDocument(t.Context(), bytes.NewReader(data), int64(len(data)), DocInfo{Name: name}, lim)
		if err != nil {
			t.Fatalf("CheckDocument: %v", err)
		}
		for _, p := range res.Problems {
			if !known[p.Code] || p.Text == "" {
				t.Errorf("unknown problem %+v", p)
			}
			if strings.Contains(p.Detail, "no result within") {
				t.Errorf("a parser overran its bound: %s", p.Detail)
			}
		}
		if res.Pages < 0 || res.Width < 0 || res.Height < 0 {
			t.Errorf("negative size in %+v", res)
		}
		if res.Text != nil {
			n := 0
			for _, p := range res.Text.Pages {
				n += len(p)
				if !utf8.ValidString(p) {
					t.Errorf("invalid UTF-8 text %q", p)
				}
			}
			if len(res.Text.Pages) > lim.TextPages || n > lim.TextBytes {
				t.Errorf("text over its limits: %d pages, %d bytes", len(res.Text.Pages), n)
			}
		}
	})
}
