package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

const helloContent = "BT /F1 12 Tf 72 720 Td (Bonjour) Tj ET"

// pdfcpuEncrypt encrypts data with pdfcpu (AES-256, revision 6: what
// Acrobat and LibreOffice write today).
func pdfcpuEncrypt(t *testing.T, data []byte, userPW, ownerPW string) []byte {
	t.Helper()
	conf := model.NewAESConfiguration(userPW, ownerPW, 256)
	var out bytes.Buffer
	if err := api.Encrypt(bytes.NewReader(data), &out, conf); err != nil {
		t.Fatalf("pdfcpu encrypt: %v", err)
	}
	return out.Bytes()
}

// deepPages builds a page tree nested depth levels deep.
func deepPages(depth int) []rawObj {
	objs := []rawObj{obj("<< /Type /Catalog /Pages 2 0 R >>")}
	for i := 0; i < depth; i++ { // object 2+i is a Pages node whose kid is 3+i
		objs = append(objs, obj(fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", 3+i)))
	}
	objs = append(objs, obj(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 10 10] >>", 1+depth)))
	return objs
}

func TestCheckPDF(t *testing.T) {
	t.Parallel()
	letter := fpdfLetter(t, "Référence : INV-75-2025-7K3QX-42")
	many := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.SetFont("Helvetica", "", 12)
		for i := range 501 {
			pdf.AddPage()
			pdf.Cell(40, 10, fmt.Sprint("page ", i+1))
		}
	})
	ownerRC4 := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.SetProtection(fpdf.CnProtectPrint, "", "proprietaire")
		pdf.AddPage()
		pdf.SetFont("Helvetica", "", 12)
		pdf.Cell(40, 10, "Bonjour")
	})
	userRC4 := fpdfDoc(t, func(pdf *fpdf.Fpdf) {
		pdf.SetProtection(fpdf.CnProtectPrint, "utilisateur", "proprietaire")
		pdf.AddPage()
		pdf.SetFont("Helvetica", "", 12)
		pdf.Cell(40, 10, "Bonjour")
	})
	// A page tree whose kid points back at its parent, and a page listed
	// twice: one page, not a loop and not two.
	cyclic := rawPDF("",
		obj("<< /Type /Catalog /Pages 2 0 R >>"),
		obj("<< /Type /Pages /Kids [3 0 R 2 0 R 3 0 R] /Count 99 >>"),
		obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"))
	noPages := rawPDF("",
		obj("<< /Type /Catalog /Pages 2 0 R >>"),
		obj("<< /Type /Pages /Kids [] /Count 0 >>"))

	tests := []struct {
		name   string
		data   []byte
		want   []string // problem codes, in order
		pages  int
		detail string // substring of the first problem's detail
	}{
		{name: "fpdf letter", data: letter, pages: 1},
		{name: "raw one page", data: rawPDF("", onePage("", "", helloContent)...), pages: 1},
		{name: "owner password RC4", data: ownerRC4, want: []string{ProblemPDFEncrypted}, pages: 1, detail: "owner password only"},
		{name: "owner password AES-256", data: pdfcpuEncrypt(t, letter, "", "proprietaire"), want: []string{ProblemPDFEncrypted}, pages: 1, detail: "owner password only"},
		{name: "user password RC4", data: userRC4, want: []string{ProblemPDFEncrypted}, detail: "user password"},
		{name: "user password AES-256", data: pdfcpuEncrypt(t, letter, "utilisateur", "proprietaire"), want: []string{ProblemPDFEncrypted}, detail: "user password"},
		{name: "501 pages", data: many, want: []string{ProblemPDFTooManyPages}, pages: 501},
		{name: "no pages", data: noPages, want: []string{ProblemPDFNoPages}},
		{name: "cyclic page tree", data: cyclic, pages: 1},
		{name: "page tree 60 deep", data: rawPDF("", deepPages(60)...), pages: 1},
		{name: "page tree 80 deep", data: rawPDF("", deepPages(80)...), want: []string{ProblemPDFUnparseable}, detail: "deeper than"},
		{name: "header only", data: []byte("%PDF-1.7\n"), want: []string{ProblemPDFUnparseable}},
		{name: "truncated", data: letter[:len(letter)/2], want: []string{ProblemPDFUnparseable}},
		{name: "garbage body", data: append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("garbage \x00\xff"), 500)...), want: []string{ProblemPDFUnparseable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, tc.data, DocInfo{Name: "doc.pdf", Declared: "application/pdf"})
			if got := res.Codes(); !slices.Equal(got, tc.want) {
				t.Fatalf("CheckDocument(%s) problems = %v, want %v (%+v)", tc.name, got, tc.want, res.Problems)
			}
			if res.Pages != tc.pages {
				t.Errorf("CheckDocument(%s) pages = %d, want %d", tc.name, res.Pages, tc.pages)
			}
			if res.Type != "application/pdf" {
				t.Errorf("CheckDocument(%s) type = %q", tc.name, res.Type)
			}
			if tc.detail != "" && !strings.Contains(res.Problems[0].Detail, tc.detail) {
				t.Errorf("CheckDocument(%s) detail = %q, want it to contain %q", tc.name, res.Problems[0].Detail, tc.detail)
			}
			for _, p := range res.Problems {
				if p.Text == "" || strings.Contains(p.Text, "%!") {
					t.Errorf("CheckDocument(%s): problem %s has a bad French text %q", tc.name, p.Code, p.Text)
				}
			}
		})
	}
}

// The owner-password file is flagged, and its text is still read: pdfcpu
// decrypted it with the empty user password.
func TestCheckPDFOwnerPasswordText(t *testing.T) {
	t.Parallel()
	data := pdfcpuEncrypt(t, fpdfLetter(t, "Référence : INV-75-2025-7K3QX-42"), "", "proprietaire")
	res := check(t, data, DocInfo{Name: "lettre.pdf"})
	if !res.Has(ProblemPDFEncrypted) {
		t.Fatalf("problems = %v, want pdf_encrypted", res.Codes())
	}
	if !strings.Contains(res.Problems[0].Text, "propriétaire") {
		t.Errorf("owner-only text = %q, want the owner-password wording", res.Problems[0].Text)
	}
	if res.Text == nil || !strings.Contains(res.Text.String(), "Référence : INV-75-2025-7K3QX-42") {
		t.Errorf("text of the owner-password PDF = %v", res.Text)
	}
}

// A caller whose context is cancelled gets its error back, not a problem
// blaming the document.
func TestCheckPDFCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := fpdfLetter(t, "Bonjour")
	_, err := CheckDocument(ctx, bytes.NewReader(data), int64(len(data)), DocInfo{}, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckDocument(cancelled) = %v, want context.Canceled", err)
	}
}
