package validate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/text/unicode/norm"
)

// PDF text extraction for the evidence search: invitation references and
// CCC wordings are looked for in the text layers of attached PDFs (DESIGN.md,
// "Evidence kinds").
//
// Why our own content-stream walk over pdfcpu's objects, rather than
// github.com/ledongthuc/pdf, github.com/dslipak/pdf or rsc.io/pdf:
//   - One parser. pdfcpu has already read the file for the structure and
//     active-content checks; the text comes from the same object table, with
//     no second parse and no second set of parser bugs to guard against.
//   - Encryption. pdfcpu opens owner-password-only files (RC4 and AES-128/
//     256) with the empty user password; rsc.io/pdf and its two forks stop
//     at AES-256 (revision 6, what Acrobat and LibreOffice write today), and
//     prefectures' and banks' PDFs are often "protected" that way.
//   - Damaged files. pdfcpu repairs broken cross-reference tables and reads
//     object and cross-reference streams; the rsc.io family gives up, or
//     panics, on much of what phone apps and scanners produce.
//   - Word spacing. The forks emit glyphs in stream order without spaces
//     where writers position words instead of writing a space (Word's TJ
//     arrays, Chrome/Skia's one-run-per-word, ocrmypdf's invisible OCR
//     layer): "Référence INV-75…" becomes "RéférenceINV-75…" and the search
//     misses it. Here gaps are measured with the fonts' widths.
//   - Maintenance. The three are unmaintained forks of a 2014 experiment;
//     what we need (ToUnicode CMaps, simple-font encodings, Form XObjects) is
//     about a thousand lines we own and can fuzz.
//
// What it does not do: layout analysis (columns are read in stream order),
// text in annotations and form-field values, CJK CMaps without ToUnicode,
// Type 3 glyphs without names, OCR of scanned pages (qr.go reads codes on
// images; a scan without a text layer has no text here).

// PDFText is the text layer of a PDF.
type PDFText struct {
	// Pages holds the text of the first pages, page 1 first: lines separated
	// by "\n", words by " ", NFC-normalised, ligatures spelt out.
	Pages []string
	// Truncated: the page or byte limit stopped extraction early.
	Truncated bool
}

// String returns all pages, separated by form feeds as pdftotext does.
func (t *PDFText) String() string { return strings.Join(t.Pages, "\f") }

// ExtractPDFText reads a PDF and extracts its text layer, within lim
// (TextPages, TextBytes, ParserTimeout). It is for callers that did not get
// the text from CheckDocument (Limits.ExtractText). Errors: ctx's, a
// *GuardError, or the reason pdfcpu could not read the file.
func ExtractPDFText(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (*PDFText, error) {
	lim = lim.withDefaults()
	return Guard(ctx, "pdf_text", lim.ParserTimeout, func(gctx context.Context) (*PDFText, error) {
		pctx, err := pdfcpu.ReadWithContext(gctx, io.NewSectionReader(r, 0, size), chkPDFConfig(lim))
		if err != nil {
			return nil, fmt.Errorf("extract pdf text: %w", err)
		}
		doc := &chkPDFDoc{ctx: pctx}
		if err := chkWalkPages(gctx, doc, lim.TextPages); err != nil {
			return nil, fmt.Errorf("extract pdf text: page tree: %w", err)
		}
		return txExtract(gctx, doc, lim)
	})
}

// Bounds on the work one document may cost, whatever its size: operators
// interpreted, Form XObjects entered, and their nesting.
const (
	txMaxOps       = 20_000_000
	txMaxForms     = 20_000
	txMaxFormDepth = 12
	txMaxOperands  = 64
	txMaxGStack    = 64
)

// txExtractor holds what is shared by the pages of one document.
type txExtractor struct {
	ctx     context.Context
	xt      *model.XRefTable
	lim     Limits
	fonts   map[int]*txFont // by object number
	ops     int
	forms   int
	decoded int64 // bytes of streams decoded so far
	stopped bool  // a budget ran out
}

// txExtract extracts the text of doc's kept pages.
func txExtract(ctx context.Context, doc *chkPDFDoc, lim Limits) (*PDFText, error) {
	x := &txExtractor{ctx: ctx, xt: doc.ctx.XRefTable, lim: lim, fonts: map[int]*txFont{}}
	out := &PDFText{Truncated: doc.count > len(doc.pages)}
	left := lim.TextBytes
	for _, pg := range doc.pages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &txPage{limit: left, box: txVisibleBox(pg)}
		// The streams of a page are one content stream cut in pieces
		// (§7.8.2): the graphics state carries over.
		x.run(bytes.Join(x.contents(pg.dict), []byte{'\n'}), pg.res, txIdentity, 0, p, map[int]bool{})
		x.annotations(pg, p)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		text := p.text()
		if len(text) > left {
			text = txCut(text, left)
			out.Truncated = true
		}
		out.Pages = append(out.Pages, text)
		left -= len(text)
		if left <= 0 || x.stopped || p.full {
			out.Truncated = out.Truncated || len(out.Pages) < len(doc.pages) || x.stopped || p.full
			break
		}
	}
	return out, nil
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

// contents returns the decoded content streams of a page (§7.7.3.3).
func (x *txExtractor) contents(page types.Dict) [][]byte {
	o, _ := x.xt.Dereference(page["Contents"])
	var out [][]byte
	switch o := o.(type) {
	case types.StreamDict:
		if b := x.streamData(&o); b != nil {
			out = append(out, b)
		}
	case types.Array:
		for _, e := range o {
			if b := x.stream(e); b != nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// stream returns the decoded data of a stream object, or nil.
func (x *txExtractor) stream(o types.Object) []byte {
	sd, _, err := x.xt.DereferenceStreamDict(o)
	if err != nil || sd == nil {
		return nil
	}
	return x.streamData(sd)
}

func (x *txExtractor) streamData(sd *types.StreamDict) []byte {
	if len(sd.FilterPipeline) == 0 {
		return sd.Raw
	}
	if x.decoded > 4*x.lim.MaxDecodeBytes {
		x.stopped = true
		return nil
	}
	if err := sd.DecodeWithLimit(x.lim.MaxDecodeBytes); err != nil {
		return nil // an undecodable stream is skipped, as viewers do
	}
	x.decoded += int64(len(sd.Content))
	return sd.Content
}

// font returns the font named in a resource dictionary.
func (x *txExtractor) font(res types.Dict, name string) *txFont {
	fonts, _ := x.xt.DereferenceDict(res["Font"])
	o, ok := fonts[name]
	if !ok {
		return txDefaultFont()
	}
	ir, isRef := o.(types.IndirectRef)
	if !isRef {
		return x.txLoadFont(o)
	}
	n := ir.ObjectNumber.Value()
	if f, ok := x.fonts[n]; ok {
		return f
	}
	f := x.txLoadFont(o)
	x.fonts[n] = f
	return f
}

// txMatrix is a PDF transformation matrix [a b c d e f] (§8.3.3).
type txMatrix [6]float64

var txIdentity = txMatrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: m applied first, then n.
func (m txMatrix) mul(n txMatrix) txMatrix {
	return txMatrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func (m txMatrix) apply(x, y float64) (float64, float64) {
	return x*m[0] + y*m[2] + m[4], x*m[1] + y*m[3] + m[5]
}

// txGState is the part of the graphics state text extraction needs; q and Q
// save and restore it (§8.4.1, text state §9.3).
type txGState struct {
	ctm                      txMatrix
	font                     *txFont
	size, tc, tw, th, tl, ts float64
}

// run interprets one content stream. res are the resources in effect; ctm
// the matrix on entry; forms the Form XObjects being drawn (cycle guard).
func (x *txExtractor) run(data []byte, res types.Dict, ctm txMatrix, depth int, p *txPage, forms map[int]bool) {
	l := &txLexer{b: data}
	gs := txGState{ctm: ctm, th: 1}
	var stack []txGState
	var tm, tlm txMatrix = txIdentity, txIdentity
	var ops []txTok
	num := func(i int) float64 { // operand i of len(ops), 0 if not a number
		if i < 0 || i >= len(ops) || ops[i].kind != txNum {
			return 0
		}
		return ops[i].num
	}
	for !x.stopped && !p.full {
		t := l.next()
		switch t.kind {
		case txEOF:
			return
		case txArrOpen:
			t.items = txReadArray(l, 0)
		case txDictOpen:
			txSkipDict(l)
			continue
		}
		if t.kind != txOp {
			if len(ops) >= txMaxOperands {
				ops = ops[:0] // garbage: forget it
			}
			ops = append(ops, t)
			continue
		}
		x.ops++
		if x.ops%8192 == 0 && x.ctx.Err() != nil || x.ops > txMaxOps {
			x.stopped = true
			return
		}
		n := len(ops)
		switch string(t.b) {
		case "q":
			if len(stack) < txMaxGStack {
				stack = append(stack, gs)
			}
		case "Q":
			if len(stack) > 0 {
				gs, stack = stack[len(stack)-1], stack[:len(stack)-1]
			}
		case "cm":
			if n >= 6 {
				gs.ctm = txMatrix{num(n - 6), num(n - 5), num(n - 4), num(n - 3), num(n - 2), num(n - 1)}.mul(gs.ctm)
			}
		case "BT":
			tm, tlm = txIdentity, txIdentity
		case "Tf":
			if n >= 2 && ops[n-2].kind == txName {
				gs.font = x.font(res, string(ops[n-2].b))
				gs.size = num(n - 1)
			}
		case "Tc":
			gs.tc = num(n - 1)
		case "Tw":
			gs.tw = num(n - 1)
		case "Tz":
			gs.th = num(n-1) / 100
		case "TL":
			gs.tl = num(n - 1)
		case "Ts":
			gs.ts = num(n - 1)
		case "Td", "TD":
			if n >= 2 {
				tx, ty := num(n-2), num(n-1)
				if string(t.b) == "TD" {
					gs.tl = -ty
				}
				tlm = txMatrix{1, 0, 0, 1, tx, ty}.mul(tlm)
				tm = tlm
			}
		case "Tm":
			if n >= 6 {
				tlm = txMatrix{num(n - 6), num(n - 5), num(n - 4), num(n - 3), num(n - 2), num(n - 1)}
				tm = tlm
			}
		case "T*":
			tlm = txMatrix{1, 0, 0, 1, 0, -gs.tl}.mul(tlm)
			tm = tlm
		case "Tj":
			if n >= 1 && ops[n-1].kind == txStr {
				x.show(ops[n-1].b, &gs, &tm, p)
			}
		case "'", "\"":
			if string(t.b) == "\"" && n >= 3 {
				gs.tw, gs.tc = num(n-3), num(n-2)
			}
			tlm = txMatrix{1, 0, 0, 1, 0, -gs.tl}.mul(tlm)
			tm = tlm
			if n >= 1 && ops[n-1].kind == txStr {
				x.show(ops[n-1].b, &gs, &tm, p)
			}
		case "TJ":
			if n >= 1 && ops[n-1].kind == txArrOpen {
				for _, e := range ops[n-1].items {
					switch e.kind {
					case txStr:
						x.show(e.b, &gs, &tm, p)
					case txNum: // thousandths of text space, moving left (§9.4.3)
						tm = txMatrix{1, 0, 0, 1, -e.num / 1000 * gs.size * gs.th, 0}.mul(tm)
					}
				}
			}
		case "Do":
			if n >= 1 && ops[n-1].kind == txName && depth < txMaxFormDepth {
				x.form(res, string(ops[n-1].b), gs.ctm, depth, p, forms)
			}
		case "ID": // inline image data follows (after BI … keys)
			l.skipInlineImage()
		}
		ops = ops[:0]
	}
}

// txReadArray gathers an array's elements after its opening bracket.
func txReadArray(l *txLexer, depth int) []txTok {
	var items []txTok
	for {
		t := l.next()
		switch t.kind {
		case txEOF, txArrClose:
			return items
		case txArrOpen:
			if depth < 8 {
				t.items = txReadArray(l, depth+1)
			}
		case txDictOpen:
			txSkipDict(l)
			continue
		}
		if len(items) < 1<<16 {
			items = append(items, t)
		}
	}
}

// txSkipDict moves past a dictionary after its opening <<, nested ones too.
func txSkipDict(l *txLexer) {
	for depth := 1; depth > 0; {
		switch l.next().kind {
		case txEOF:
			return
		case txDictOpen:
			depth++
		case txDictClose:
			depth--
		}
	}
}

// form draws the Form XObject named in res.
func (x *txExtractor) form(res types.Dict, name string, ctm txMatrix, depth int, p *txPage, forms map[int]bool) {
	xobjs, _ := x.xt.DereferenceDict(res["XObject"])
	if o, ok := xobjs[name]; ok {
		x.drawForm(o, res, txIdentity, ctm, depth, p, forms)
	}
}

// drawForm draws a Form XObject (§8.10): its content with its own resources
// (or the caller's), under its /Matrix, then extra, then ctm.
func (x *txExtractor) drawForm(o types.Object, res types.Dict, extra, ctm txMatrix, depth int, p *txPage, forms map[int]bool) {
	ir, isRef := o.(types.IndirectRef)
	if !isRef {
		return // a stream is always an indirect object
	}
	n := ir.ObjectNumber.Value()
	if forms[n] {
		return // a form drawing itself
	}
	sd, _, err := x.xt.DereferenceStreamDict(ir)
	if err != nil || sd == nil || txNameOf(x.xt, sd.Dict["Subtype"]) == "Image" {
		return
	}
	if x.forms++; x.forms > txMaxForms {
		x.stopped = true
		return
	}
	fres := res
	if r, _ := x.xt.DereferenceDict(sd.Dict["Resources"]); r != nil {
		fres = r
	}
	data := x.streamData(sd)
	if data == nil {
		return
	}
	forms[n] = true
	x.run(data, fres, x.formMatrix(sd.Dict).mul(extra).mul(ctm), depth+1, p, forms)
	delete(forms, n)
}

// formMatrix returns a form's /Matrix, identity by default.
func (x *txExtractor) formMatrix(d types.Dict) txMatrix {
	m := txIdentity
	if a, _ := x.xt.DereferenceArray(d["Matrix"]); len(a) == 6 {
		for i, e := range a {
			m[i], _ = x.xt.DereferenceNumber(e)
		}
	}
	return m
}

// show emits the glyphs of a shown string and advances the text matrix
// (§9.4.4).
func (x *txExtractor) show(s []byte, gs *txGState, tm *txMatrix, p *txPage) {
	f := gs.font
	if f == nil {
		f = txDefaultFont()
		gs.font = f
	}
	for len(s) > 0 {
		code, n, text, w := f.next(s)
		s = s[n:]
		m := tm.mul(gs.ctm)
		ox, oy := m.apply(0, gs.ts)
		ex, ey := m.apply(w*gs.size*gs.th, gs.ts)
		size := math.Abs(gs.size) * math.Hypot(m[2], m[3])
		dir := txUnit(m[0], m[1])
		up := txUnit(m[2], m[3])
		p.glyph(text, ox, oy, ex, ey, size, dir, up)
		adv := w*gs.size + gs.tc
		if n == 1 && code == 32 { // word spacing applies to the single-byte code 32
			adv += gs.tw
		}
		*tm = txMatrix{1, 0, 0, 1, adv * gs.th, 0}.mul(*tm)
	}
}

func txUnit(a, b float64) [2]float64 {
	h := math.Hypot(a, b)
	if h == 0 || math.IsNaN(h) || math.IsInf(h, 0) {
		return [2]float64{1, 0}
	}
	return [2]float64{a / h, b / h}
}

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
