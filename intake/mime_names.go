package intake

import (
	"bytes"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message/charset"
)

// Decoding of structured MIME header values: media types, parameters
// (RFC 2045 §5.1, RFC 2183), RFC 2231 extended and continued parameters and
// RFC 2047 encoded words, read as leniently as real mail requires and as the
// corpus oracle reads them.

// param is one parameter of a Content-Type or Content-Disposition value.
type param struct {
	name  string // lower case, without the RFC 2231 suffix
	value string
	// plain is true when the value came from a plain name=value (where
	// RFC 2047 words may hide), false when it came from RFC 2231 sections.
	plain bool
}

// paramValue is a parsed Content-Type or Content-Disposition value.
type paramValue struct {
	token  string // the media type or disposition, lower case
	params []param
}

func (v paramValue) get(name string) (param, bool) {
	for _, p := range v.params {
		if p.name == name {
			return p, true
		}
	}
	return param{}, false
}

// parseParamValue parses "token; name=value; name*0*=…". The value must
// already be unfolded.
func parseParamValue(s string) paramValue {
	segs := splitParams(s)
	v := paramValue{token: strings.ToLower(strings.TrimSpace(segs[0]))}
	rest := segs[1:]
	// "application/pdf name=x.pdf": a missing ';' after the token. Read what
	// follows the first blank as parameters rather than lose the name.
	if i := strings.IndexAny(v.token, " \t"); i > 0 && strings.Contains(v.token[i:], "=") {
		extra := splitParams(segs[0][strings.IndexAny(segs[0], " \t"):])
		v.token = v.token[:i]
		rest = append(extra, rest...)
	}
	type section struct {
		value    string
		extended bool
	}
	type group struct {
		first    int // position in v.params
		sections map[int]section
	}
	groups := map[string]*group{}
	for _, seg := range rest {
		eq := strings.IndexByte(seg, '=')
		if eq < 0 {
			continue // a bare attribute carries nothing we use
		}
		name := strings.ToLower(strings.TrimSpace(seg[:eq]))
		value, _ := unquote(strings.TrimSpace(seg[eq+1:]))
		base, num, extended, is2231 := splitRFC2231Name(name)
		if name == "" || base == "" {
			continue
		}
		if _, seen := v.get(base); seen {
			g := groups[base]
			if g != nil && is2231 {
				if _, dup := g.sections[num]; !dup {
					g.sections[num] = section{value, extended}
				}
			}
			// The first of duplicate parameters wins, as in the oracle.
			continue
		}
		if !is2231 {
			v.params = append(v.params, param{name: base, value: value, plain: true})
			continue
		}
		groups[base] = &group{first: len(v.params), sections: map[int]section{num: {value, extended}}}
		v.params = append(v.params, param{name: base})
	}
	// RFC 2231 §3: sections are joined in order from 0, stopping at a gap;
	// §4: extended sections are percent-encoded in the charset of section 0.
	for _, g := range groups {
		var raw []byte
		cs := ""
		for i := 0; ; i++ {
			sec, ok := g.sections[i]
			if !ok {
				break
			}
			val := sec.value
			if sec.extended {
				if i == 0 {
					cs, val = splitCharsetLang(val)
				}
				raw = append(raw, percentDecode(val)...)
			} else {
				raw = append(raw, val...)
			}
		}
		v.params[g.first].value = decodeCharset(cs, raw)
	}
	return v
}

// splitParams splits at the semicolons that are not inside a quoted string.
func splitParams(s string) []string {
	var segs []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				segs = append(segs, s[start:i])
				start = i + 1
			}
		}
	}
	return append(segs, s[start:])
}

// unquote returns the content of a quoted string (RFC 5322 §3.2.4), text
// after the closing quote ignored, or an unquoted value as is: an unquoted
// name with blanks is kept whole. A backslash quotes only '"' and '\'; before
// anything else it is kept, since Windows paths arrive unescaped.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, false
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			return b.String(), true
		case c == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\'):
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// splitRFC2231Name splits "filename*1*" into ("filename", 1, true, true).
// "filename*" is section 0, extended.
func splitRFC2231Name(name string) (base string, num int, extended, is2231 bool) {
	star := strings.IndexByte(name, '*')
	if star < 0 {
		return name, 0, false, false
	}
	base, rest := name[:star], name[star+1:]
	if rest == "" {
		return base, 0, true, true
	}
	if strings.HasSuffix(rest, "*") {
		extended = true
		rest = rest[:len(rest)-1]
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n > 1000 {
		return "", 0, false, false
	}
	return base, n, extended, true
}

// splitCharsetLang splits "utf-8'fr'value" (RFC 2231 §4). Without two
// apostrophes there is no charset.
func splitCharsetLang(v string) (cs, rest string) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) < 3 {
		return "", v
	}
	return parts[0], parts[2]
}

// percentDecode decodes %XX; a '%' not followed by two hex digits is kept.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeCharset converts bytes in the named charset to UTF-8. An unknown or
// absent charset never loses the text: valid UTF-8 is taken as is, anything
// else as Windows-1252.
func decodeCharset(cs string, b []byte) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i] // RFC 2231 §5: charset*language in encoded words
	}
	switch cs {
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(b), "\uFFFD")
	case "", "us-ascii", "ascii":
		return fix8bit(string(b))
	}
	if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
		if out, err := io.ReadAll(r); err == nil {
			return strings.ToValidUTF8(string(out), "\uFFFD")
		}
	}
	return fix8bit(string(b))
}

// decodeWords decodes the RFC 2047 encoded words in s, wherever they are
// (also inside quoted strings, as Outlook writes them). White space between
// two encoded words is dropped (RFC 2047 §6.2); adjacent words in the same
// charset are joined before decoding, so a character split across two words
// survives. A word that does not decode is kept as written.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	var pend []byte // decoded bytes of adjacent words in pendCS
	pendCS := ""
	gap := "" // white space seen after the last word
	flush := func() {
		if pend != nil {
			out.WriteString(decodeCharset(pendCS, pend))
			pend, pendCS = nil, ""
		}
	}
	for len(s) > 0 {
		i := strings.Index(s, "=?")
		if i < 0 {
			break
		}
		cs, data, n, ok := parseWord(s[i:])
		if !ok {
			flush()
			out.WriteString(gap)
			gap = ""
			out.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		between := s[:i]
		if pend != nil && strings.TrimLeft(between, " \t") == "" {
			// Adjacent words: the white space between them goes.
			if !strings.EqualFold(cs, pendCS) {
				flush()
			}
		} else {
			flush()
			out.WriteString(between)
		}
		if pend == nil {
			pendCS = cs
			pend = []byte{}
		}
		pend = append(pend, data...)
		s = s[i+n:]
	}
	flush()
	out.WriteString(s)
	return out.String()
}

// maxWordText bounds the search for the end of an encoded word.
const maxWordText = 1024

// parseWord decodes one "=?charset?B|Q?text?=" at the start of s and
// returns its charset, its bytes and its length.
func parseWord(s string) (cs string, data []byte, n int, ok bool) {
	q1 := strings.IndexByte(s[2:min(len(s), 2+maxWordText)], '?')
	if q1 < 0 {
		return "", nil, 0, false
	}
	q1 += 2
	if len(s) < q1+3 || s[q1+2] != '?' {
		return "", nil, 0, false
	}
	enc := s[q1+1]
	// RFC 2047 §2 caps a word at 75 characters; real mail goes past that,
	// but a bounded search keeps a hostile header from costing quadratic
	// time.
	text := s[q1+3:]
	if len(text) > maxWordText {
		text = text[:maxWordText]
	}
	end := strings.Index(text, "?=")
	if end < 0 {
		return "", nil, 0, false
	}
	end += q1 + 3
	cs, text = s[2:q1], s[q1+3:end]
	if cs == "" || strings.ContainsAny(cs, " \t") || !isPrintableASCII(text) {
		// An encoded word is printable ASCII without blanks (RFC 2047 §2);
		// one with raw 8-bit text is not decoded, as the oracle does not.
		return "", nil, 0, false
	}
	switch enc {
	case 'B', 'b':
		data = decodeBase64Lenient(text)
	case 'Q', 'q':
		data = decodeQWord(text)
	default:
		return "", nil, 0, false
	}
	return cs, data, end + 2, true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// decodeBase64Lenient decodes base64, ignoring characters outside the
// alphabet and missing padding.
func decodeBase64Lenient(s string) []byte {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '=' {
			break
		} else if b64Value[c] < 64 {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // a lone sixth of a byte carries nothing
	}
	out, _ := base64.RawStdEncoding.DecodeString(string(clean))
	return out
}

// decodeQWord decodes the Q encoding of RFC 2047 §4.2.
func decodeQWord(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

// pyStrip trims white space as Python's str.strip does (the oracle strips
// decoded names): Unicode spaces and the ASCII separators 0x1C–0x1F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}
