package validate

import (
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Fonts, as far as text extraction needs them (ISO 32000-1 §9.5–§9.10):
// how a shown string splits into character codes, what text each code
// stands for, and how far each advances the pen (to tell word gaps from
// kerning). Text comes from the ToUnicode CMap when there is one, else from
// the encoding: the base encoding (WinAnsi, MacRoman, Standard, or the
// embedded Type 1 program's own) patched by /Differences glyph names.

type txWidthRange struct {
	lo, hi uint32
	w      float64
}

type txFont struct {
	composite bool
	cmap      *txCMap // composite: the encoding CMap; nil means 2-byte Identity
	unicode   bool    // composite with a predefined Uni…-UCS2/UTF16 CMap: codes are Unicode
	toUni     *txCMap
	enc       [256]string // simple fonts: code → text from the encoding

	// Widths in glyph space; scale turns them into text space (1/1000,
	// or the FontMatrix of a Type 3 font).
	first   int
	widths  []float64
	missing float64
	cidW    []txWidthRange
	scale   float64
}

// txDefaultFont stands for a missing or unreadable font: codes are single
// bytes read as WinAnsi, so text in a broken file still comes out.
func txDefaultFont() *txFont {
	f := &txFont{scale: 0.001, missing: 500}
	f.enc = txBaseEncoding("WinAnsiEncoding")
	return f
}

// txLoadFont builds a font from its dictionary.
func (x *txExtractor) txLoadFont(o types.Object) *txFont {
	xt := x.xt
	d, err := xt.DereferenceDict(o)
	if err != nil || d == nil {
		return txDefaultFont()
	}
	f := &txFont{scale: 0.001}
	if tu, ok := d.Find("ToUnicode"); ok {
		if data := x.stream(tu); data != nil {
			f.toUni = txParseCMap(data)
		}
	}
	sub := txNameOf(xt, d["Subtype"])
	if sub == "Type0" {
		f.loadComposite(x, d)
		return f
	}
	f.loadSimple(x, d, sub)
	return f
}

func (f *txFont) loadComposite(x *txExtractor, d types.Dict) {
	xt := x.xt
	f.composite = true
	switch enc, _ := xt.Dereference(d["Encoding"]); enc := enc.(type) {
	case types.Name:
		n := enc.Value()
		if strings.HasPrefix(n, "Uni") && (strings.Contains(n, "UCS2") || strings.Contains(n, "UTF16")) {
			f.unicode = true
		}
		// Identity-H/V and the other predefined CMaps: 2-byte codes. The
		// CJK multi-byte CMaps are not bundled; their text comes from
		// ToUnicode, whose codespace then splits the codes.
		if n != "Identity-H" && n != "Identity-V" && !f.unicode && f.toUni != nil && len(f.toUni.space) > 0 {
			f.cmap = &txCMap{space: f.toUni.space}
		}
	case types.StreamDict:
		if data := x.stream(enc); data != nil {
			if m := txParseCMap(data); len(m.space) > 0 {
				f.cmap = m
			}
		}
	}
	f.missing = 1000
	arr, _ := xt.DereferenceArray(d["DescendantFonts"])
	if len(arr) == 0 {
		return
	}
	cf, _ := xt.DereferenceDict(arr[0])
	if cf == nil {
		return
	}
	if dw, err := xt.DereferenceNumber(cf["DW"]); err == nil && cf["DW"] != nil {
		f.missing = dw
	}
	w, _ := xt.DereferenceArray(cf["W"])
	// W: c [w1 w2 …] or cfirst clast w (§9.7.4.3).
	for i := 0; i < len(w) && len(f.cidW) < txCMapMaxEntries; {
		c1, err := xt.DereferenceNumber(w[i])
		if err != nil || i+1 >= len(w) {
			break
		}
		if ws, err := xt.DereferenceArray(w[i+1]); err == nil && ws != nil {
			for j, o := range ws {
				if v, err := xt.DereferenceNumber(o); err == nil {
					c := uint32(c1) + uint32(j)
					f.cidW = append(f.cidW, txWidthRange{c, c, v})
				}
			}
			i += 2
			continue
		}
		if i+2 >= len(w) {
			break
		}
		c2, err2 := xt.DereferenceNumber(w[i+1])
		v, err3 := xt.DereferenceNumber(w[i+2])
		if err2 == nil && err3 == nil && c2 >= c1 && c1 >= 0 {
			f.cidW = append(f.cidW, txWidthRange{uint32(c1), uint32(c2), v})
		}
		i += 3
	}
}

func (f *txFont) loadSimple(x *txExtractor, d types.Dict, sub string) {
	xt := x.xt
	base := txNameOf(xt, d["BaseFont"])
	if i := strings.IndexByte(base, '+'); i == 6 { // subset tag ABCDEF+
		base = base[i+1:]
	}
	desc, _ := xt.DereferenceDict(d["FontDescriptor"])
	symbolic := false
	if desc != nil {
		if fl := desc.IntEntry("Flags"); fl != nil && *fl&4 != 0 {
			symbolic = true
		}
		if mw, err := xt.DereferenceNumber(desc["MissingWidth"]); err == nil && desc["MissingWidth"] != nil {
			f.missing = mw
		}
	}

	// Base encoding (§9.6.6.1): the font dictionary's, else the embedded
	// Type 1 program's built-in one, else Standard (WinAnsi for TrueType,
	// which is what writers mean when they omit it).
	var enc [256]string
	builtin, hasBuiltin := [256]string{}, false
	if desc != nil && (sub == "Type1" || sub == "MMType1") {
		if ff, ok := desc.Find("FontFile"); ok {
			builtin, hasBuiltin = txType1Encoding(x.stream(ff))
		}
	}
	switch {
	case hasBuiltin:
		enc = builtin
	case sub == "TrueType" || symbolic:
		enc = txBaseEncoding("WinAnsiEncoding")
	case base == "Symbol" || base == "ZapfDingbats":
		// Their glyphs are symbols, not text.
	default:
		enc = txBaseEncoding("StandardEncoding")
	}
	eo, _ := xt.Dereference(d["Encoding"])
	switch e := eo.(type) {
	case types.Name:
		enc = txBaseEncoding(e.Value())
	case types.Dict:
		if be := txNameOf(xt, e["BaseEncoding"]); be != "" {
			enc = txBaseEncoding(be)
		}
		diffs, _ := xt.DereferenceArray(e["Differences"])
		code := -1
		for _, o := range diffs {
			o, _ = xt.Dereference(o)
			switch v := o.(type) {
			case types.Integer:
				code = int(v)
			case types.Float:
				code = int(v)
			case types.Name:
				if code >= 0 && code < 256 {
					enc[code] = txGlyphText(v.Value())
				}
				code++
			}
		}
	}
	f.enc = enc

	if sub == "Type3" {
		if fm, _ := xt.DereferenceArray(d["FontMatrix"]); len(fm) == 6 {
			if a, err := xt.DereferenceNumber(fm[0]); err == nil && a != 0 {
				f.scale = a
			}
		}
	}
	if fc := d.IntEntry("FirstChar"); fc != nil {
		f.first = *fc
	}
	ws, _ := xt.DereferenceArray(d["Widths"])
	for _, o := range ws {
		v, _ := xt.DereferenceNumber(o)
		f.widths = append(f.widths, v)
		if len(f.widths) > 65536 {
			break
		}
	}
	if len(f.widths) == 0 {
		if n := txCoreFontName(base); n != "" {
			// The standard 14 fonts may omit /Widths (PDF 1.x): take
			// pdfcpu's metrics once, by WinAnsi code, the encoding
			// writers use with them.
			f.first, f.widths = 0, make([]float64, 256)
			for c := range f.widths {
				if w, err := font.CharWidth(n, rune(c)); err == nil {
					f.widths[c] = float64(w)
				}
			}
		} else if f.missing == 0 {
			f.missing = 500
		}
	}
}

// next splits the next code off s and returns it with its length, its text
// and its width in text space per unit of font size.
func (f *txFont) next(s []byte) (code uint32, n int, text string, w float64) {
	if f.composite {
		if f.cmap != nil {
			code, n = f.cmap.nextCode(s)
		} else {
			n = min(2, len(s))
			code = txBytesToCode(s[:n])
		}
	} else {
		code, n = uint32(s[0]), 1
	}
	ok := false
	if f.toUni != nil {
		text, ok = f.toUni.text(code, n)
	}
	if !ok {
		switch {
		case !f.composite:
			text = f.enc[code]
		case f.unicode:
			text = string(rune(code))
		}
	}
	return code, n, txCleanText(text), f.width(code, n) * f.scale
}

func (f *txFont) width(code uint32, n int) float64 {
	if f.composite {
		cid := code
		if f.cmap != nil {
			if c, ok := f.cmap.cid(code, n); ok {
				cid = c
			}
		}
		for _, r := range f.cidW {
			if cid >= r.lo && cid <= r.hi {
				return r.w
			}
		}
		return f.missing
	}
	if i := int(code) - f.first; i >= 0 && i < len(f.widths) {
		return f.widths[i]
	}
	return f.missing
}

// txCleanText drops control characters and U+FFFD, which broken ToUnicode
// maps produce instead of text.
func txCleanText(s string) string {
	if s == "" {
		return s
	}
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0xFFFD || r == 0x7F {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0xFFFD || r == 0x7F {
			return -1
		}
		return r
	}, s)
}

// txCoreFontName maps a font name to one of the standard 14 fonts, with the
// usual aliases (Arial is Helvetica, TimesNewRoman is Times…), or "".
func txCoreFontName(base string) string {
	n := strings.NewReplacer(",", "-", " ", "").Replace(base)
	bold := strings.Contains(n, "Bold")
	italic := strings.Contains(n, "Italic") || strings.Contains(n, "Oblique")
	var family string
	switch {
	case strings.HasPrefix(n, "Helvetica"), strings.HasPrefix(n, "Arial"):
		family = "Helvetica"
	case strings.HasPrefix(n, "Times"):
		family = "Times"
	case strings.HasPrefix(n, "Courier"):
		family = "Courier"
	case n == "Symbol", n == "ZapfDingbats":
		return n
	default:
		return ""
	}
	name := family
	switch {
	case family == "Times" && bold && italic:
		name = "Times-BoldItalic"
	case family == "Times" && bold:
		name = "Times-Bold"
	case family == "Times" && italic:
		name = "Times-Italic"
	case family == "Times":
		name = "Times-Roman"
	case bold && italic:
		name += "-BoldOblique"
	case bold:
		name += "-Bold"
	case italic:
		name += "-Oblique"
	}
	if !font.IsCoreFont(name) {
		return ""
	}
	return name
}

// txNameOf returns the value of a name object, or "".
func txNameOf(xt *model.XRefTable, o types.Object) string {
	o, _ = xt.Dereference(o)
	if n, ok := o.(types.Name); ok {
		return n.Value()
	}
	return ""
}
