package intake

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// Content-Transfer-Encoding decoders (RFC 2045 §6), streaming, and as lenient
// as the oracle's (CPython's binascii): a damaged body is decoded as far as it
// goes rather than refused, since the document still belongs to the file.

// normalizeCTE reads a Content-Transfer-Encoding value as the oracle does:
// blanks, quotes and anything after ';' ignored, lower case.
func normalizeCTE(v string) string {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func isIdentityCTE(cte string) bool {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

func isUUCTE(cte string) bool {
	switch cte {
	case "x-uuencode", "uuencode", "uue", "x-uue":
		return true
	}
	return false
}

// b64Value maps a byte to its base64 value (RFC 4648 §4), 64 and above when
// it is not in the alphabet.
var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// base64Reader decodes base64 like binascii.a2b_base64 in its lenient mode:
// characters outside the alphabet are skipped, decoding stops at the first
// complete padding, a final partial quantum yields the bytes it holds.
type base64Reader struct {
	r    io.Reader
	in   []byte
	quad int
	left byte
	pads int
	done bool
	err  error
}

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{r: r, in: make([]byte, 32<<10)}
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for {
		if d.done || d.err != nil {
			if d.err == nil {
				d.err = io.EOF
			}
			return 0, d.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		// One input byte yields at most one output byte.
		m, err := d.r.Read(d.in[:min(len(p), len(d.in))])
		in := d.in[:m]
		out := 0
		for i := 0; i < len(in); i++ {
			// Fast path: a whole quantum of alphabet characters.
			if d.quad == 0 && i+4 <= len(in) {
				a, b, c, e := b64Value[in[i]], b64Value[in[i+1]], b64Value[in[i+2]], b64Value[in[i+3]]
				if a|b|c|e < 64 {
					p[out] = a<<2 | b>>4
					p[out+1] = b<<4 | c>>2
					p[out+2] = c<<6 | e
					out += 3
					d.pads = 0
					i += 3
					continue
				}
			}
			c := in[i]
			if c == '=' {
				if d.quad >= 2 {
					d.pads++
					if d.quad+d.pads >= 4 {
						d.done = true
						break
					}
				}
				continue
			}
			v := b64Value[c]
			if v >= 64 {
				continue
			}
			d.pads = 0
			switch d.quad {
			case 0:
				d.left = v
				d.quad = 1
			case 1:
				p[out] = d.left<<2 | v>>4
				out++
				d.left = v & 0x0f
				d.quad = 2
			case 2:
				p[out] = d.left<<4 | v>>2
				out++
				d.left = v & 0x03
				d.quad = 3
			case 3:
				p[out] = d.left<<6 | v
				out++
				d.quad = 0
			}
		}
		if err != nil {
			d.err = err
		}
		if out > 0 {
			return out, nil
		}
	}
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) like binascii.a2b_qp:
// "=XX" with hex digits is a byte, "=" before a line break is a soft break
// (with "=\r" everything up to the next LF goes), "==" is "=", any other "="
// is kept, a final "=" is dropped. Line breaks and trailing blanks are kept.
type qpReader struct {
	r      io.Reader
	in     []byte
	buf    []byte
	eof    bool
	err    error
	skipLF bool
}

func newQPReader(r io.Reader) *qpReader {
	return &qpReader{r: r, in: make([]byte, 32<<10)}
}

// fill reads more input after what is left in buf.
func (q *qpReader) fill() {
	n := copy(q.in, q.buf)
	m, err := q.r.Read(q.in[n:])
	q.buf = q.in[:n+m]
	if err != nil {
		q.eof = true
		if err != io.EOF {
			q.err = err
		}
	}
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(q.buf) == 0 || (q.buf[0] == '=' && len(q.buf) < 3 && !q.eof) {
			if q.eof {
				break
			}
			q.fill()
			continue
		}
		if q.skipLF {
			i := bytes.IndexByte(q.buf, '\n')
			if i < 0 {
				q.buf = q.buf[:0]
				continue
			}
			q.buf = q.buf[i+1:]
			q.skipLF = false
			continue
		}
		if q.buf[0] != '=' {
			i := bytes.IndexByte(q.buf, '=')
			if i < 0 {
				i = len(q.buf)
			}
			m := copy(p[n:], q.buf[:i])
			n += m
			q.buf = q.buf[m:]
			continue
		}
		if len(q.buf) == 1 {
			q.buf = q.buf[:0] // "=" at the very end
			continue
		}
		switch c := q.buf[1]; {
		case c == '\n':
			q.buf = q.buf[2:]
		case c == '\r':
			q.buf = q.buf[1:]
			q.skipLF = true
		case c == '=':
			p[n] = '='
			n++
			q.buf = q.buf[2:]
		case len(q.buf) >= 3 && isHex(c) && isHex(q.buf[2]):
			p[n] = unhex(c)<<4 | unhex(q.buf[2])
			n++
			q.buf = q.buf[3:]
		default:
			p[n] = '='
			n++
			q.buf = q.buf[1:]
		}
	}
	if n == 0 && q.eof && len(q.buf) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		return 0, io.EOF
	}
	return n, nil
}

// uudecode decodes a uuencoded body the way the oracle's Python does
// (email.message._decode_uu): from the "begin NNN name" line to the "end"
// line. ok is false when the body is not uuencoded after all (no begin line,
// an empty line before "end", a line binascii refuses): the oracle then keeps
// the body as it is, and so does the caller.
func uudecode(r io.Reader, w io.Writer) (ok bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	begun := false
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// No uuencoded line is that long: not uuencode.
			return false, nil
		}
		if len(line) == 0 && rerr != nil {
			if rerr == io.EOF {
				return begun, nil
			}
			return false, rerr
		}
		line = bytes.TrimRight(line, "\r\n")
		if !begun {
			if rest, found := bytes.CutPrefix(line, []byte("begin ")); found {
				mode, _, _ := bytes.Cut(rest, []byte(" "))
				begun = isOctal(mode)
			}
		} else {
			if len(line) == 0 {
				return false, nil
			}
			if string(bytes.Trim(line, " \t\r\n\f")) == "end" {
				return true, nil
			}
			data, good := a2bUU(line)
			if !good {
				nbytes := ((int(line[0]-32)&63)*4 + 5) / 3
				data, good = a2bUU(line[:min(nbytes, len(line))])
				if !good {
					return false, nil
				}
			}
			if _, err := w.Write(data); err != nil {
				return false, err
			}
		}
		if rerr == io.EOF {
			return begun, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
}

func isOctal(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// a2bUU decodes one uuencoded line like binascii.a2b_uu.
func a2bUU(line []byte) ([]byte, bool) {
	if len(line) == 0 {
		return nil, true
	}
	n := int(line[0]-' ') & 0x3f
	data := line[1:]
	out := make([]byte, 0, n)
	var left uint32
	bits := 0
	i := 0
	for ; len(out) < n; i++ {
		var v byte
		if i < len(data) && data[i] != '\n' && data[i] != '\r' {
			c := data[i]
			if c < ' ' || c > ' '+64 {
				return nil, false
			}
			v = (c - ' ') & 0x3f
		}
		left = left<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(left>>bits))
			left &= 1<<bits - 1
		}
	}
	for ; i < len(data); i++ {
		if c := data[i]; c != ' ' && c != ' '+64 && c != '\n' && c != '\r' {
			return nil, false
		}
	}
	return out, true
}
