package validate

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// Simple-font encodings (ISO 32000-1 §9.6.6, Annex D): the base encodings,
// glyph names from /Differences and Type 1 programs, ligatures.

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
