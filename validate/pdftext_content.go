package validate

import (
	"math"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// The content stream interpreter of the text extractor (ISO 32000-1 §8.2,
// §9.4): graphics and text state, text-showing operators, Form XObjects.
// Everything else (paths, colours, images) is read past.

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
	if x.drawn++; x.drawn > txMaxForms {
		x.stopped = true
		return
	}
	fres := res
	if r, _ := x.xt.DereferenceDict(sd.Dict["Resources"]); r != nil {
		fres = r
	}
	data, ok := x.formData[n]
	if !ok {
		// A form is often drawn on every page (a letterhead): decode once.
		data = x.streamData(sd)
		if x.cached+len(data) <= txMaxFormCache {
			x.formData[n] = data
			x.cached += len(data)
		}
	}
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
// (§9.4.4). Within one string only the translation changes, so the
// rendering matrix, size and directions are computed once.
func (x *txExtractor) show(s []byte, gs *txGState, tm *txMatrix, p *txPage) {
	f := gs.font
	if f == nil {
		f = x.defaultFont()
		gs.font = f
	}
	m := tm.mul(gs.ctm)
	size := math.Abs(gs.size) * math.Hypot(m[2], m[3])
	dir, up := txUnit(m[0], m[1]), txUnit(m[2], m[3])
	for len(s) > 0 {
		code, n, text, w := f.next(s)
		s = s[n:]
		ox, oy := m.apply(0, gs.ts)
		ex, ey := m.apply(w*gs.size*gs.th, gs.ts)
		p.glyph(text, ox, oy, ex, ey, size, dir, up)
		adv := w*gs.size + gs.tc
		if n == 1 && code == 32 { // word spacing applies to the single-byte code 32
			adv += gs.tw
		}
		adv *= gs.th
		// [1 0 0 1 adv 0] × Tm, and the same on the rendering matrix.
		tm[4], tm[5] = adv*tm[0]+tm[4], adv*tm[1]+tm[5]
		m[4], m[5] = adv*m[0]+m[4], adv*m[1]+m[5]
	}
}

func txUnit(a, b float64) [2]float64 {
	h := math.Hypot(a, b)
	if h == 0 || math.IsNaN(h) || math.IsInf(h, 0) {
		return [2]float64{1, 0}
	}
	return [2]float64{a / h, b / h}
}
