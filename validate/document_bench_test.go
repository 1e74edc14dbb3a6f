package validate

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"testing"

	"github.com/go-pdf/fpdf"
)

// benchPDF is a 100-page letter-like document: a title, forty lines of
// accented text and a reference on every page.
func benchPDF(b *testing.B) []byte {
	return fpdfDoc(b, func(pdf *fpdf.Fpdf) {
		tr := pdf.UnicodeTranslatorFromDescriptor("")
		for p := range 100 {
			pdf.AddPage()
			pdf.SetFont("Helvetica", "B", 14)
			pdf.CellFormat(0, 10, tr(fmt.Sprintf("Pièce %d — Préfecture de police", p+1)), "", 1, "L", false, 0, "")
			pdf.SetFont("Helvetica", "", 10)
			for l := range 40 {
				pdf.CellFormat(0, 5.5, tr(fmt.Sprintf("Ligne %d : après constat de l'impossibilité technique, référence INV-75-2025-7K3QX-%02d.", l+1, p)), "", 1, "L", false, 0, "")
			}
		}
	})
}

func BenchmarkCheckDocumentPDF100Pages(b *testing.B) {
	data := benchPDF(b)
	for _, text := range []bool{false, true} {
		b.Run(fmt.Sprintf("text=%v", text), func(b *testing.B) {
			lim := Limits{ExtractText: text, TextPages: 100, TextBytes: 4 << 20}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := CheckDocument(b.Context(), bytes.NewReader(data), int64(len(data)), DocInfo{Name: "a.pdf"}, lim)
				if err != nil || res.Pages != 100 || len(res.Problems) != 0 {
					b.Fatalf("CheckDocument = %+v, %v", res.Problems, err)
				}
			}
		})
	}
}

// A 20-megapixel photo (5472×3648, a 20 MP phone or compact camera).
func BenchmarkCheckDocumentJPEG20MP(b *testing.B) {
	img := image.NewYCbCr(image.Rect(0, 0, 5472, 3648), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i*7 + i/5472*3) // texture, so the encoder has work
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i), uint8(i/2)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := CheckDocument(b.Context(), bytes.NewReader(data), int64(len(data)), DocInfo{Name: "photo.jpg"}, Limits{})
		if err != nil || res.Width != 5472 || len(res.Problems) != 0 {
			b.Fatalf("CheckDocument = %+v, %v", res, err)
		}
	}
}
