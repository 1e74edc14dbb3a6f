package validate

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
)

func TestCheckPDFActiveContent(t *testing.T) {
	t.Parallel()
	js := "<< /S /JavaScript /JS (app.alert\\(1\\)) >>"
	withJS := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.SetJavascript("app.alert('bonjour');")
		pdf.AddPage()
	})
	attached := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.SetAttachments([]fpdf.Attachment{{Content: []byte("MZ\x90\x00"), Filename: "outil.exe"}})
		pdf.AddPage()
	})
	tests := []struct {
		name string
		data []byte
		want []string
		raw  bool // the raw bytes alone show it (false: only the table walk can)
	}{
		{name: "fpdf JavaScript name tree", data: withJS, want: []string{ProblemPDFJavaScript}, raw: true},
		{name: "OpenAction JavaScript", data: rawPDF("", onePage("/OpenAction "+js, "", helloContent)...), want: []string{ProblemPDFJavaScript}, raw: true},
		{name: "page AA JavaScript", data: rawPDF("", onePage("", "/AA << /O 6 0 R >>", helloContent, obj(js))...), want: []string{ProblemPDFJavaScript}, raw: true},
		// An object no page, annotation or catalog entry points to, inside a
		// compressed object stream: invisible in the bytes and from the
		// catalog; the walk over the cross-reference table finds it.
		{name: "orphan JavaScript in object stream", data: rawPDF("", onePage("", "", helloContent, rawObj{body: js, compressed: true})...), want: []string{ProblemPDFJavaScript}},
		// Names written with #xx escapes (ISO 32000-1 §7.3.5) read the same.
		{name: "escaped names", data: rawPDF("", onePage("/OpenAction << /S /J#61vaScript /J#53 (x) >>", "", helloContent)...), want: []string{ProblemPDFJavaScript}},
		{name: "Launch action", data: rawPDF("", onePage("/OpenAction << /S /Launch /F (cmd.exe) >>", "", helloContent)...), want: []string{ProblemPDFLaunchAction}, raw: true},
		{name: "fpdf embedded file", data: attached, want: []string{ProblemPDFEmbeddedFile}, raw: true},
		// A file attachment annotation whose file specification is
		// compressed: only the annotation's subtype shows.
		{name: "file attachment annotation", data: rawPDF("", onePage("", "/Annots [6 0 R]", helloContent,
			obj("<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] /FS 7 0 R >>"),
			rawObj{body: "<< /Type /Filespec /F (a.exe) >>", compressed: true})...), want: []string{ProblemPDFEmbeddedFile}, raw: true},
		{name: "RichMedia annotation", data: rawPDF("", onePage("", "/Annots [6 0 R]", helloContent, obj("<< /Type /Annot /Subtype /RichMedia /Rect [0 0 10 10] >>"))...), want: []string{ProblemPDFRichMedia}, raw: true},
		{name: "XFA form", data: rawPDF("", onePage("/AcroForm << /Fields [] /XFA 6 0 R >>", "", helloContent, obj(rawStream("", "<xdp:xdp/>")))...), want: []string{ProblemPDFXFA}, raw: true},
		{name: "everything", data: rawPDF("", onePage("/OpenAction "+js+" /AcroForm << /XFA [] >>", "/AA << /C << /S /Launch /F (x) >> >>", helloContent)...),
			want: []string{ProblemPDFJavaScript, ProblemPDFLaunchAction, ProblemPDFXFA}, raw: true},
		// A longer name is not the name.
		{name: "lookalikes", data: rawPDF("", onePage("/JSX 1 /LaunchDate (x)", "", helloContent)...)},
		// Text that spells a name is not one: the raw scan would say so,
		// which is why it only runs on files pdfcpu cannot read.
		{name: "names in page text", data: rawPDF("", onePage("", "", "BT /F1 12 Tf 72 720 Td (/JS and /Launch in text) Tj ET")...), raw: true},
		// A file pdfcpu cannot read is still scanned.
		{name: "unparseable with JavaScript", data: []byte("%PDF-1.4\n1 0 obj << /S /JavaScript /JS (x) >> endobj\n%%EOF"),
			want: []string{ProblemPDFUnparseable, ProblemPDFJavaScript}, raw: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, tc.data, DocInfo{Name: "doc.pdf"})
			if got := res.Codes(); !slices.Equal(got, tc.want) {
				t.Fatalf("CheckDocument(%s) problems = %v, want %v (%+v)", tc.name, got, tc.want, res.Problems)
			}
			raw, err := chkActiveRaw(t.Context(), bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			if sawRaw := len(raw) > 0; sawRaw != tc.raw {
				t.Errorf("chkActiveRaw(%s) = %v, want found=%v", tc.name, raw, tc.raw)
			}
		})
	}
}

// The raw scan reads in chunks: a name straddling two chunks is found, and
// a name cut by a chunk end is not mistaken for a shorter one.
func TestChkActiveRawChunks(t *testing.T) {
	t.Parallel()
	for _, off := range []int{1<<20 - 3, 1<<20 - 1, 1 << 20, 1<<20 + 20} {
		data := bytes.Repeat([]byte{' '}, 1<<20+64)
		copy(data[off:], "/JS ")
		ps, err := chkActiveRaw(t.Context(), bytes.NewReader(data), int64(len(data)))
		if err != nil || len(ps) != 1 || ps[0].Code != ProblemPDFJavaScript {
			t.Errorf("chkActiveRaw(/JS at %d) = %v, %v", off, ps, err)
		}
		copy(data[off:], "/JSX")
		if ps, _ := chkActiveRaw(t.Context(), bytes.NewReader(data), int64(len(data))); len(ps) != 0 {
			t.Errorf("chkActiveRaw(/JSX at %d) = %v, want nothing", off, ps)
		}
	}
	if !chkHasName([]byte("<< /JS"), "/JS", true) || chkHasName([]byte("<< /JS"), "/JS", false) {
		t.Error("chkHasName: the end of the data is a delimiter only at the end of the file")
	}
}

// No active content is reported on ordinary documents: pdfcpu's sample
// files (Word, InDesign, LaTeX, Chrome, macOS…) and ours.
func TestCheckPDFActiveNoFalsePositive(t *testing.T) {
	t.Parallel()
	for _, f := range pdfcpuSamples(t) {
		res := checkFile(t, f)
		for _, p := range res.Problems {
			if strings.HasPrefix(p.Code, "pdf_") && p.Code != ProblemPDFUnparseable {
				t.Errorf("%s: unexpected %s (%s)", f, p.Code, p.Detail)
			}
		}
	}
}
