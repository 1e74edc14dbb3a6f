package validate

import (
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The text of one page, put together glyph by glyph.

// txPage accumulates a page's text. Words and lines are told apart by
// geometry, as pdftotext does: a move along the baseline of more than
// txWordGap font sizes since the end of the last visible glyph is a word gap,
// a move across it of more than txLineGap a line break. Kerning (a tenth of
// an em or less) is neither. A space glyph, or a glyph with no text (Skia
// maps some hyphens to U+0000), is not written: it lowers the gap that makes
// a space to txSpaceGap. Writers that draw a space over a ligature (Acrobat
// Distiller) thus give "fields", not "fi elds".
type txPage struct {
	b        []byte
	has      bool
	ex, ey   float64 // where the last visible glyph ended
	size     float64
	dir, up  [2]float64
	pending  bool        // blank glyphs were shown since
	box      *[4]float64 // the visible area; nil: all
	limit    int
	full     bool
	lastByte byte
}

const (
	txWordGap  = 0.1
	txSpaceGap = 0.05
	txLineGap  = 0.5
)

func (p *txPage) glyph(text string, ox, oy, ex, ey, size float64, dir, up [2]float64) {
	if b := p.box; b != nil && (max(ox, ex) < b[0]-size || min(ox, ex) > b[2]+size || max(oy, ey) < b[1]-size || min(oy, ey) > b[3]+size) {
		return // outside the page: no viewer shows it, nor does pdftotext
	}
	if strings.TrimSpace(text) == "" {
		p.pending = p.pending || p.has
		return
	}
	if p.has {
		dx, dy := ox-p.ex, oy-p.ey
		along := dx*p.dir[0] + dy*p.dir[1]
		across := dx*p.up[0] + dy*p.up[1]
		sz := max(size, p.size)
		gap := txWordGap
		if p.pending {
			gap = txSpaceGap
		}
		switch {
		case math.Abs(across) > txLineGap*sz:
			p.sep('\n')
		case along > gap*sz || along < -txLineGap*sz:
			p.sep(' ')
		}
	}
	p.write(text)
	p.has, p.pending = true, false
	p.ex, p.ey, p.size, p.dir, p.up = ex, ey, size, dir, up
}

// sep writes a space or a newline, never two in a row; a newline replaces
// a space just written.
func (p *txPage) sep(c byte) {
	if len(p.b) == 0 || p.lastByte == '\n' || p.lastByte == c {
		return
	}
	if p.lastByte == ' ' && c == '\n' {
		p.b = p.b[:len(p.b)-1]
	}
	p.b = append(p.b, c)
	p.lastByte = c
}

func (p *txPage) write(text string) {
	if p.full {
		return
	}
	if len(p.b)+len(text) > p.limit {
		p.full = true
		return
	}
	p.b = append(p.b, text...)
	p.lastByte = text[len(text)-1]
}

// text returns the page's text: trimmed, NFC-normalised (some writers map
// "é" to e + U+0301), ligatures spelt out.
func (p *txPage) text() string {
	s := strings.TrimSpace(string(p.b))
	s = txLigatures.Replace(s)
	return norm.NFC.String(s)
}

// txVisibleBox is the page's media box (§14.11.2). Text outside it is
// dropped, as pdftotext does by default; the crop box is not used, like
// pdftotext without -cropbox.
func txVisibleBox(pg chkPDFPage) *[4]float64 { return pg.media }

// txCut cuts s to at most n bytes on a rune boundary.
func txCut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
