package validate

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestEncodeDecodeQR(t *testing.T) {
	t.Parallel()
	tok, _ := testToken(t)
	img, err := EncodeQR(tok)
	if err != nil {
		t.Fatal(err)
	}
	v, err := QRVersion(tok)
	if err != nil {
		t.Fatal(err)
	}
	modules := 17 + 4*v
	if want := (modules + 2*QRQuietZone) * QRModulePixels; img.Bounds().Dx() != want || img.Bounds().Dy() != want {
		t.Errorf("EncodeQR image %v, want %d px a side (version %d)", img.Bounds(), want, v)
	}
	// The quiet zone is white.
	for i := 0; i < QRQuietZone*QRModulePixels; i++ {
		if img.GrayAt(i, i).Y != 0xff || img.GrayAt(img.Bounds().Dx()-1-i, i).Y != 0xff {
			t.Fatalf("quiet zone not white at %d", i)
		}
	}
	t.Logf("token of %d characters: QR version %d (%d modules), level Q", len(tok), v, modules)
	got, err := DecodeQR(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != tok {
		t.Errorf("DecodeQR(EncodeQR(token)) = %q, want [%q]", got, tok)
	}
	if _, err := EncodeQR(""); err == nil {
		t.Error("EncodeQR(\"\") accepted")
	}
}

func TestDecodeQRBlankAndTwo(t *testing.T) {
	t.Parallel()
	blank := image.NewGray(image.Rect(0, 0, 800, 1000))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	got, err := DecodeQR(context.Background(), blank)
	if err != nil || len(got) != 0 {
		t.Errorf("DecodeQR(blank page) = %q, %v", got, err)
	}

	a, _ := EncodeQR("RCV1:FIRST CODE")
	b, _ := EncodeQR("HTTPS://EXAMPLE.ORG/SECOND")
	page := image.NewGray(image.Rect(0, 0, 1400, 1000))
	draw.Draw(page, page.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(page, a.Bounds().Add(image.Pt(50, 100)), a, image.Point{}, draw.Src)
	draw.Draw(page, b.Bounds().Add(image.Pt(800, 300)), b, image.Point{}, draw.Src)
	got, err = DecodeQR(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !(got[0] == "RCV1:FIRST CODE" || got[1] == "RCV1:FIRST CODE") {
		t.Errorf("DecodeQR(two codes) = %q", got)
	}
}

// TestDecodeQRScannedPage: a code printed 35 mm wide on an A4 page scanned
// askew, noisy and JPEG-compressed, as the mailroom produces it. Noise is the
// standard deviation of Gaussian noise on 0–255 (18: an ordinary office
// scanner; 45: a bad fax-like copy).
func TestDecodeQRScannedPage(t *testing.T) {
	t.Parallel()
	tok, _ := testToken(t)
	tests := []struct {
		dpi          int
		angle, noise float64
		quality      int
	}{
		{300, 2, 18, 70},
		{300, -2, 18, 70},
		{300, 1.3, 30, 50},
		{300, -3, 45, 60},
		{300, 4, 45, 40},
		{200, 2, 30, 60},
		{200, -1.5, 18, 70},
	}
	for i, tc := range tests {
		page := syntheticLetterPage(t, tok, tc.dpi)
		scan := simulateScan(page, tc.angle, tc.noise, uint64(i+1))
		jpg := jpegRoundTrip(t, scan, tc.quality)
		start := time.Now()
		got, err := DecodeQR(context.Background(), jpg)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		t.Logf("%d dpi, %.1f°, noise %.0f, JPEG q%d: %d code(s) in %v", tc.dpi, tc.angle, tc.noise, tc.quality, len(got), time.Since(start).Round(time.Millisecond))
		if len(got) != 1 || got[0] != tok {
			t.Errorf("DecodeQR(scan %+v) = %q, want the token", tc, got)
		}
	}
}

func BenchmarkDecodeQRScannedPage(b *testing.B) {
	tok, _ := testToken(b)
	page := simulateScan(syntheticLetterPage(b, tok, 300), 2, 18, 1)
	jpg := jpegRoundTrip(b, page, 70)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := DecodeQR(context.Background(), jpg)
		if err != nil || len(got) != 1 {
			b.Fatalf("DecodeQR = %q, %v", got, err)
		}
	}
}

// testToken signs a token for site 75 with a test key.
func testToken(t testing.TB) (string, KeySet) {
	t.Helper()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	tok, err := SignToken(testClaims(t, "75"), k)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySet("75", k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return tok, ks
}

// syntheticLetterPage draws a white A4 page at dpi with grey text-like bars
// and the QR code of payload 35 mm wide near the bottom right.
func syntheticLetterPage(t testing.TB, payload string, dpi int) *image.Gray {
	t.Helper()
	mm := func(v float64) int { return int(v * float64(dpi) / 25.4) }
	page := image.NewGray(image.Rect(0, 0, mm(210), mm(297)))
	draw.Draw(page, page.Bounds(), image.White, image.Point{}, draw.Src)
	rnd := rand.New(rand.NewPCG(1, 2))
	for line := 0; line < 40; line++ {
		y := mm(30 + float64(line)*5.5)
		for x := mm(20); x < mm(190); {
			w := mm(2 + rnd.Float64()*12)
			draw.Draw(page, image.Rect(x, y, min(x+w, mm(190)), y+mm(2.5)), image.NewUniform(color.Gray{40}), image.Point{}, draw.Src)
			x += w + mm(2)
		}
	}
	qr, err := EncodeQR(payload)
	if err != nil {
		t.Fatal(err)
	}
	side := mm(35)
	at := image.Pt(mm(150), mm(245))
	// Area-averaged scaling of the code to 35 mm (4×4 samples a pixel), as a
	// scanner's sensor integrates light.
	n := float64(qr.Bounds().Dx())
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			sum := 0
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					qx := int((float64(x) + (float64(sx)+0.5)/4) * n / float64(side))
					qy := int((float64(y) + (float64(sy)+0.5)/4) * n / float64(side))
					sum += int(qr.GrayAt(qx, qy).Y)
				}
			}
			page.SetGray(at.X+x, at.Y+y, color.Gray{uint8(sum / 16)})
		}
	}
	return page
}

// simulateScan rotates src by angle degrees about its centre (bilinear, white
// outside), blurs lightly as optics do and adds Gaussian noise of the given
// standard deviation plus sparse dust specks.
func simulateScan(src *image.Gray, angle, noise float64, seed uint64) *image.Gray {
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	out := image.NewGray(src.Bounds())
	sin, cos := math.Sincos(angle * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 255
		}
		return float64(src.Pix[y*src.Stride+x])
	}
	rnd := rand.New(rand.NewPCG(seed, seed*7+3))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Inverse rotation: where in the source does this pixel come from.
			dx, dy := float64(x)-cx, float64(y)-cy
			sx, sy := cos*dx+sin*dy+cx, -sin*dx+cos*dy+cy
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			v := at(x0, y0)*(1-fx)*(1-fy) + at(x0+1, y0)*fx*(1-fy) + at(x0, y0+1)*(1-fx)*fy + at(x0+1, y0+1)*fx*fy
			// Paper is never pure white nor toner pure black.
			v = 25 + v*0.85 + rnd.NormFloat64()*noise
			if rnd.IntN(2000) == 0 {
				v = 30 // dust
			}
			out.Pix[y*out.Stride+x] = uint8(max(0, min(255, v)))
		}
	}
	return out
}

// jpegRoundTrip encodes img as JPEG at quality q and decodes it again.
func jpegRoundTrip(t testing.TB, img image.Image, q int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkDecodeQRNoCode is the common case of the evidence search: a
// scanned page without any code, where every pass runs.
func BenchmarkDecodeQRNoCode(b *testing.B) {
	page := image.NewGray(image.Rect(0, 0, 2480, 3508))
	draw.Draw(page, page.Bounds(), image.White, image.Point{}, draw.Src)
	jpg := jpegRoundTrip(b, simulateScan(page, 2, 18, 1), 70)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := DecodeQR(context.Background(), jpg); err != nil || len(got) != 0 {
			b.Fatalf("DecodeQR = %q, %v", got, err)
		}
	}
}
