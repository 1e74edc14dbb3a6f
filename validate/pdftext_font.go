package validate

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/text/encoding/charmap"
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
	core    string // standard 14 font without /Widths: metrics from pdfcpu
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
			f.core = n
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
	if f.core != "" {
		if w, err := font.CharWidth(f.core, rune(code)); err == nil {
			return float64(w)
		}
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

// txStandardHigh is StandardEncoding from 0xA1 on (ISO 32000-1 Annex D.2);
// below, it is ASCII except for the quotes at 0x27 and 0x60.
var txStandardHigh = map[byte]rune{
	0xA1: '¡', 0xA2: '¢', 0xA3: '£', 0xA4: '⁄', 0xA5: '¥', 0xA6: 'ƒ', 0xA7: '§', 0xA8: '¤',
	0xA9: '\'', 0xAA: '“', 0xAB: '«', 0xAC: '‹', 0xAD: '›', 0xAE: 'ﬁ', 0xAF: 'ﬂ',
	0xB1: '–', 0xB2: '†', 0xB3: '‡', 0xB4: '·', 0xB6: '¶', 0xB7: '•', 0xB8: '‚', 0xB9: '„',
	0xBA: '”', 0xBB: '»', 0xBC: '…', 0xBD: '‰', 0xBF: '¿',
	0xC1: '`', 0xC2: '´', 0xC3: 'ˆ', 0xC4: '˜', 0xC5: '¯', 0xC6: '˘', 0xC7: '˙', 0xC8: '¨',
	0xCA: '˚', 0xCB: '¸', 0xCD: '˝', 0xCE: '˛', 0xCF: 'ˇ', 0xD0: '—',
	0xE1: 'Æ', 0xE3: 'ª', 0xE8: 'Ł', 0xE9: 'Ø', 0xEA: 'Œ', 0xEB: 'º',
	0xF1: 'æ', 0xF5: 'ı', 0xF8: 'ł', 0xF9: 'ø', 0xFA: 'œ', 0xFB: 'ß',
}

// txBaseEncoding returns a named base encoding (Annex D) as code → text.
func txBaseEncoding(name string) [256]string {
	var enc [256]string
	switch name {
	case "WinAnsiEncoding":
		for c := 0x20; c < 256; c++ {
			if r := charmap.Windows1252.DecodeByte(byte(c)); r != 0xFFFD && r >= 0x20 && r != 0x7F && (r < 0x80 || r > 0x9F) {
				enc[c] = string(r)
			}
		}
		enc[0xAD] = "-" // WinAnsi's hyphen, not a soft hyphen
	case "MacRomanEncoding":
		for c := 0x20; c < 256; c++ {
			if r := charmap.Macintosh.DecodeByte(byte(c)); r != 0xFFFD && r >= 0x20 && r != 0x7F {
				enc[c] = string(r)
			}
		}
	default: // StandardEncoding; also MacExpertEncoding and unknown names
		for c := 0x20; c < 0x7F; c++ {
			enc[c] = string(rune(c))
		}
		enc[0x27], enc[0x60] = "’", "‘"
		for c, r := range txStandardHigh {
			enc[c] = string(r)
		}
	}
	for c := range enc {
		enc[c] = txExpandLigature(enc[c])
	}
	return enc
}

// txLigatures are spelt out: the evidence search looks for words, and a
// U+FB01 inside "notiﬁcation" would hide one.
var txLigatures = strings.NewReplacer("ﬀ", "ff", "ﬁ", "fi", "ﬂ", "fl", "ﬃ", "ffi", "ﬄ", "ffl", "ﬅ", "st", "ﬆ", "st")

func txExpandLigature(s string) string {
	if s == "" || s[0] < 0x80 {
		return s
	}
	return txLigatures.Replace(s)
}

// txGlyphText returns the text of a glyph name (Adobe Glyph List
// specification): ligatures a_b, suffixes a.sc, uniXXXX… and uXXXX.
func txGlyphText(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	} else if i == 0 {
		return "" // .notdef and friends
	}
	if strings.Contains(name, "_") {
		var b strings.Builder
		for _, part := range strings.Split(name, "_") {
			b.WriteString(txGlyphText(part))
		}
		return b.String()
	}
	switch name {
	case "ff", "fi", "fl", "ffi", "ffl":
		return name
	}
	if r, ok := txGlyphNames[name]; ok {
		return string(r)
	}
	if strings.HasPrefix(name, "uni") && len(name) >= 7 && (len(name)-3)%4 == 0 {
		var b strings.Builder
		for i := 3; i+4 <= len(name); i += 4 {
			v, err := strconv.ParseUint(name[i:i+4], 16, 16)
			if err != nil {
				return ""
			}
			b.WriteRune(rune(v))
		}
		return txExpandLigature(b.String())
	}
	if strings.HasPrefix(name, "u") && len(name) >= 5 && len(name) <= 7 {
		if v, err := strconv.ParseUint(name[1:], 16, 32); err == nil && v <= 0x10FFFF {
			return txExpandLigature(string(rune(v)))
		}
	}
	return ""
}

// txType1Encoding reads the built-in encoding of an embedded Type 1 font
// program from its clear-text part ("dup 65 /A put" lines before eexec).
func txType1Encoding(prog []byte) ([256]string, bool) {
	var enc [256]string
	if prog == nil {
		return enc, false
	}
	if i := bytes.Index(prog, []byte("eexec")); i >= 0 {
		prog = prog[:i]
	}
	prog = prog[:min(len(prog), 64<<10)]
	i := bytes.Index(prog, []byte("/Encoding"))
	if i < 0 {
		return enc, false
	}
	prog = prog[i+len("/Encoding"):]
	if bytes.HasPrefix(bytes.TrimLeft(prog, " \t\r\n"), []byte("StandardEncoding")) {
		return enc, false // Standard is the default anyway
	}
	l := &txLexer{b: prog}
	var prev [3]txTok
	found := false
	for {
		t := l.next()
		if t.kind == txEOF || t.kind == txOp && (string(t.b) == "readonly" || string(t.b) == "def") {
			return enc, found
		}
		if t.kind == txOp && string(t.b) == "put" && prev[0].kind == txOp && string(prev[0].b) == "dup" &&
			prev[1].kind == txNum && prev[2].kind == txName && prev[1].num >= 0 && prev[1].num < 256 {
			enc[int(prev[1].num)] = txGlyphText(string(prev[2].b))
			found = true
		}
		prev[0], prev[1], prev[2] = prev[1], prev[2], t
	}
}

// txNameOf returns the value of a name object, or "".
func txNameOf(xt *model.XRefTable, o types.Object) string {
	o, _ = xt.Dereference(o)
	if n, ok := o.(types.Name); ok {
		return n.Value()
	}
	return ""
}
