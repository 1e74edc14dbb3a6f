package intake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// The line layer of the MIME walk. It reads a message as lines, the way
// Python's email.feedparser does (the corpus oracle): a line that matches the
// boundary of any enclosing multipart is a false end of file for whatever is
// being read inside (RFC 2046 §5.1.2: outer boundaries are recognised at any
// depth). Lines are never held whole: a long line is handed out in chunks,
// and only the start of a line is examined for a boundary.

// lineBufSize is the read buffer of one message level; a boundary line must
// fit in it to be recognised (RFC 2046 §5.1.1 caps boundaries at 70 bytes).
const lineBufSize = 16 << 10

// maxBoundaryLen is the longest boundary parameter honoured; a multipart with
// a longer one is read as an unsplit body.
const maxBoundaryLen = 4 << 10

// boundaryWSSlack is how much trailing white space a boundary line may carry.
const boundaryWSSlack = 256

var errFalseEOF = errors.New("mime: enclosing boundary reached")

// lineReader reads one message level (the top message, or an embedded one
// from its spool).
type lineReader struct {
	br *bufio.Reader
	// seps holds "--boundary" of each enclosing multipart, innermost last.
	seps [][]byte
	// maxSep is the longest entry of seps.
	maxSep int
	// bol is true when the next byte starts a line.
	bol bool
	// pushed is a line given back by the header reader: the first line of a
	// body that had no blank line before it.
	pushed []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, lineBufSize), bol: true}
}

func (lr *lineReader) push(sep []byte) {
	lr.seps = append(lr.seps, sep)
	if len(sep) > lr.maxSep {
		lr.maxSep = len(sep)
	}
}

func (lr *lineReader) pop() {
	lr.seps = lr.seps[:len(lr.seps)-1]
	lr.maxSep = 0
	for _, s := range lr.seps {
		lr.maxSep = max(lr.maxSep, len(s))
	}
}

// inMultipart reports whether reading happens inside a multipart, where the
// line break before a boundary belongs to the boundary (RFC 2046 §5.1.1).
func (lr *lineReader) inMultipart() bool { return len(lr.seps) > 0 }

// peekLine returns the next line, unconsumed, when it starts with '-' and
// fits in longest+slack bytes; nil otherwise. Only such lines can be
// boundaries. The slice is valid until the next read.
func (lr *lineReader) peekLine(longest int) ([]byte, error) {
	if len(lr.pushed) > 0 && lr.bol {
		// A line given back by the header reader is examined like any other.
		line := lr.pushed
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if line[0] != '-' {
			return nil, nil
		}
		return line, nil
	}
	b, err := lr.br.Peek(1)
	if len(b) == 0 {
		if err == nil {
			err = io.EOF
		}
		return nil, err
	}
	if !lr.bol || b[0] != '-' {
		return nil, nil
	}
	n := min(longest+2+boundaryWSSlack, lineBufSize)
	w, err := lr.br.Peek(n)
	if i := bytes.IndexByte(w, '\n'); i >= 0 {
		return w[:i+1], nil
	}
	if err != nil && len(w) < n {
		// Last line of the input, without a line break.
		return w, nil
	}
	return nil, nil
}

// peekFor looks at the next line for a multipart whose delimiter is sep: stop
// is true at an enclosing boundary (outer boundaries win, RFC 2046 §5.1.2) or
// at the end of the input; otherwise line is the next line if it may be a
// delimiter, nil if it cannot.
func (lr *lineReader) peekFor(sep []byte) (line []byte, stop bool, err error) {
	eof, err := lr.atFalseEOF()
	if eof || err == io.EOF {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	line, err = lr.peekLine(max(len(sep), lr.maxSep))
	if err == io.EOF {
		return nil, true, nil
	}
	return line, false, err
}

// matchSep reports whether line is a boundary line for sep ("--boundary"),
// and whether it is the close delimiter. Like the oracle's regular
// expression: sep, optional "--", optional blanks, optional line break, end.
func matchSep(line, sep []byte) (ok, end bool) {
	if !bytes.HasPrefix(line, sep) {
		return false, false
	}
	rest := line[len(sep):]
	if bytes.HasPrefix(rest, []byte("--")) {
		end = true
		rest = rest[2:]
	}
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	switch string(rest) {
	case "", "\n", "\r\n", "\r":
		return true, end
	}
	// "--b--x" is neither a close delimiter nor, as "--b" then "--x", a
	// delimiter.
	return false, false
}

// atFalseEOF reports whether the next line is a boundary of an enclosing
// multipart. It consumes nothing.
func (lr *lineReader) atFalseEOF() (bool, error) {
	if len(lr.seps) == 0 {
		return false, nil
	}
	line, err := lr.peekLine(lr.maxSep)
	if line == nil {
		return false, err
	}
	for i := len(lr.seps) - 1; i >= 0; i-- {
		if ok, _ := matchSep(line, lr.seps[i]); ok {
			return true, nil
		}
	}
	return false, nil
}

// chunk returns the next piece of the current line, consuming it: a whole
// line with its line break, or a piece of a long one. It returns
// errFalseEOF at an enclosing boundary and io.EOF at the end of the input.
// The slice is valid until the next call.
func (lr *lineReader) chunk() ([]byte, error) {
	if lr.bol {
		eof, err := lr.atFalseEOF()
		if err != nil && err != io.EOF {
			return nil, err
		}
		if eof {
			return nil, errFalseEOF
		}
	}
	if len(lr.pushed) > 0 {
		c := lr.pushed
		if i := bytes.IndexByte(c, '\n'); i >= 0 {
			c = c[:i+1]
		}
		lr.pushed = lr.pushed[len(c):]
		lr.bol = c[len(c)-1] == '\n'
		return c, nil
	}
	c, err := lr.br.ReadSlice('\n')
	if len(c) > 0 {
		lr.bol = c[len(c)-1] == '\n'
		return c, nil
	}
	if err == nil || err == bufio.ErrBufferFull {
		// Cannot happen: ReadSlice returns data or an error.
		err = io.ErrNoProgress
	}
	return nil, err
}

// skipLine consumes the rest of the current line, copying it to w when w is
// not nil. It returns errFalseEOF or io.EOF when there was no line to skip.
func (lr *lineReader) skipLine(w io.Writer) error {
	for {
		c, err := lr.chunk()
		if err != nil {
			return err
		}
		if w != nil {
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
		if lr.bol {
			return nil
		}
	}
}

// fullLine reads one whole line for the header parser, failing when the
// header budget is spent. It returns errFalseEOF or io.EOF when there is no
// line.
func (lr *lineReader) fullLine(buf []byte, budget *int64, limit int64) ([]byte, error) {
	buf = buf[:0]
	for {
		c, err := lr.chunk()
		if err != nil {
			if len(buf) > 0 && (err == io.EOF) {
				return buf, nil
			}
			return buf, err
		}
		*budget -= int64(len(c))
		if *budget < 0 {
			return nil, overLimit(LimitHeaderSize, limit-*budget, limit, "header block")
		}
		buf = append(buf, c...)
		if lr.bol {
			return buf, nil
		}
	}
}

// unread gives back a line read by fullLine; the next chunk returns it.
func (lr *lineReader) unread(line []byte) {
	if len(line) == 0 {
		return
	}
	lr.pushed = append(bytes.Clone(line), lr.pushed...)
	lr.bol = true
}

// bodyReader streams the raw (still transfer-encoded) body of the current
// entity up to the next enclosing boundary or the end of the input. Inside a
// multipart the last line break is dropped: it belongs to the boundary
// (RFC 2046 §5.1.1), as the oracle strips it too.
type bodyReader struct {
	lr    *lineReader
	strip bool
	// out is what Read hands out next; next follows it.
	out, next []byte
	// tail is the line break held back at the end of what was read.
	tail    [2]byte
	ntail   int
	tailOut [2]byte
	err     error
}

func newBodyReader(lr *lineReader) *bodyReader {
	return &bodyReader{lr: lr, strip: lr.inMultipart()}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	// Fill p from as many lines as fit: a body is mostly short lines, and
	// one Read per line would cost the decoders and hashes above dearly.
	n := 0
	for n < len(p) {
		if len(b.out) == 0 && !b.fetch() {
			break
		}
		m := copy(p[n:], b.out)
		b.out = b.out[m:]
		n += m
	}
	if n == 0 && len(p) > 0 {
		return 0, b.err
	}
	return n, nil
}

// fetch makes b.out non-empty, or returns false at the end of the body.
func (b *bodyReader) fetch() bool {
	for len(b.out) == 0 {
		if len(b.next) > 0 {
			b.out, b.next = b.next, nil
			continue
		}
		if b.err != nil {
			return false
		}
		c, err := b.lr.chunk()
		if err != nil {
			b.err = err
			if err == errFalseEOF {
				b.err = io.EOF
			}
			if b.err == io.EOF && !b.strip && b.ntail > 0 {
				b.tailOut = b.tail
				b.out = b.tailOut[:b.ntail]
				b.ntail = 0
			}
			continue
		}
		if b.ntail == 1 && b.tail[0] == '\r' && c[0] == '\n' {
			// A CRLF split across two chunks is one line break.
			b.tail[1] = '\n'
			b.ntail = 2
			c = c[1:]
			if len(c) == 0 {
				continue
			}
		}
		if b.ntail > 0 {
			b.tailOut = b.tail
			b.out = b.tailOut[:b.ntail]
			b.ntail = 0
		}
		// Hold back the trailing line break of this chunk.
		n := len(c)
		switch {
		case n >= 2 && c[n-2] == '\r' && c[n-1] == '\n':
			b.tail, b.ntail = [2]byte{'\r', '\n'}, 2
			c = c[:n-2]
		case c[n-1] == '\n' || c[n-1] == '\r':
			b.tail, b.ntail = [2]byte{c[n-1]}, 1
			c = c[:n-1]
		}
		if len(b.out) == 0 {
			b.out = c
		} else {
			b.next = c
		}
	}
	return true
}
