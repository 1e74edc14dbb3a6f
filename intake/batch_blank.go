package intake

import "image"

// Blank pages: the backs of single-sided letters scanned in duplex, which
// mailrooms do by default. A scanned blank page is not white: it has
// scanner noise, JPEG ringing, dust, the shadow of the sheet's edges and
// punch holes, and the front's text showing through thin paper. So the
// page is measured on a copy reduced to about 150 dpi (averaging 2×2 blocks
// divides the noise by two), inside margins that hold the edge shadows and
// punch holes, against the paper's own white (pages are not all equally
// white, nor scanners equally bright), counting only pixels much darker
// than the paper that touch another such pixel (a lone speck is dust).
// What is left is ink: text, even one line of it, or a signature.

// DefaultBlankInkPercent is the share of ink under which a page is blank.
// Measured on simulated 300 dpi scans (batch_sample.go, noise σ 14, 30
// specks of dust): a blank back with show-through 0.002 %, a page bearing
// only the word "ok" in 11 pt 0.012 %, three words 0.05 %, a typed line
// 0.2 %. The threshold sits between the first two, nearer the blank side:
// a blank page kept costs a reviewer one click, a page dropped loses part
// of a letter (the raw scan still has it, but nobody looks there).
const DefaultBlankInkPercent = 0.005

// blankMargin is the share of the page's width and height left out on
// each side: scanner shadows, punch holes (12 mm from the edge of a
// 210 mm sheet), staples.
const blankMargin = 0.08

// inkContrast is how much darker than the paper a pixel must be to be ink,
// on the 0-255 scale. Show-through and noise stay well under it; pencil
// and light-blue ink stay over it.
const inkContrast = 48

// InkPercent returns the share of ink on a page image, in percent, as
// described above. g should be about 150 dpi (see reduce).
func InkPercent(g *image.Gray) float64 {
	b := g.Bounds()
	mx, my := int(float64(b.Dx())*blankMargin), int(float64(b.Dy())*blankMargin)
	x0, x1, y0, y1 := b.Min.X+mx, b.Max.X-mx, b.Min.Y+my, b.Max.Y-my
	if x1-x0 < 2 || y1-y0 < 2 {
		return 0
	}
	// Paper white: the 95th percentile of the inner area.
	var hist [256]int
	for y := y0; y < y1; y++ {
		row := g.Pix[g.PixOffset(x0, y):g.PixOffset(x1, y)]
		for _, v := range row {
			hist[v]++
		}
	}
	total := (x1 - x0) * (y1 - y0)
	paper, seen := 255, 0
	for v := 255; v >= 0; v-- {
		if seen += hist[v]; seen >= total/20 {
			paper = v
			break
		}
	}
	threshold := uint8(max(paper-inkContrast, 0))
	ink := 0
	for y := y0; y < y1-1; y++ {
		row := g.Pix[g.PixOffset(x0, y):g.PixOffset(x1, y)]
		next := g.Pix[g.PixOffset(x0, y+1):g.PixOffset(x1, y+1)]
		for x := 0; x < len(row)-1; x++ {
			if row[x] < threshold && (row[x+1] < threshold || next[x] < threshold) {
				ink++
			}
		}
	}
	return 100 * float64(ink) / float64(total)
}

// reduce halves g (averaging 2×2 blocks) until it is at most maxWidth
// pixels wide, and returns it (g itself when already small enough).
func reduce(g *image.Gray, maxWidth int) *image.Gray {
	for g.Bounds().Dx() > maxWidth {
		h := halve(g)
		if h == nil {
			break
		}
		g = h
	}
	return g
}

// halve averages 2×2 blocks; nil when g is too small to halve.
func halve(g *image.Gray) *image.Gray {
	b := g.Bounds()
	w, h := b.Dx()/2, b.Dy()/2
	if w < 1 || h < 1 {
		return nil
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+2*y):]
		r1 := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+2*y+1):]
		o := out.Pix[y*out.Stride : y*out.Stride+w]
		for x := range o {
			o[x] = uint8((int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1]) + 2) >> 2)
		}
	}
	return out
}
