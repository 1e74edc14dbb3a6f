package validate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

const (
	frLine1 = "Préfecture de police — Bureau des étrangers"
	frLine2 = "Référence de l'invitation : INV-75-2025-7K3QX-42"
	frLine3 = "Élève, garçon, œuvre, naïve, déjà, où, Noël, « guillemets », coût : 25 €."
)

// extract runs ExtractPDFText with default limits.
func extract(t testing.TB, data []byte) *PDFText {
	t.Helper()
	text, err := ExtractPDFText(t.Context(), bytes.NewReader(data), int64(len(data)), Limits{})
	if err != nil {
		t.Fatalf("ExtractPDFText: %v", err)
	}
	return text
}

// fontPage is a one-page document whose /F1 is the font object fontBody
// (object 5), with more objects from 6 on.
func fontPage(fontBody, content string, extra ...rawObj) []byte {
	objs := onePage("", "", content, extra...)
	objs[4] = obj(fontBody)
	return rawPDF("", objs...)
}

// toUnicode is a ToUnicode CMap stream body with the given sections.
func toUnicode(sections string) string {
	return rawStream("", "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CMapName /Test def\n/CMapType 2 def\n"+
		sections+"\nendcmap CMapName currentdict /CMap defineresource pop end end")
}

// fpdfUTF8Letter embeds DejaVu Sans Condensed (shipped with fpdf) as a
// subset TrueType: a Type0 font, Identity-H codes, text only through the
// ToUnicode CMap fpdf writes.
func fpdfUTF8Letter(t testing.TB, lines ...string) []byte {
	ttf, err := os.ReadFile(filepath.Join(moduleDir(t, "github.com/go-pdf/fpdf"), "font", "DejaVuSansCondensed.ttf"))
	if err != nil {
		t.Fatal(err)
	}
	return fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.AddUTF8FontFromBytes("dejavu", "", ttf)
		pdf.AddPage()
		pdf.SetFont("dejavu", "", 12)
		for _, l := range lines {
			pdf.CellFormat(0, 8, l, "", 1, "L", false, 0, "")
		}
	})
}

func TestExtractPDFText(t *testing.T) {
	t.Parallel()
	chrome, err := os.ReadFile("testdata/docs/chrome-lettre.pdf")
	if err != nil {
		t.Fatal(err)
	}
	var stamped bytes.Buffer
	wm, err := api.TextWatermark("Reçu le 12/03/2025 à la préfecture", "font:Helvetica, points:14, rot:0, scale:0.5 abs, pos:bl", true, false, types.POINTS)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.AddWatermarks(bytes.NewReader(fpdfLetter(t, "Bonjour")), &stamped, nil, wm, chkPDFConfig(DefaultLimits())); err != nil {
		t.Fatal(err)
	}
	helv := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	tests := []struct {
		name string
		data []byte
		want []string // each must be a line of the text
	}{
		{name: "fpdf core font, WinAnsi", data: fpdfLetter(t, frLine1, frLine2, frLine3), want: []string{frLine1, frLine2, frLine3}},
		{name: "fpdf UTF-8 TrueType, ToUnicode", data: fpdfUTF8Letter(t, frLine1, frLine2, frLine3, "ŒUVRE Straße Łódź"), want: []string{frLine1, frLine2, frLine3, "ŒUVRE Straße Łódź"}},
		{name: "pdfcpu text stamp", data: stamped.Bytes(), want: []string{"Bonjour", "Reçu le 12/03/2025 à la préfecture"}},
		{name: "Chrome print to PDF", data: chrome, want: []string{frLine1, frLine2, frLine3,
			"Après constat de l'impossibilité technique de déposer votre demande en",
			"l'article 4 de l'arrêté du 1er août 2023.",
			"Ce paragraphe est justifié afin que les espaces entre"}},
		// Word and LaTeX write words as TJ arrays without space characters:
		// the gap makes the space, kerning does not.
		{name: "TJ word gaps and kerning", data: fontPage(helv, "BT /F1 12 Tf 72 720 Td [(Demande)-333(de)-280(titre)] TJ 0 -20 Td [(V)60(o)15(il)-20(\\340)] TJ ET"),
			want: []string{"Demande de titre", "Voilà"}},
		// Positioned runs (Chrome, fpdf cells): same line, then a new one.
		{name: "positioned runs", data: fontPage(helv, "BT /F1 10 Tf 1 0 0 1 72 720 Tm (Num\\351ro) Tj 1 0 0 1 120 720 Tm (:) Tj 1 0 0 1 126 720 Tm (42) Tj 1 0 0 1 72 700 Tm (suite) Tj ET"),
			want: []string{"Numéro : 42", "suite"}},
		{name: "quote operators and leading", data: fontPage(helv, "BT /F1 12 Tf 14 TL 72 720 Td (un) Tj (deux) ' 2 1 (trois) \" T* (quatre) Tj ET"),
			want: []string{"un", "deux", "trois", "quatre"}},
		// /Differences with glyph names, ligatures and uniXXXX names.
		{name: "Differences", data: fontPage("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [1 /eacute /f_i /fl /uni00E8 /ecircumflex.sc /g42] >> >>",
			"BT /F1 12 Tf 72 720 Td (pr\\001\\002x r\\001\\003\\004te \\005tre\\006) Tj ET"),
			want: []string{"préfix réflète être"}},
		// A Type 1 font with no /Encoding uses StandardEncoding: 0x27 is ’.
		{name: "StandardEncoding", data: fontPage("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>", "BT /F1 12 Tf 72 720 Td (l'\\256n \\273) Tj ET"),
			want: []string{"l’fin »"}},
		// An embedded Type 1 program's own encoding (TeX fonts) is the base
		// when the font dictionary names none.
		{name: "Type 1 built-in encoding", data: fontPage("<< /Type /Font /Subtype /Type1 /BaseFont /ABCDEF+CMR10 /FontDescriptor 6 0 R >>",
			"BT /F1 12 Tf 72 720 Td (\\001t\\002 \\003) Tj ET",
			obj("<< /Type /FontDescriptor /FontName /ABCDEF+CMR10 /Flags 4 /FontFile 7 0 R >>"),
			obj(rawStream("/Length1 200 /Length2 0 /Length3 0", "%!PS-AdobeFont-1.0: CMR10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\ndup 1 /eacute put\ndup 2 /eacute put\ndup 116 /t put\ndup 3 /germandbls put\nreadonly def\ncurrentdict end\ncurrentfile eexec\n\x00\x01binary"))),
			want: []string{"été ß"}},
		// A composite font with a 2-byte code space, bfchar, bfrange with a
		// base and with an array (a ligature), e + combining acute (NFC).
		{name: "Type0 ToUnicode", data: fontPage("<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [7 0 R] /ToUnicode 6 0 R >>",
			"BT /F1 12 Tf 72 720 Td <00010002000300040005> Tj ET",
			obj(toUnicode("1 begincodespacerange <0000> <FFFF> endcodespacerange\n2 beginbfchar <0001> <0052> <0002> <00650301> endbfchar\n2 beginbfrange <0003> <0003> <0066> <0004> <0005> [<FB01> <00E9>] endbfrange")),
			obj("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>")),
			want: []string{"Réffié"}},
		// Mixed 1- and 2-byte codes from an embedded encoding CMap.
		{name: "Type0 mixed code space", data: fontPage("<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding 8 0 R /DescendantFonts [7 0 R] /ToUnicode 6 0 R >>",
			"BT /F1 12 Tf 72 720 Td <41810142> Tj ET",
			obj(toUnicode("2 begincodespacerange <00> <80> <8100> <FFFF> endcodespacerange\n3 beginbfchar <41> <0041> <8101> <00C9> <42> <0042> endbfchar")),
			obj("<< /Type /Font /Subtype /CIDFontType0 /BaseFont /X /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>"),
			obj(rawStream("/Type /CMap /CMapName /T", "begincmap 2 begincodespacerange <00> <80> <8100> <FFFF> endcodespacerange 1 begincidrange <00> <80> 0 endcidrange endcmap"))),
			want: []string{"AÉB"}},
		// Form XObjects, annotation appearances (a filled form field) and an
		// invisible OCR layer (Tr 3, squeezed with Tz) are text too.
		{name: "form, annotation, OCR layer", data: rawPDF("", onePage("", "/Annots [8 0 R] /Resources << /Font << /F1 5 0 R >> /XObject << /Fm1 6 0 R >> >>",
			"q 1 0 0 1 0 100 cm /Fm1 Do Q BT 3 Tr 50 Tz /F1 12 Tf 72 500 Td (texte) Tj 40 0 Td (OCR) Tj ET",
			obj(rawStream("/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >>", "BT /F1 12 Tf 72 600 Td (dans le formulaire) Tj ET")),
			obj(rawStream("/Type /XObject /Subtype /Form /BBox [0 0 100 20] /Resources << /Font << /F1 5 0 R >> >>", "BT /F1 10 Tf 2 5 Td (INV-75-2025-7K3QX-42) Tj ET")),
			obj("<< /Type /Annot /Subtype /Widget /FT /Tx /Rect [300 100 400 120] /AP << /N 7 0 R >> >>"))...),
			want: []string{"dans le formulaire", "texte OCR", "INV-75-2025-7K3QX-42"}},
		// Inline image data is skipped, whatever bytes it holds.
		{name: "inline image", data: fontPage(helv, "BT /F1 12 Tf 72 720 Td (avant) Tj ET BI /W 4 /H 1 /BPC 8 /CS /G ID \x00(faux) Tj\xffEIx ET\n EI BT /F1 12 Tf 72 700 Td (apr\\350s) Tj ET"),
			want: []string{"avant", "après"}},
		// Text rotated by 90°: each run is a line of its own.
		{name: "rotated", data: fontPage(helv, "BT /F1 12 Tf 0 1 -1 0 300 100 Tm (vertical) Tj 0 1 -1 0 320 100 Tm (suite) Tj ET"),
			want: []string{"vertical", "suite"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := extract(t, tc.data)
			if len(text.Pages) != 1 || text.Truncated {
				t.Fatalf("ExtractPDFText(%s) = %d pages, truncated %v", tc.name, len(text.Pages), text.Truncated)
			}
			lines := strings.Split(text.Pages[0], "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("ExtractPDFText(%s): no line %q in\n%s", tc.name, w, text.Pages[0])
				}
			}
		})
	}
}

// CheckDocument with ExtractText gives the same text as ExtractPDFText.
func TestCheckDocumentText(t *testing.T) {
	t.Parallel()
	data := fpdfLetter(t, frLine2)
	res := check(t, data, DocInfo{Name: "lettre.pdf"})
	if res.Text == nil || res.Text.String() != extract(t, data).String() || !strings.Contains(res.Text.String(), frLine2) {
		t.Fatalf("CheckDocument text = %+v", res.Text)
	}
}

func TestExtractPDFTextLimits(t *testing.T) {
	t.Parallel()
	data := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		tr := pdf.UnicodeTranslatorFromDescriptor("")
		pdf.SetFont("Helvetica", "", 10)
		for p := range 8 {
			pdf.AddPage()
			for range 40 {
				pdf.CellFormat(0, 5, tr(fmt.Sprintf("page %d — éééééééééé", p+1)), "", 1, "L", false, 0, "")
			}
		}
	})
	get := func(lim Limits) *PDFText {
		text, err := ExtractPDFText(t.Context(), bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	if all := get(Limits{}); len(all.Pages) != 8 || all.Truncated || !strings.HasPrefix(all.Pages[7], "page 8 — ") {
		t.Fatalf("all pages: %d pages, truncated %v", len(all.Pages), all.Truncated)
	}
	if some := get(Limits{TextPages: 3}); len(some.Pages) != 3 || !some.Truncated || !strings.HasPrefix(some.Pages[2], "page 3 ") {
		t.Errorf("TextPages 3: %d pages, truncated %v", len(some.Pages), some.Truncated)
	}
	for _, n := range []int{1, 1001, 1002, 2500} {
		cut := get(Limits{TextBytes: n})
		total := 0
		for _, p := range cut.Pages {
			total += len(p)
			if !utf8.ValidString(p) {
				t.Errorf("TextBytes %d: invalid UTF-8 in %q", n, p)
			}
		}
		if total > n || !cut.Truncated {
			t.Errorf("TextBytes %d: %d bytes, truncated %v", n, total, cut.Truncated)
		}
	}
}

// Hostile content: a form drawing itself, forms multiplying (each draws the
// next ten times, ten levels: 10^10 draws), a million q operators, an
// unterminated string. Extraction ends, with what it could read.
func TestExtractPDFTextHostile(t *testing.T) {
	t.Parallel()
	bomb := onePage("", "/Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>", "BT /F1 12 Tf 72 720 Td (d\\351but) Tj ET /X Do")
	for i := range 10 { // object 6+i draws object 7+i ten times
		body := strings.Repeat("/X Do ", 10)
		if i == 9 {
			body = "BT /F1 1 Tf (x) Tj ET"
		}
		bomb = append(bomb, obj(rawStream(fmt.Sprintf("/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /Font << /F1 5 0 R >> /XObject << /X %d 0 R >> >>", 7+i), body)))
	}
	tests := []struct {
		name      string
		data      []byte
		want      string
		truncated bool
	}{
		{"self-drawing form", rawPDF("", onePage("", "/Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>", "/X Do BT /F1 12 Tf 72 720 Td (fin) Tj ET",
			obj(rawStream("/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /X 6 0 R >> >>", "/X Do")))...), "fin", false},
		{"form bomb", rawPDF("", bomb...), "début", true},
		{"a million q", rawPDF("", onePage("", "", strings.Repeat("q ", 1_000_000)+helloContent)...), "Bonjour", false},
		{"unterminated string", rawPDF("", onePage("", "", "BT /F1 12 Tf 72 720 Td (Bonjour) Tj (jamais fermée")...), "Bonjour", false},
		{"garbage operands", rawPDF("", onePage("", "", strings.Repeat("1 2 3 [ << /a [ 4 ", 20000)+"]]]]]>>>> "+helloContent)...), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := extract(t, tc.data)
			if len(text.Pages) != 1 || !strings.HasPrefix(text.Pages[0], tc.want) || text.Truncated != tc.truncated {
				t.Errorf("ExtractPDFText(%s) = %q, truncated %v", tc.name, text.Pages, text.Truncated)
			}
		})
	}
}

func TestExtractPDFTextErrors(t *testing.T) {
	t.Parallel()
	if _, err := ExtractPDFText(t.Context(), bytes.NewReader([]byte("%PDF-1.4\ngarbage")), 16, Limits{}); err == nil {
		t.Error("ExtractPDFText(garbage) succeeded")
	}
	locked := pdfcpuEncrypt(t, fpdfLetter(t, "secret"), "utilisateur", "proprietaire")
	_, err := ExtractPDFText(t.Context(), bytes.NewReader(locked), int64(len(locked)), Limits{})
	var ge *GuardError
	if err == nil || errors.As(err, &ge) {
		t.Errorf("ExtractPDFText(user password) = %v, want pdfcpu's error", err)
	}
}
