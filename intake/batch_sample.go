package intake

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Simulated scans, for the tests, the benchmark and `recevable demo`: pages
// drawn at scanner resolution (text in the Go font, QR codes, the
// separator sheet with the layout of batch_sheet.go), then degraded as a
// mailroom scanner degrades them — paper a little grey, the sheet 1 to 2
// degrees askew, sensor noise, dust, JPEG compression — and assembled into
// a PDF with AssembleImages, as a scanner's "scan to PDF" does.

// SimPage is a page to draw. At most one of Separator, Blank and the
// others applies, in that order.
type SimPage struct {
	// Separator draws a separator sheet.
	Separator *Separator
	// Blank draws nothing: the back of a single-sided letter. With
	// ShowThrough, the front's lines show faintly through the paper,
	// mirrored.
	Blank       bool
	ShowThrough bool
	// Lines of typed text from the top of the page.
	Lines []string
	// Code, when set, is drawn as a QR code CodeMM wide (default 35) at the
	// top right: an invitation letter.
	Code   string
	CodeMM float64
}

// ScanStyle is how the simulated scanner degrades pages.
type ScanStyle struct {
	DPI int // default 300
	// Angle is the skew in degrees.
	Angle float64
	// Noise is the standard deviation of the sensor noise, 0-255 scale.
	Noise float64
	// Specks of dust per page.
	Specks int
	// Quality of the JPEG encoding (default 75).
	Quality int
	// Seed makes the noise reproducible.
	Seed uint64
}

func (s ScanStyle) withDefaults() ScanStyle {
	if s.DPI <= 0 {
		s.DPI = 300
	}
	if s.Quality <= 0 {
		s.Quality = 75
	}
	return s
}

var (
	simFontOnce sync.Once
	simFont     *opentype.Font
	simFontErr  error
)

func simFace(sizePt float64, dpi int) (font.Face, error) {
	simFontOnce.Do(func() { simFont, simFontErr = opentype.Parse(goregular.TTF) })
	if simFontErr != nil {
		return nil, simFontErr
	}
	return opentype.NewFace(simFont, &opentype.FaceOptions{Size: sizePt, DPI: float64(dpi), Hinting: font.HintingNone})
}

// RenderPage draws p on a white A4 page at dpi, before any degradation.
func RenderPage(p SimPage, dpi int, qr QREncoder) (*image.Gray, error) {
	mm := func(v float64) int { return int(math.Round(v * float64(dpi) / 25.4)) }
	g := image.NewGray(image.Rect(0, 0, mm(sheetWidthMM), mm(sheetHeightMM)))
	for i := range g.Pix {
		g.Pix[i] = 0xff
	}
	text := func(s string, sizePt float64, x, y int, centre bool) error {
		face, err := simFace(sizePt, dpi)
		if err != nil {
			return err
		}
		d := &font.Drawer{Dst: g, Src: image.Black, Face: face}
		if centre {
			x = (g.Bounds().Dx() - d.MeasureString(s).Round()) / 2
		}
		d.Dot = fixed.P(x, y)
		d.DrawString(s)
		return nil
	}
	code := func(payload string, x, y, side int) error {
		if qr == nil {
			return fmt.Errorf("render page: a code without a QR encoder")
		}
		img, err := qr(payload)
		if err != nil {
			return err
		}
		drawScaled(g, img, image.Rect(x, y, x+side, y+side))
		return nil
	}
	switch {
	case p.Separator != nil:
		if err := text(SheetTitle, 30, 0, mm(sheetTitleY+4), true); err != nil {
			return nil, err
		}
		if err := code(p.Separator.Payload(), mm((sheetWidthMM-sheetQRSide)/2), mm(sheetQRTop), mm(sheetQRSide)); err != nil {
			return nil, err
		}
		for j, line := range sheetLines(*p.Separator) {
			if err := text(line, 16, 0, mm(sheetTextY+float64(j)*sheetLineMM), true); err != nil {
				return nil, err
			}
		}
	case p.Blank:
		if p.ShowThrough {
			drawShowThrough(g, dpi)
		}
	default:
		if p.Code != "" {
			side := p.CodeMM
			if side <= 0 {
				side = 35
			}
			if err := code(p.Code, mm(sheetWidthMM-20-side), mm(20), mm(side)); err != nil {
				return nil, err
			}
		}
		for i, line := range p.Lines {
			if err := text(line, 11, mm(25), mm(70+float64(i)*6), false); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

// drawScaled draws src into r with nearest-neighbour scaling (QR modules
// stay sharp, as a laser printer prints them).
func drawScaled(dst *image.Gray, src image.Image, r image.Rectangle) {
	sb := src.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		sy := sb.Min.Y + (y-r.Min.Y)*sb.Dy()/r.Dy()
		for x := r.Min.X; x < r.Max.X; x++ {
			sx := sb.Min.X + (x-r.Min.X)*sb.Dx()/r.Dx()
			cr, cg, cb, _ := src.At(sx, sy).RGBA()
			if (cr+cg+cb)/3 < 0x8000 {
				dst.Pix[dst.PixOffset(x, y)] = 0
			}
		}
	}
}

// drawShowThrough greys faint mirrored lines where a front's text would be.
func drawShowThrough(g *image.Gray, dpi int) {
	mm := func(v float64) int { return int(v * float64(dpi) / 25.4) }
	for line := 0; line < 20; line++ {
		y0 := mm(70 + float64(line)*6)
		for y := y0; y < y0+mm(2.2); y++ {
			for x := mm(40); x < mm(185); x++ {
				if (x/mm(1.2))%4 != 3 { // gaps between "words"
					g.Pix[g.PixOffset(x, y)] = 0xff - 22
				}
			}
		}
	}
}

// Degrade returns the page as the simulated scanner sees it: grey paper,
// rotated by style.Angle around its centre, noise and dust added.
func Degrade(page *image.Gray, style ScanStyle) *image.Gray {
	style = style.withDefaults()
	rng := rand.New(rand.NewPCG(style.Seed, style.Seed^0x9e3779b97f4a7c15))
	b := page.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewGray(b)
	sin, cos := math.Sincos(style.Angle * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	const paper = 236 // recycled office paper under a scanner lamp
	// Gaussian noise from a table: a normal draw per pixel would be most of
	// the cost of a 600 dpi page.
	var noise [1 << 16]float64
	for i := range noise {
		noise[i] = rng.NormFloat64() * style.Noise
	}
	for y := 0; y < h; y++ {
		// Inverse mapping with bilinear interpolation; outside the sheet
		// is the scanner lid, white.
		fx := cos*(-cx) + sin*(float64(y)-cy) + cx
		fy := -sin*(-cx) + cos*(float64(y)-cy) + cy
		row := out.Pix[y*out.Stride : y*out.Stride+w]
		for x := range row {
			v := 255.0
			x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
			if x0 >= 0 && y0 >= 0 && x0+1 < w && y0+1 < h {
				ax, ay := fx-float64(x0), fy-float64(y0)
				p := page.Pix[y0*page.Stride+x0:]
				q := page.Pix[(y0+1)*page.Stride+x0:]
				v = (float64(p[0])*(1-ax)+float64(p[1])*ax)*(1-ay) + (float64(q[0])*(1-ax)+float64(q[1])*ax)*ay
				v = 20 + v*(paper-20)/255 // toner is not black, paper not white
			}
			v += noise[rng.Uint32()&(1<<16-1)]
			row[x] = uint8(min(max(v, 0), 255))
			fx += cos
			fy -= sin
		}
	}
	for range style.Specks {
		x, y, r := rng.IntN(w-4), rng.IntN(h-4), 1+rng.IntN(3)
		for dy := 0; dy < r; dy++ {
			for dx := 0; dx < r; dx++ {
				out.Pix[(y+dy)*out.Stride+x+dx] = 40
			}
		}
	}
	return out
}

// ScanPages renders, degrades and JPEG-encodes each page (the seed of each
// page is style.Seed plus its index, so pages differ).
func ScanPages(pages []SimPage, style ScanStyle, qr QREncoder) ([][]byte, error) {
	style = style.withDefaults()
	out := make([][]byte, len(pages))
	for i, p := range pages {
		clean, err := RenderPage(p, style.DPI, qr)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		st := style
		st.Seed += uint64(i)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, Degrade(clean, st), &jpeg.Options{Quality: style.Quality}); err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// SimulatedBatch is ScanPages assembled into one PDF, as the scanner
// leaves it in the drop.
func SimulatedBatch(ctx context.Context, pages []SimPage, style ScanStyle, qr QREncoder) ([]byte, error) {
	jpegs, err := ScanPages(pages, style, qr)
	if err != nil {
		return nil, err
	}
	var pdf bytes.Buffer
	if err := AssembleImages(ctx, &pdf, jpegs, ScanLimits{}); err != nil {
		return nil, err
	}
	return pdf.Bytes(), nil
}

// SampleBatch is the batch `recevable demo` drops into its drop folder: two
// letters and a separator sheet between them, scanned in duplex (each
// letter page has a blank back). The first letter is an application whose
// second page is the prefecture's invitation with its QR code carrying
// invitation (a signed token from validate; empty draws no code); the
// second has no evidence at all. The split yields two letters of two pages
// each.
func SampleBatch(ctx context.Context, qr QREncoder, invitation string) ([]byte, error) {
	back := SimPage{Blank: true, ShowThrough: true}
	pages := []SimPage{
		{Lines: []string{
			"Madame, Monsieur,",
			"",
			"Je sollicite le renouvellement de mon titre de séjour.",
			"N'ayant pas pu déposer ma demande en ligne malgré l'aide",
			"du centre de contact citoyens, je vous l'adresse par courrier",
			"comme votre lettre d'invitation ci-jointe me le propose.",
			"",
			"Veuillez agréer, Madame, Monsieur, mes salutations distinguées.",
		}},
		back,
		{Code: invitation, Lines: []string{"Lettre d'invitation de la préfecture (copie)."}},
		back,
		{Separator: &Separator{}},
		back,
		{Lines: []string{
			"Madame, Monsieur,",
			"",
			"Veuillez trouver ci-joint ma demande de titre de séjour.",
			"",
			"Salutations distinguées.",
		}},
		back,
		{Lines: []string{"Pièces jointes : justificatif de domicile, photographies."}},
		back,
	}
	return SimulatedBatch(ctx, pages, ScanStyle{Angle: 1.2, Noise: 10, Specks: 12, Seed: 2023}, qr)
}
