package validate

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"time"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// QR codes carry invitation tokens on letters (EncodeQR) and are read back
// from photos and scanned pages (DecodeQR). Only QR: gozxing's DataMatrix
// detector finds codes on tight crops only, never on a whole page.

// qrECLevel is Q (25 % of the codewords recoverable): letters come back
// folded, stamped, photocopied and scanned.
var qrECLevel = decoder.ErrorCorrectionLevel_Q

// QRQuietZone is the white margin EncodeQR leaves around the code, in
// modules (ISO/IEC 18004 asks for 4).
const QRQuietZone = 4

// QRModulePixels is the side of one module in EncodeQR's image: enough for a
// PDF viewer or printer scaling the image without blurring its edges.
const QRModulePixels = 8

// DefaultQRTimeout bounds one DecodeQR call. A 300 dpi A4 page takes about a
// second per pass on one core; the bound allows every pass with margin.
const DefaultQRTimeout = 30 * time.Second

// EncodeQR draws payload as a QR code at error correction level Q, with the
// quiet zone, QRModulePixels per module, black on white.
func EncodeQR(payload string) (*image.Gray, error) {
	hints := map[gozxing.EncodeHintType]interface{}{
		gozxing.EncodeHintType_ERROR_CORRECTION: qrECLevel,
		gozxing.EncodeHintType_MARGIN:           QRQuietZone,
	}
	version, err := QRVersion(payload)
	if err != nil {
		return nil, err
	}
	side := (17 + 4*version + 2*QRQuietZone) * QRModulePixels
	m, err := qrcode.NewQRCodeWriter().Encode(payload, gozxing.BarcodeFormat_QR_CODE, side, side, hints)
	if err != nil {
		return nil, fmt.Errorf("encode qr: %w", err)
	}
	img := image.NewGray(image.Rect(0, 0, m.GetWidth(), m.GetHeight()))
	for y := 0; y < m.GetHeight(); y++ {
		for x := 0; x < m.GetWidth(); x++ {
			if !m.Get(x, y) {
				img.Pix[y*img.Stride+x] = 0xff
			}
		}
	}
	return img, nil
}

// QRVersion returns the QR version (1–40: 17+4·version modules a side)
// EncodeQR uses for payload.
func QRVersion(payload string) (int, error) {
	if payload == "" {
		return 0, errors.New("encode qr: empty payload")
	}
	code, err := encoder.Encoder_encode(payload, qrECLevel, nil)
	if err != nil {
		return 0, fmt.Errorf("encode qr: %w", err)
	}
	return code.GetVersion().GetVersionNumber(), nil
}

// DecodeQR returns the payloads of the QR codes found in img, in the order
// found, without duplicates; none is not an error. It is made for whole
// scanned pages (300 dpi A4, noisy, a few degrees askew) and photos. Passes,
// cheapest and most often successful first, until one finds something:
//  1. a half-size copy (averaging 2×2 pixels smooths scanner noise and JPEG
//     ringing; enough resolution at 300 dpi and over),
//  2. a 3×3 box blur at full size (the same at 150–200 dpi),
//  3. the image as it is (clean renderings with small modules),
//  4. the image with a global instead of a local threshold.
//
// A page without any code goes through all four: about a second for a
// 300 dpi A4 page on one core. gozxing runs under Guard (panics recovered,
// time bounded by DefaultQRTimeout); ctx's cancellation stops between passes.
func DecodeQR(ctx context.Context, img image.Image) ([]string, error) {
	if img.Bounds().Empty() {
		return nil, nil
	}
	return Guard(ctx, "qr_decode", DefaultQRTimeout, func(ctx context.Context) ([]string, error) {
		gray := toGray(img)
		passes := []func() []string{
			func() []string {
				if half := downscale2(gray); half != nil {
					return decodeQRPass(half, false)
				}
				return nil
			},
			func() []string { return decodeQRPass(blur3(gray), false) },
			func() []string { return decodeQRPass(gray, false) },
			func() []string { return decodeQRPass(gray, true) },
		}
		for _, pass := range passes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if found := pass(); len(found) > 0 {
				return found, nil
			}
		}
		return nil, nil
	})
}

// decodeQRPass runs the multi-code reader, then the single-code reader (its
// detector tolerates more), on one binarisation of g.
func decodeQRPass(g *image.Gray, global bool) []string {
	src := newGrayLuminance(g)
	var bin gozxing.Binarizer
	if global {
		bin = gozxing.NewGlobalHistgramBinarizer(src)
	} else {
		bin = gozxing.NewHybridBinarizer(src)
	}
	bmp, err := gozxing.NewBinaryBitmap(bin)
	if err != nil {
		return nil
	}
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	var out []string
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if results, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hints); err == nil {
		for _, r := range results {
			add(r.GetText())
		}
	}
	if len(out) == 0 {
		if r, err := qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			add(r.GetText())
		}
	}
	return out
}

// toGray returns img as 8-bit grey, without copying when it already is, and
// using the luma plane of JPEG images (YCbCr) directly.
func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return m
	case *image.YCbCr:
		g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			copy(g.Pix[y*g.Stride:y*g.Stride+b.Dx()], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
		return g
	}
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	// Transparent pixels count as white paper, not black.
	draw.Draw(g, g.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(g, g.Bounds(), img, b.Min, draw.Over)
	return g
}

// downscale2 halves g by averaging 2×2 blocks; nil when too small to help.
func downscale2(g *image.Gray) *image.Gray {
	w, h := g.Bounds().Dx()/2, g.Bounds().Dy()/2
	if w < 100 || h < 100 {
		return nil
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := g.Pix[(2*y)*g.Stride:]
		r1 := g.Pix[(2*y+1)*g.Stride:]
		o := out.Pix[y*out.Stride:]
		for x := 0; x < w; x++ {
			o[x] = uint8((int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1]) + 2) / 4)
		}
	}
	return out
}

// blur3 is a 3×3 box blur of g; the one-pixel border is copied.
func blur3(g *image.Gray) *image.Gray {
	w, h := g.Bounds().Dx(), g.Bounds().Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		copy(out.Pix[y*out.Stride:y*out.Stride+w], g.Pix[y*g.Stride:])
	}
	for y := 1; y < h-1; y++ {
		r0, r1, r2 := g.Pix[(y-1)*g.Stride:], g.Pix[y*g.Stride:], g.Pix[(y+1)*g.Stride:]
		o := out.Pix[y*out.Stride:]
		for x := 1; x < w-1; x++ {
			s := int(r0[x-1]) + int(r0[x]) + int(r0[x+1]) + int(r1[x-1]) + int(r1[x]) + int(r1[x+1]) +
				int(r2[x-1]) + int(r2[x]) + int(r2[x+1])
			o[x] = uint8((s + 4) / 9)
		}
	}
	return out
}

// grayLuminance feeds an *image.Gray to gozxing without the per-pixel
// interface calls of gozxing.NewLuminanceSourceFromImage (seconds on a
// 300 dpi page).
type grayLuminance struct {
	gozxing.LuminanceSourceBase
	pix []byte // width*height, row-major, no padding
}

func newGrayLuminance(g *image.Gray) *grayLuminance {
	w, h := g.Bounds().Dx(), g.Bounds().Dy()
	pix := g.Pix
	if g.Stride != w || g.Rect.Min != (image.Point{}) {
		pix = make([]byte, w*h)
		for y := 0; y < h; y++ {
			copy(pix[y*w:(y+1)*w], g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y):])
		}
	}
	return &grayLuminance{LuminanceSourceBase: gozxing.LuminanceSourceBase{Width: w, Height: h}, pix: pix[:w*h]}
}

func (l *grayLuminance) GetRow(y int, row []byte) ([]byte, error) {
	if y < 0 || y >= l.Height {
		return nil, fmt.Errorf("row %d outside 0..%d", y, l.Height-1)
	}
	if len(row) < l.Width {
		row = make([]byte, l.Width)
	}
	copy(row, l.pix[y*l.Width:(y+1)*l.Width])
	return row, nil
}

func (l *grayLuminance) GetMatrix() []byte               { return l.pix }
func (l *grayLuminance) Invert() gozxing.LuminanceSource { return gozxing.LuminanceSourceInvert(l) }
func (l *grayLuminance) String() string                  { return gozxing.LuminanceSourceString(l) }
