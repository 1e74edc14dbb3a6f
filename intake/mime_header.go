package intake

import (
	"bytes"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/charmap"
)

// header is one header block, fields in order, values as written (folds
// kept, line break at the end removed).
type header struct {
	fields []headerField
}

type headerField struct {
	name  string
	value string
}

// readHeader reads a header block the way the oracle's parser
// (email.feedparser) does: header lines are "Name:" lines and continuation
// lines; the block ends at a blank line (consumed), at an enclosing boundary
// or at the end of the input, or at the first other line, which is then the
// first line of the body (RFC 5322 §2.2, read leniently).
func readHeader(lr *lineReader, limit int64) (*header, error) {
	budget := limit
	var lines [][]byte
	var buf []byte
	var bodyStart []byte
	for {
		line, err := lr.fullLine(buf, &budget, limit)
		buf = line
		if err == errFalseEOF || err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if !isHeaderLine(line) {
			switch {
			case isLineBreak(line):
			case line[0] == '\r':
				// A lone CR ends the header block; what follows it is body.
				bodyStart = line[1:]
			default:
				bodyStart = line
			}
			break
		}
		lines = append(lines, bytes.Clone(line))
	}
	h := &header{}
	// The field being read, as bytes: appending continuation lines to a
	// string would cost quadratic time on a long folded field.
	var name string
	var value []byte
	end := func() {
		if name != "" {
			h.fields = append(h.fields, headerField{name: name, value: strings.TrimRight(string(value), "\r\n")})
		}
		name, value = "", value[:0]
	}
	for i, line := range lines {
		if line[0] == ' ' || line[0] == '\t' {
			// A continuation line before any field is dropped.
			if name != "" {
				value = append(value, line...)
			}
			continue
		}
		end()
		if bytes.HasPrefix(line, []byte("From ")) {
			// An mbox envelope line first is skipped; one last is the first
			// line of the body; one elsewhere is ignored (as the oracle does).
			if i > 0 && i == len(lines)-1 {
				bodyStart = append(bytes.Clone(line), bodyStart...)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // ":value" has no name
		}
		name = string(line[:colon])
		value = append(value, bytes.TrimLeft(line[colon+1:], " \t")...)
	}
	end()
	lr.unread(bodyStart)
	return h, nil
}

// isHeaderLine matches the oracle's ^(From |[\041-\071\073-\176]*:|[\t ]).
func isHeaderLine(line []byte) bool {
	if line[0] == ' ' || line[0] == '\t' || bytes.HasPrefix(line, []byte("From ")) {
		return true
	}
	for _, c := range line {
		if c == ':' {
			return true
		}
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return false
}

func isLineBreak(line []byte) bool {
	s := string(line)
	return s == "\n" || s == "\r\n" || s == "\r"
}

// raw returns the first value of the named field as written, and whether
// the field is present.
func (h *header) raw(name string) (string, bool) {
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// count returns how many fields have that name.
func (h *header) count(name string) int {
	n := 0
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// text returns the first value of the named field unfolded (RFC 5322 §2.2.3:
// the line breaks are removed, the white space after them kept) and as valid
// UTF-8.
func (h *header) text(name string) string {
	v, _ := h.raw(name)
	return fix8bit(unfold(v))
}

func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(v)
}

// fix8bit turns a header value with raw 8-bit bytes into text: UTF-8 as is
// (RFC 6532), anything else read as Windows-1252, the oracle's guess too.
func fix8bit(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// envelopeOf reads the identifying fields of a message header.
func envelopeOf(h *header) *Envelope {
	e := &Envelope{
		Subject:   pyStrip(decodeWords(h.text("Subject"))),
		MessageID: strings.TrimSpace(h.text("Message-Id")),
	}
	e.FromName, e.From = firstAddress(h.text("From"))
	if d := strings.TrimSpace(h.text("Date")); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			e.Date = t
		}
	}
	return e
}

// maxAddressField bounds what the address parser reads of a From field.
const maxAddressField = 16 << 10

var angleAddr = regexp.MustCompile(`<\s*([^<>\s@]+@[^<>\s]+)\s*>`)

// firstAddress returns the display name and the first addr-spec of an
// address list (RFC 5322 §3.4), or of the first <angle-addr> when the list
// does not parse (then without a name).
func firstAddress(v string) (name, addr string) {
	if strings.TrimSpace(v) == "" {
		return "", ""
	}
	if len(v) > maxAddressField {
		v = v[:maxAddressField] // the first address is near the start
	}
	if list, err := gomail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if a.Address != "" {
				return strings.TrimSpace(a.Name), a.Address
			}
		}
	}
	if m := angleAddr.FindStringSubmatch(v); m != nil {
		return "", m[1]
	}
	words := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	for _, f := range words {
		if strings.Contains(f, "@") {
			return "", strings.Trim(f, "<>\"'")
		}
	}
	if len(words) == 1 {
		return "", strings.Trim(words[0], "<>") // a bare local part ("From: me")
	}
	return "", ""
}
