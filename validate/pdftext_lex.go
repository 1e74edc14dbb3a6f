package validate

import (
	"bytes"
	"strconv"
)

// A tokenizer for PDF content streams and CMaps (ISO 32000-1 §7.2, §7.3,
// §7.8.2). It never fails: malformed input yields odd tokens, which the
// interpreter ignores, and the end of input yields txEOF.

type txKind uint8

const (
	txEOF txKind = iota
	txNum
	txStr  // literal or hexadecimal string; b holds the bytes
	txName // b holds the name without the slash, #xx decoded
	txOp   // operator or keyword (true, null, begincmap…)
	txArrOpen
	txArrClose
	txDictOpen
	txDictClose
)

type txTok struct {
	kind  txKind
	num   float64
	b     []byte
	items []txTok // an array's elements, once the interpreter gathered them
}

// txMaxString bounds one string token; longer ones are cut.
const txMaxString = 1 << 20

type txLexer struct {
	b   []byte
	pos int
}

func txIsSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func txIsDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// next returns the next token.
func (l *txLexer) next() txTok {
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		switch {
		case txIsSpace(c):
			l.pos++
			continue
		case c == '%':
			for l.pos < len(l.b) && l.b[l.pos] != '\n' && l.b[l.pos] != '\r' {
				l.pos++
			}
			continue
		}
		break
	}
	if l.pos >= len(l.b) {
		return txTok{kind: txEOF}
	}
	c := l.b[l.pos]
	switch c {
	case '(':
		l.pos++
		return txTok{kind: txStr, b: l.literal()}
	case '<':
		if l.pos+1 < len(l.b) && l.b[l.pos+1] == '<' {
			l.pos += 2
			return txTok{kind: txDictOpen}
		}
		l.pos++
		return txTok{kind: txStr, b: l.hex()}
	case '>':
		if l.pos+1 < len(l.b) && l.b[l.pos+1] == '>' {
			l.pos += 2
			return txTok{kind: txDictClose}
		}
		l.pos++
		return txTok{kind: txOp, b: []byte(">")}
	case '[':
		l.pos++
		return txTok{kind: txArrOpen}
	case ']':
		l.pos++
		return txTok{kind: txArrClose}
	case '{', '}', ')':
		l.pos++
		return txTok{kind: txOp, b: []byte{c}}
	case '/':
		l.pos++
		return txTok{kind: txName, b: txDecodeName(l.regular())}
	}
	w := l.regular()
	if len(w) == 0 { // cannot happen, but never loop
		l.pos++
		return txTok{kind: txOp, b: []byte{c}}
	}
	if c == '+' || c == '-' || c == '.' || c >= '0' && c <= '9' {
		if f, ok := txParseNumber(w); ok {
			return txTok{kind: txNum, num: f}
		}
	}
	return txTok{kind: txOp, b: w}
}

// regular consumes a run of regular characters.
func (l *txLexer) regular() []byte {
	start := l.pos
	for l.pos < len(l.b) && !txIsSpace(l.b[l.pos]) && !txIsDelim(l.b[l.pos]) {
		l.pos++
	}
	return l.b[start:l.pos]
}

// txParseNumber reads a PDF number, leniently: "--5" or "5-" (seen in
// broken generators) read as the number they most likely meant.
func txParseNumber(w []byte) (float64, bool) {
	s := string(w)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	neg := false
	for len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = neg != (s[0] == '-')
		s = s[1:]
	}
	if i := bytes.IndexAny([]byte(s), "+-"); i > 0 {
		s = s[:i]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// literal reads a (string) after its opening parenthesis (§7.3.4.2).
func (l *txLexer) literal() []byte {
	var out []byte
	depth := 1
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return out
			}
		case '\\':
			if l.pos >= len(l.b) {
				return out
			}
			e := l.b[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r': // line continuation
				if l.pos < len(l.b) && l.b[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for i := 0; i < 2 && l.pos < len(l.b) && l.b[l.pos] >= '0' && l.b[l.pos] <= '7'; i++ {
						v = v*8 + int(l.b[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				} else {
					c = e // \( \) \\ and unknown escapes: the character itself
				}
			}
		}
		if len(out) < txMaxString {
			out = append(out, c)
		}
	}
	return out
}

// hex reads a <hex string> after its opening angle bracket (§7.3.4.3).
func (l *txLexer) hex() []byte {
	var out []byte
	var hi byte
	half := false
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		var v byte
		switch {
		case c == '>':
			if half {
				out = append(out, hi<<4) // odd digit count: final 0 assumed
			}
			return out
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			continue // white space, and junk, are ignored
		}
		if half {
			if len(out) < txMaxString {
				out = append(out, hi<<4|v)
			}
			half = false
		} else {
			hi, half = v, true
		}
	}
	return out
}

// skipInlineImage moves past the data of an inline image, just after its
// ID operator, to the EI operator (§8.9.7). The data has no length, so EI
// is looked for between white space, as viewers do.
func (l *txLexer) skipInlineImage() {
	if l.pos < len(l.b) && txIsSpace(l.b[l.pos]) {
		l.pos++
	}
	for i := l.pos; i+1 < len(l.b); i++ {
		if l.b[i] == 'E' && l.b[i+1] == 'I' && (i == l.pos || txIsSpace(l.b[i-1])) &&
			(i+2 == len(l.b) || txIsSpace(l.b[i+2]) || txIsDelim(l.b[i+2])) {
			l.pos = i + 2
			return
		}
	}
	l.pos = len(l.b)
}

// txDecodeName decodes #xx escapes in a name (§7.3.5).
func txDecodeName(b []byte) []byte {
	if bytes.IndexByte(b, '#') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '#' && i+2 < len(b) {
			if v, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}
