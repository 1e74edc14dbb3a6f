package validate

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
)

// scannedLetterPDF returns the letter as the mailroom's scanner would: printed,
// scanned at 300 dpi in grey, askew by angle degrees, with noise, saved as
// JPEG and wrapped in a one-page PDF. For the evidence-search tests as well.
func scannedLetterPDF(t testing.TB, l Letter, angle, noise float64) []byte {
	t.Helper()
	needTool(t, "pdftoppm")
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "lettre.pdf")
	writeLetter(t, pdfPath, l)
	run(t, "pdftoppm", "-r", "300", "-gray", "-png", "-singlefile", pdfPath, filepath.Join(dir, "page"))
	f, err := os.Open(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	scan := simulateScan(toGray(img), angle, noise, 7)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, scan, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return imagesToPDF(t, jpg.Bytes())
}

// imagesToPDF puts each encoded image on an A4 page with pdfcpu.
func imagesToPDF(t testing.TB, imgs ...[]byte) []byte {
	t.Helper()
	api.DisableConfigDir()
	var readers []io.Reader
	for _, b := range imgs {
		readers = append(readers, bytes.NewReader(b))
	}
	var out bytes.Buffer
	if err := api.ImportImages(nil, &out, readers, api.DefaultImportConfig(), nil); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestScannedLetterQR: the QR code is read back from the JPEG taken out of a
// scanned letter, and the token verifies.
func TestScannedLetterQR(t *testing.T) {
	t.Parallel()
	l, claims, ks := testLetter(t)
	for _, tc := range []struct{ angle, noise float64 }{{2, 18}, {-2, 30}} {
		pdf := scannedLetterPDF(t, l, tc.angle, tc.noise)
		images, err := ExtractPDFImages(context.Background(), bytes.NewReader(pdf), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(images) != 1 || images[0].Err != nil || images[0].Format != "jpg" || images[0].Page != 1 {
			t.Fatalf("images of the scanned letter: %+v", images)
		}
		im := images[0]
		if im.Width < 2480 || im.Width > 2481 || im.Height < 3508 || im.Height > 3509 {
			t.Errorf("scan is %d×%d, want about 2480×3508 (A4 at 300 dpi)", im.Width, im.Height)
		}
		start := time.Now()
		payloads, err := DecodeQR(context.Background(), im.Image)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("scan at %.0f°, noise %.0f: %d code(s) in %v (PDF %d bytes)", tc.angle, tc.noise, len(payloads), time.Since(start).Round(time.Millisecond), len(pdf))
		if len(payloads) != 1 {
			t.Fatalf("QR codes on the scanned letter: %q, want 1", payloads)
		}
		got, err := VerifyToken(payloads[0], ks)
		if err != nil || !claimsEqual(got, claims) {
			t.Errorf("token from the scan: %+v, %v; want %+v", got, err, claims)
		}
	}
}

// TestExtractPDFImagesLetter: an emailed letter (not scanned) carries its QR
// code as an image XObject, decodable directly.
func TestExtractPDFImagesLetter(t *testing.T) {
	t.Parallel()
	l, claims, ks := testLetter(t)
	var buf bytes.Buffer
	if err := RenderLetter(&buf, l); err != nil {
		t.Fatal(err)
	}
	images, err := ExtractPDFImages(context.Background(), bytes.NewReader(buf.Bytes()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Err != nil {
		t.Fatalf("images of the letter: %+v", images)
	}
	payloads, err := DecodeQR(context.Background(), images[0].Image)
	if err != nil || len(payloads) != 1 {
		t.Fatalf("DecodeQR(letter's image) = %q, %v", payloads, err)
	}
	if got, err := VerifyToken(payloads[0], ks); err != nil || !claimsEqual(got, claims) {
		t.Errorf("token from the letter's image: %+v, %v", got, err)
	}
}

func TestExtractPDFImagesLimits(t *testing.T) {
	t.Parallel()
	small := func(w, h int) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	twoPages := imagesToPDF(t, small(100, 100), small(400, 300))

	images, err := ExtractPDFImages(context.Background(), bytes.NewReader(twoPages), Limits{})
	if err != nil || len(images) != 2 || images[1].Page != 2 || images[1].Width != 400 || images[1].Height != 300 {
		t.Fatalf("ExtractPDFImages(two pages) = %+v, %v", images, err)
	}
	if _, err := ExtractPDFImages(context.Background(), bytes.NewReader(twoPages), Limits{MaxPages: 1}); !errors.Is(err, ErrPDFTooManyPages) {
		t.Errorf("MaxPages 1 on two pages: %v, want ErrPDFTooManyPages", err)
	}
	images, err = ExtractPDFImages(context.Background(), bytes.NewReader(twoPages), Limits{MaxMegapixels: 0.05})
	if err != nil || len(images) != 2 {
		t.Fatalf("ExtractPDFImages(pixel limit) = %+v, %v", images, err)
	}
	if images[0].Err != nil || images[0].Image == nil {
		t.Errorf("100×100 image under the limit: %+v", images[0])
	}
	if !errors.Is(images[1].Err, ErrImageTooLarge) || images[1].Image != nil {
		t.Errorf("400×300 image over a 50,000-pixel limit: %+v", images[1])
	}

	for name, data := range map[string][]byte{
		"empty":     nil,
		"not a pdf": []byte("hello, world"),
		"truncated": twoPages[:len(twoPages)/2],
	} {
		if _, err := ExtractPDFImages(context.Background(), bytes.NewReader(data), Limits{}); !errors.Is(err, ErrPDFUnreadable) {
			t.Errorf("ExtractPDFImages(%s) error = %v, want ErrPDFUnreadable", name, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ExtractPDFImages(ctx, bytes.NewReader(twoPages), Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ExtractPDFImages(cancelled) error = %v, want context.Canceled", err)
	}
}

func BenchmarkDecodeQRScannedLetter(b *testing.B) {
	l, _, _ := testLetter(b)
	pdf := scannedLetterPDF(b, l, 2, 18)
	images, err := ExtractPDFImages(context.Background(), bytes.NewReader(pdf), Limits{})
	if err != nil || len(images) != 1 {
		b.Fatalf("%+v, %v", images, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := DecodeQR(context.Background(), images[0].Image); err != nil || len(got) != 1 {
			b.Fatalf("DecodeQR = %q, %v", got, err)
		}
	}
}

func BenchmarkExtractPDFImagesScannedLetter(b *testing.B) {
	l, _, _ := testLetter(b)
	pdf := scannedLetterPDF(b, l, 2, 18)
	b.SetBytes(int64(len(pdf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if images, err := ExtractPDFImages(context.Background(), bytes.NewReader(pdf), Limits{}); err != nil || len(images) != 1 {
			b.Fatalf("%+v, %v", images, err)
		}
	}
}
