package validate

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzExtractPDFTextContent fuzzes what the extractor parses itself, with
// pdfcpu's parsing kept out of the way: a page content stream, a ToUnicode
// CMap, a simple font's /Differences and a composite font's /W array.
func FuzzExtractPDFTextContent(f *testing.F) {
	f.Add("BT /F1 12 Tf 72 720 Td [(Demande)-333(de)] TJ (x) ' 1 2 (y) \" ET /X Do BI /W 1 ID \x00 EI q 1 0 0 1 5 5 cm Q",
		"1 begincodespacerange <00> <FF> endcodespacerange 2 beginbfchar <41> <00E9> <42> /eacute endbfchar 1 beginbfrange <43> <45> [<0066> <FB01> <00650301>] endbfrange",
		"[1 /eacute /f_i /uni00E8 65 /g42]", "[1 [500 600] 10 20 300]")
	f.Add("BT /F2 10 Tf <00410042c3a9> Tj ET", "2 begincodespacerange <00> <7F> <8000> <FFFF> endcodespacerange 1 begincidrange <00> <7F> 0 endcidrange", "[]", "[]")
	f.Fuzz(func(t *testing.T, content, cmap, diffs, widths string) {
		objs := onePage("", "/Resources << /Font << /F1 5 0 R /F2 7 0 R >> /XObject << /X 9 0 R >> >>", content,
			obj(toUnicode(cmap)),
			obj("<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding 10 0 R /DescendantFonts [8 0 R] /ToUnicode 6 0 R >>"),
			obj("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /W "+widths+" >>"),
			obj(rawStream("/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /Font << /F1 5 0 R >> /XObject << /X 9 0 R >> >>", content)),
			obj(rawStream("/Type /CMap", cmap)))
		objs[4] = obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Differences " + diffs + " >> /ToUnicode 6 0 R >>")
		data := rawPDF("", objs...)
		text, err := ExtractPDFText(t.Context(), bytes.NewReader(data), int64(len(data)), Limits{TextBytes: 64 << 10})
		if err != nil {
			return // the fuzzed pieces broke the file's syntax: pdfcpu's business
		}
		for _, p := range text.Pages {
			if !utf8.ValidString(p) || len(p) > 64<<10 {
				t.Errorf("text %q", p)
			}
		}
	})
}
