package validate

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-pdf/fpdf"
)

// Fixtures for the document checks, built in Go where possible: hostile
// PDFs are written object by object (rawPDF), ordinary ones with fpdf and
// pdfcpu. Committed files in testdata/docs are the ones that need a tool CI
// does not have (Chromium); testdata/docs/README.md says how they were made.

// check runs CheckDocument on data with default limits, text extraction on.
func check(t testing.TB, data []byte, info DocInfo) Result {
	t.Helper()
	lim := DefaultLimits()
	lim.ExtractText = true
	res, err := CheckDocument(context.Background(), bytes.NewReader(data), int64(len(data)), info, lim)
	if err != nil {
		t.Fatalf("CheckDocument(%s): %v", info.Name, err)
	}
	return res
}

// rawObj is one object of a hand-written PDF. In an object stream when
// compressed (rawPDF then writes a cross-reference stream, PDF 1.5).
type rawObj struct {
	body       string
	compressed bool
}

// rawStream formats a stream object body.
func rawStream(dict, data string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// rawPDF writes a PDF whose object i+1 is objs[i]; object 1 must be the
// catalog. trailer adds entries to the trailer dictionary.
func rawPDF(trailer string, objs ...rawObj) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	n := len(objs)
	offs := make([]int, n+3)
	var packed []int
	for i, o := range objs {
		if o.compressed {
			packed = append(packed, i+1)
			continue
		}
		offs[i+1] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o.body)
	}
	if len(packed) == 0 {
		xref := b.Len()
		fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", n+1)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%010d 00000 n \n", offs[i])
		}
		fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", n+1, trailer, xref)
		return b.Bytes()
	}
	// Object stream n+1 holds the compressed objects (ISO 32000-1 §7.5.7),
	// the cross-reference stream n+2 says where everything is (§7.5.8).
	stm, xrefNr := n+1, n+2
	var head, body bytes.Buffer
	index := map[int]int{}
	for k, nr := range packed {
		index[nr] = k
		fmt.Fprintf(&head, "%d %d ", nr, body.Len())
		body.WriteString(objs[nr-1].body + "\n")
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(append(head.Bytes(), body.Bytes()...))
	zw.Close()
	offs[stm] = b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n", stm, len(packed), head.Len(), z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	offs[xrefNr] = b.Len()
	var rows bytes.Buffer
	for i := 0; i <= xrefNr; i++ {
		switch k, ok := index[i]; {
		case i == 0:
			rows.Write([]byte{0, 0, 0, 0, 0, 0xff, 0xff})
		case ok:
			rows.Write([]byte{2, 0, 0, byte(stm >> 8), byte(stm), byte(k >> 8), byte(k)})
		default:
			o := offs[i]
			rows.Write([]byte{1, byte(o >> 24), byte(o >> 16), byte(o >> 8), byte(o), 0, 0})
		}
	}
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R %s /Length %d >>\nstream\n", xrefNr, xrefNr+1, trailer, rows.Len())
	b.Write(rows.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", offs[xrefNr])
	return b.Bytes()
}

// obj is a plain object.
func obj(body string) rawObj { return rawObj{body: body} }

// onePage returns the objects of a one-page document drawing content with
// Helvetica (WinAnsi) as /F1, plus extra objects numbered from 6. catalog
// and page add entries to those dictionaries.
func onePage(catalog, page, content string, extra ...rawObj) []rawObj {
	return append([]rawObj{
		obj("<< /Type /Catalog /Pages 2 0 R " + catalog + " >>"),
		obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
		obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R " + page + " >>"),
		obj(rawStream("", content)),
		obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
	}, extra...)
}

// fpdfDoc renders a document with fpdf: draw adds its content.
func fpdfDoc(t testing.TB, draw func(*fpdf.Fpdf)) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(true)
	draw(pdf)
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatalf("fpdf: %v", err)
	}
	return b.Bytes()
}

// fpdfLetter is a one-page letter in Helvetica, accents through fpdf's
// cp1252 translator (WinAnsiEncoding in the PDF).
func fpdfLetter(t testing.TB, lines ...string) []byte {
	return fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		tr := pdf.UnicodeTranslatorFromDescriptor("")
		pdf.AddPage()
		pdf.SetFont("Helvetica", "", 12)
		for _, l := range lines {
			pdf.CellFormat(0, 8, tr(l), "", 1, "L", false, 0, "")
		}
	})
}

var moduleDirs sync.Map

// moduleDir returns the directory of a module in the module cache, for
// files that ship with our dependencies (fpdf's DejaVu font, pdfcpu's test
// PDFs). The module is in go.mod, so it is there whenever this test builds.
func moduleDir(t testing.TB, mod string) string {
	t.Helper()
	if d, ok := moduleDirs.Load(mod); ok {
		return d.(string)
	}
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-m", "-f", "{{.Dir}}", mod).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("go list -m %s: %v (dir %q)", mod, err, dir)
	}
	moduleDirs.Store(mod, dir)
	return dir
}

// pdfcpuSamples lists the sample PDFs shipped in pdfcpu's module: real
// files from Word, InDesign, FrameMaker, LaTeX, Chrome, Keynote, macOS,
// scanners, cairo…
func pdfcpuSamples(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(moduleDir(t, "github.com/pdfcpu/pdfcpu"), "pkg", "testdata", "*.pdf"))
	if err != nil || len(files) < 40 {
		t.Fatalf("pdfcpu sample PDFs: %d files, %v", len(files), err)
	}
	return files
}

// checkFile runs check on a file.
func checkFile(t testing.TB, path string) Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return check(t, data, DocInfo{Name: filepath.Base(path)})
}
