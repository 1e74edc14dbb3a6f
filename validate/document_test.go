package validate

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDocSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		want string
	}{
		{"pdf", "%PDF-1.7\n", "application/pdf"},
		{"pdf after junk", "\r\n\x00junk%PDF-1.4\n", "application/pdf"},
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"},
		{"tiff le", "II*\x00\x08\x00\x00\x00", "image/tiff"},
		{"tiff be", "MM\x00*\x00\x00\x00\x08", "image/tiff"},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"},
		{"heif", "\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", "image/heif"},
		{"avif", "\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", "image/avif"},
		{"mp4 is not an image", "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"},
		{"exe", "MZ\x90\x00\x03\x00\x00\x00", "application/x-msdownload"},
		{"elf", "\x7fELF\x02\x01\x01", "application/x-executable"},
		{"ole", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"},
		{"html", "<!DOCTYPE html><html><body>", "text/html"},
		{"svg", "<?xml version=\"1.0\"?>\n<!-- x -->\n<svg xmlns=\"http://www.w3.org/2000/svg\">", "image/svg+xml"},
		{"text", "Bonjour, voici mon dossier.", "text/plain"},
		{"zip", "PK\x03\x04\x14\x00", "application/zip"},
		{"binary", "\x00\x01\x02\x03", "application/octet-stream"},
	}
	for _, tc := range tests {
		if got := docSniff([]byte(tc.head)); got != tc.want {
			t.Errorf("docSniff(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckDocumentType(t *testing.T) {
	t.Parallel()
	pdf := rawPDF("", onePage("", "", helloContent)...)
	jpg := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, testImage(8, 8), nil) })
	html := []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
	exe := append([]byte("MZ\x90\x00"), make([]byte, 200)...)
	docx := append([]byte("PK\x03\x04\x14\x00\x06\x00"), make([]byte, 200)...)
	tests := []struct {
		name string
		data []byte
		info DocInfo
		want []string
	}{
		{"pdf as pdf", pdf, DocInfo{Name: "lettre.pdf", Declared: "application/pdf"}, nil},
		{"pdf, octet-stream declared", pdf, DocInfo{Name: "lettre.pdf", Declared: "application/octet-stream"}, nil},
		{"pdf, no name, no type", pdf, DocInfo{}, nil},
		{"pdf, upper-case extension", pdf, DocInfo{Name: "LETTRE.PDF", Declared: "Application/PDF; name=x"}, nil},
		{"jpeg declared image/jpg", jpg, DocInfo{Name: "photo.jpeg", Declared: "image/jpg"}, nil},
		{"jpeg named .pdf (a scan)", jpg, DocInfo{Name: "scan.pdf", Declared: "application/pdf"}, nil},
		{"html named .pdf", html, DocInfo{Name: "lettre.pdf", Declared: "application/pdf"}, []string{ProblemTypeMismatch}},
		{"html declared pdf, no name", html, DocInfo{Declared: "application/pdf"}, []string{ProblemTypeMismatch}},
		{"html as html", html, DocInfo{Name: "page.html", Declared: "text/html"}, nil},
		{"html named .docx", html, DocInfo{Name: "cv.docx"}, []string{ProblemTypeMismatch}},
		{"exe renamed .jpg", exe, DocInfo{Name: "photo.jpg", Declared: "image/jpeg"}, []string{ProblemTypeMismatch, ProblemTypeExecutable}},
		{"exe as exe", exe, DocInfo{Name: "setup.exe", Declared: "application/x-msdownload"}, []string{ProblemTypeExecutable}},
		{"script named .js", []byte("WScript.Echo('x');"), DocInfo{Name: "facture.pdf.js"}, []string{ProblemTypeExecutable}},
		{"docx", docx, DocInfo{Name: "cv.docx", Declared: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}, []string{ProblemTypeNotChecked}},
		{"docx named .pdf", docx, DocInfo{Name: "cv.pdf"}, []string{ProblemTypeMismatch, ProblemTypeNotChecked}},
		{"plain text", []byte("Bonjour"), DocInfo{Name: "message.txt", Declared: "text/plain"}, nil},
		{"empty", nil, DocInfo{Name: "vide.pdf"}, []string{ProblemEmpty}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, tc.data, tc.info)
			if got := res.Codes(); !slices.Equal(got, tc.want) {
				t.Errorf("CheckDocument(%s, %+v) = %v, want %v (%+v)", tc.name, tc.info, got, tc.want, res.Problems)
			}
			for _, p := range res.Problems {
				if strings.Contains(p.Text, "%!") || p.Warning != (p.Code == ProblemTypeNotChecked) {
					t.Errorf("CheckDocument(%s): problem %+v", tc.name, p)
				}
			}
		})
	}
}

func TestCheckDocumentTooLarge(t *testing.T) {
	t.Parallel()
	data := rawPDF("", onePage("", "", helloContent)...)
	res, err := CheckDocument(t.Context(), bytes.NewReader(data), int64(len(data)), DocInfo{Name: "a.pdf"}, Limits{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Codes(), []string{ProblemTooLarge}) || res.Pages != 0 || res.Type != "application/pdf" {
		t.Fatalf("CheckDocument(over MaxBytes) = %+v", res)
	}
}

func TestCheckFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lettre.pdf")
	if err := os.WriteFile(path, fpdfLetter(t, "Bonjour"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := CheckFile(t.Context(), path, DocInfo{Name: "lettre.pdf"}, Limits{})
	if err != nil || res.Pages != 1 || len(res.Problems) != 0 {
		t.Fatalf("CheckFile = %+v, %v", res, err)
	}
	if _, err := CheckFile(t.Context(), path+".absent", DocInfo{}, Limits{}); err == nil {
		t.Fatal("CheckFile(missing file) succeeded")
	}
}

// A reader that fails is the caller's infrastructure failing: an error,
// not a problem with the document.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, os.ErrClosed }

func TestCheckDocumentReadError(t *testing.T) {
	t.Parallel()
	if _, err := CheckDocument(t.Context(), failingReader{}, 100, DocInfo{}, Limits{}); err == nil {
		t.Fatal("CheckDocument(failing reader) succeeded")
	}
}
