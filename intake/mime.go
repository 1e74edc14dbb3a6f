package intake

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	// Legacy charsets (ISO-8859-*, Windows-125x, KOI8-R, Shift_JIS…) for
	// RFC 2047 and RFC 2231 names and for TextReader.
	"github.com/emersion/go-message/charset"

	"recevable/storage"
)

// The MIME walk: one pass over a raw RFC 5322 message (RFC 2045–2049), in
// document order, streaming. Every leaf is handed to the caller as a stream
// of its decoded bytes while the walker hashes it; forwarded messages
// (message/rfc822) are handed over whole, as their raw bytes, then walked
// into. Parts are numbered like IMAP body sections (RFC 3501 §6.4.5).
//
// The line and header layers read the way the corpus oracle (CPython's
// email.feedparser) reads, so that the documents found are the oracle's; see
// mime_lines.go and mime_header.go. go-message's own multipart reader is not
// used: it takes "--b-x" for the boundary "b", fails on a missing close
// delimiter and stops at a header line without a colon, where real mail
// needs leniency.

// Kind says what a part is to a dossier.
type Kind int

const (
	// KindDocument is an attachment: a leaf with a file name, or disposition
	// "attachment", or a media type that is neither text/* nor multipart/*.
	KindDocument Kind = iota + 1
	// KindBodyText is a text body (text/plain and other text/* that are not
	// documents), kept for the evidence search.
	KindBodyText
	// KindBodyHTML is an HTML body that is not a document.
	KindBodyHTML
	// KindEmbedded is a forwarded message (message/rfc822, message/global,
	// message/news): the caller gets its raw bytes, and the walker then lists
	// its own parts under its path. A message sent as a file (an .eml as
	// application/octet-stream) stays a KindDocument, as in the oracle; its
	// ContentType is then message/rfc822, and whoever needs its contents
	// walks its stored bytes.
	KindEmbedded
)

func (k Kind) String() string {
	switch k {
	case KindDocument:
		return "document"
	case KindBodyText:
		return "body-text"
	case KindBodyHTML:
		return "body-html"
	case KindEmbedded:
		return "embedded"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Envelope holds the identifying header fields of a message.
type Envelope struct {
	// Subject, RFC 2047 decoded and unfolded.
	Subject string
	// From is the first address of the From field (local@domain).
	From string
	// FromName is the display name of that address, RFC 2047 decoded; empty
	// when there is none. The evidence search compares it with the name an
	// invitation was issued to.
	FromName string
	// MessageID as written, angle brackets included.
	MessageID string
	// Date of the Date field; zero when absent or unreadable.
	Date time.Time
}

// Message is what Walk found in a message.
type Message struct {
	Envelope
	// Parts lists the leaves and embedded messages in document order.
	Parts []*Part
	// Notes record what was repaired or read leniently (a missing close
	// delimiter, an unknown transfer encoding…), for staff and operators.
	Notes []string
}

// Documents returns the parts of kind KindDocument.
func (m *Message) Documents() []*Part {
	var out []*Part
	for _, p := range m.Parts {
		if p.Kind == KindDocument {
			out = append(out, p)
		}
	}
	return out
}

// Part is one leaf or embedded message.
type Part struct {
	// Path is the IMAP part number: "1" for the body of a single-part
	// message, "2.1" for the first part inside an embedded message at "2".
	Path string
	Kind Kind
	// Filename is the name the sender gave (Content-Disposition filename,
	// else Content-Type name), decoded, not sanitised; "" when none.
	Filename string
	// SafeName is the name to store and show: SafeName(Filename), or a name
	// made from the path, unique within the message.
	SafeName string
	// DeclaredType is the media type of the part's header, lower case
	// (text/plain when absent, message/rfc822 inside multipart/digest).
	DeclaredType string
	// ContentType is the media type sniffed from the bytes (see Sniff); for
	// embedded messages, the declared one.
	ContentType string
	// Charset is the charset parameter of a text part, as written.
	Charset string
	// Disposition is "attachment", "inline" or "".
	Disposition string
	// Size and SHA256 (hex) are of the decoded body. They are known once
	// the WalkFunc has returned (the walker tees what the caller reads and
	// drains the rest), except for KindEmbedded, where they are known
	// before.
	Size   int64
	SHA256 string
	// Notes record anything odd about the part ("TNEF not unpacked"…).
	Notes []string
	// Envelope is the embedded message's own header (KindEmbedded only),
	// set once the walk inside it is done.
	Envelope *Envelope
}

// Document returns the manifest record of the part. Embedded messages are
// recorded with role "attachment", like documents.
func (p *Part) Document() storage.Document {
	role := "attachment"
	switch p.Kind {
	case KindBodyText:
		role = "body-text"
	case KindBodyHTML:
		role = "body-html"
	}
	return storage.Document{
		Name: p.Filename, SafeName: p.SafeName,
		Type: p.ContentType, Declared: p.DeclaredType,
		Size: p.Size, SHA256: p.SHA256,
		Path: p.Path, Disposition: p.Disposition, Role: role,
	}
}

// WalkFunc receives each part with its body: for a leaf, its decoded bytes
// (transfer encoding undone, charset untouched: see TextReader); for
// KindEmbedded, the embedded message's raw bytes, exactly what a DKIM
// signature inside it covers. body is valid only until WalkFunc returns;
// what it does not read, the walker drains. An error stops the walk and is
// returned by Walk, wrapped.
type WalkFunc func(p *Part, body io.Reader) error

// ErrParserPanic is wrapped in the PermanentError Walk returns when parsing
// panicked: a bug to fix, and the message goes to quarantine meanwhile.
var ErrParserPanic = errors.New("mime: parser panic")

// Walk reads one RFC 5322 message from r and calls fn (which may be nil) for
// each leaf and embedded message, in document order. It returns what it
// found, also on error (as far as it got). Errors: a *PermanentError with
// Limit set when a Limits bound is exceeded, a *PermanentError wrapping
// ErrParserPanic on a parser bug, fn's error (wrapped) when fn fails, and a
// wrapped read error when r fails. Malformed MIME is not an error: it is
// read leniently and recorded in Notes.
func Walk(r io.Reader, lim Limits, fn WalkFunc) (msg *Message, err error) {
	lim = lim.withDefaults()
	w := &walker{
		lim:   lim,
		fn:    fn,
		in:    &countingReader{r: r, max: lim.MaxMessageBytes},
		msg:   &Message{},
		names: nameSet{},
	}
	defer func() {
		// The one place where a parser panic (ours, go-message's, a charset
		// decoder's) becomes a permanent error with the input position.
		if v := recover(); v != nil {
			err = &PermanentError{Err: fmt.Errorf("%w at input byte %d: %v", ErrParserPanic, w.in.n, v)}
		}
	}()
	lr := newLineReader(w.in)
	if bom, _ := lr.br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		lr.br.Discard(3) // a UTF-8 byte order mark is not part of the first field
		w.msg.Notes = append(w.msg.Notes, "byte order mark skipped")
	}
	env, err := w.walkMessage(lr, "", 0)
	if env != nil {
		w.msg.Envelope = *env
	}
	return w.msg, err
}

// walker is the state of one Walk.
type walker struct {
	lim   Limits
	fn    WalkFunc
	in    *countingReader
	msg   *Message
	names nameSet
	parts int
	// peek is reused for every leaf, to sniff its first bytes.
	peek *bufio.Reader
}

// header reads the next header block, counting it against MaxParts.
func (w *walker) header(lr *lineReader, where string) (*header, error) {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return nil, overLimit(LimitMIMEParts, int64(w.parts), int64(w.lim.MaxParts), "at part "+where)
	}
	return readHeader(lr, w.lim.MaxHeaderBytes)
}

// walkMessage walks a message whose first header line is next in lr. Its
// parts are numbered under base ("" for the top message).
func (w *walker) walkMessage(lr *lineReader, base string, depth int) (*Envelope, error) {
	h, err := w.header(lr, orTop(base))
	if err != nil {
		return nil, err
	}
	env := envelopeOf(h)
	return env, w.walkEntity(lr, h, join(base, 1), base, depth, "text/plain")
}

// walkEntity walks the body of an entity whose header was just read. It is
// numbered leafPath if it is a leaf, and its children under base.
func (w *walker) walkEntity(lr *lineReader, h *header, leafPath, base string, depth int, defType string) error {
	if depth > w.lim.MaxDepth {
		return overLimit(LimitMIMEDepth, int64(depth), int64(w.lim.MaxDepth), "at part "+leafPath)
	}
	ct := contentType(h, defType)
	switch {
	case strings.HasPrefix(ct.token, "multipart/"):
		b, _ := ct.get("boundary")
		boundary := strings.TrimRight(b.value, " \t")
		if boundary == "" || len(boundary) > maxBoundaryLen {
			w.notef("part %s: %s without a usable boundary, read as text", leafPath, ct.token)
			return w.walkLeaf(lr, h, ct, leafPath, true)
		}
		return w.walkMultipart(lr, ct, boundary, leafPath, base, depth)
	case isEmbeddedType(ct.token):
		return w.walkEmbedded(lr, h, ct, leafPath, depth)
	}
	return w.walkLeaf(lr, h, ct, leafPath, false)
}

func isEmbeddedType(t string) bool {
	return t == "message/rfc822" || t == "message/global" || t == "message/news"
}

// walkMultipart splits a multipart body at its delimiters (RFC 2046 §5.1.1)
// as the oracle does: the preamble and epilogue are skipped, consecutive
// delimiters make no empty part, a missing close delimiter ends the
// multipart at the enclosing boundary or the end of input, and a multipart
// with no delimiter at all is kept as one text body.
func (w *walker) walkMultipart(lr *lineReader, ct paramValue, boundary, leafPath, base string, depth int) error {
	sep := []byte("--" + boundary)
	childType := "text/plain"
	if ct.token == "multipart/digest" {
		childType = "message/rfc822" // RFC 2046 §5.1.5
	}
	var pre *spool
	defer func() {
		if pre != nil {
			pre.Close()
		}
	}()
	preamble, closed, n := true, false, 0
	for {
		line, stop, err := lr.peekFor(sep)
		if err != nil {
			return err
		}
		if stop {
			break
		}
		if ok, end := matchSep(line, sep); ok {
			if end {
				closed = true
				if err := skipOK(lr.skipLine(nil)); err != nil {
					return err
				}
				break
			}
			if preamble {
				preamble = false
				continue
			}
			if err := w.skipDelimiters(lr, sep); err != nil {
				return err
			}
			n++
			lr.push(sep)
			path := join(base, n)
			h, err := w.header(lr, path)
			if err == nil {
				err = w.walkEntity(lr, h, path, path, depth+1, childType)
			}
			lr.pop()
			if err != nil {
				return err
			}
			continue
		}
		var keep io.Writer
		if preamble {
			if pre == nil {
				pre = newSpool(w.lim.SpoolMemory, w.lim.SpoolDir)
			}
			keep = pre
		}
		if err := lr.skipLine(keep); err == errFalseEOF || err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	if preamble {
		w.notef("part %s: %s without any delimiter, kept as one text body", leafPath, ct.token)
		if pre == nil {
			pre = newSpool(w.lim.SpoolMemory, w.lim.SpoolDir)
		}
		p := &Part{Path: leafPath, Kind: KindBodyText, DeclaredType: ct.token}
		if err := w.emit(p, pre.Reader()); err != nil {
			return err
		}
	} else if !closed {
		w.notef("part %s: %s without a close delimiter", leafPath, ct.token)
	}
	// The epilogue, up to the enclosing boundary, is not part of anything.
	for {
		err := lr.skipLine(nil)
		if err == errFalseEOF || err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// skipDelimiters consumes a delimiter line and any delimiter lines that
// follow it at once.
func (w *walker) skipDelimiters(lr *lineReader, sep []byte) error {
	if err := skipOK(lr.skipLine(nil)); err != nil {
		return err
	}
	for {
		line, stop, err := lr.peekFor(sep)
		if err != nil || stop {
			return err
		}
		if ok, _ := matchSep(line, sep); !ok {
			return nil
		}
		if err := skipOK(lr.skipLine(nil)); err != nil {
			return err
		}
	}
}

// skipOK treats running into a boundary or the end while skipping as done.
func skipOK(err error) error {
	if err == errFalseEOF || err == io.EOF {
		return nil
	}
	return err
}

// walkLeaf hands a leaf body to the caller. unsplit marks a multipart that
// could not be split, which is text whatever its header says.
func (w *walker) walkLeaf(lr *lineReader, h *header, ct paramValue, path string, unsplit bool) error {
	p := w.newPart(h, ct, path)
	if unsplit {
		p.Kind = KindBodyText
	}
	raw := newBodyReader(lr)
	body, cleanup, err := w.decode(raw, h, p)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := w.emit(p, body); err != nil {
		return err
	}
	// A decoder may stop early (base64 padding): the rest is not content.
	_, err = io.Copy(io.Discard, raw)
	return err
}

// walkEmbedded spools a forwarded message, hands its bytes to the caller,
// then walks inside it (depth one more).
func (w *walker) walkEmbedded(lr *lineReader, h *header, ct paramValue, path string, depth int) error {
	p := w.newPart(h, ct, path)
	p.Kind = KindEmbedded
	p.ContentType = ct.token
	raw := newBodyReader(lr)
	body, cleanup, err := w.decode(raw, h, p)
	if err != nil {
		return err
	}
	defer cleanup()
	sp := newSpool(w.lim.SpoolMemory, w.lim.SpoolDir)
	defer sp.Close()
	hr := newHashReader(body)
	if _, err := io.Copy(sp, hr); err != nil {
		return fmt.Errorf("mime part %s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return err
	}
	p.Size, p.SHA256 = hr.n, hr.sum()
	p.SafeName = w.names.unique(nameOr(p))
	w.msg.Parts = append(w.msg.Parts, p)
	if w.fn != nil {
		if err := w.fn(p, sp.Reader()); err != nil {
			return fmt.Errorf("mime part %s: %w", path, err)
		}
	}
	env, err := w.walkMessage(newLineReader(sp.Reader()), path, depth+1)
	p.Envelope = env
	return err
}

// emit sniffs, names and hands a leaf to the caller, hashing what flows.
func (w *walker) emit(p *Part, body io.Reader) error {
	hr := newHashReader(body)
	if w.peek == nil {
		w.peek = bufio.NewReaderSize(hr, 32<<10)
	} else {
		w.peek.Reset(hr)
	}
	head, err := w.peek.Peek(SniffLen)
	if err != nil && err != io.EOF {
		return fmt.Errorf("mime part %s: %w", p.Path, err)
	}
	p.ContentType = Sniff(head)
	if p.ContentType == "application/vnd.ms-tnef" || p.DeclaredType == "application/ms-tnef" || p.DeclaredType == "application/vnd.ms-tnef" {
		// Kept whole, as the oracle does; its contents are not listed.
		p.Notes = append(p.Notes, "TNEF (winmail.dat) not unpacked")
	}
	p.SafeName = w.names.unique(nameOr(p))
	w.msg.Parts = append(w.msg.Parts, p)
	if w.fn != nil {
		if err := w.fn(p, w.peek); err != nil {
			return fmt.Errorf("mime part %s: %w", p.Path, err)
		}
	}
	if _, err := io.Copy(io.Discard, w.peek); err != nil {
		return fmt.Errorf("mime part %s: %w", p.Path, err)
	}
	p.Size, p.SHA256 = hr.n, hr.sum()
	return nil
}

func nameOr(p *Part) string {
	if n := SafeName(p.Filename); n != "" {
		return n
	}
	return fallbackName(p)
}

// newPart reads what the header says about a part and classifies it by the
// attachment rule (see KindDocument).
func (w *walker) newPart(h *header, ct paramValue, path string) *Part {
	p := &Part{Path: path, DeclaredType: ct.token, Filename: filename(h, ct)}
	if cs, ok := ct.get("charset"); ok {
		p.Charset = strings.TrimSpace(cs.value)
	}
	disp := ""
	if v, ok := h.raw("Content-Disposition"); ok {
		disp = parseParamValue(fix8bit(unfold(v))).token
	}
	switch disp {
	case "attachment", "inline":
		p.Disposition = disp
	case "":
	default:
		p.Notes = append(p.Notes, fmt.Sprintf("unusual disposition %q", disp))
	}
	for _, f := range []string{"Content-Type", "Content-Disposition", "Content-Transfer-Encoding"} {
		if n := h.count(f); n > 1 {
			p.Notes = append(p.Notes, fmt.Sprintf("%d %s fields, the first one used", n, f))
		}
	}
	main, _, _ := strings.Cut(ct.token, "/")
	switch {
	case p.Filename != "" || disp == "attachment" || (main != "text" && main != "multipart"):
		p.Kind = KindDocument
	case ct.token == "text/html":
		p.Kind = KindBodyHTML
	default:
		p.Kind = KindBodyText
	}
	return p
}

// decode undoes the transfer encoding. cleanup frees what it spooled.
func (w *walker) decode(raw io.Reader, h *header, p *Part) (body io.Reader, cleanup func(), err error) {
	cte := normalizeCTE(h.text("Content-Transfer-Encoding"))
	switch {
	case isIdentityCTE(cte):
		return raw, func() {}, nil
	case cte == "base64":
		return newBase64Reader(raw), func() {}, nil
	case cte == "quoted-printable":
		return newQPReader(raw), func() {}, nil
	case isUUCTE(cte):
		// Read twice: decoding may fail half-way, and then the body is kept
		// as it is (the oracle does the same).
		src := newSpool(w.lim.SpoolMemory, w.lim.SpoolDir)
		dst := newSpool(w.lim.SpoolMemory, w.lim.SpoolDir)
		cleanup = func() { src.Close(); dst.Close() }
		if _, err := io.Copy(src, raw); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("mime part %s: %w", p.Path, err)
		}
		ok, err := uudecode(src.Reader(), dst)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("mime part %s: %w", p.Path, err)
		}
		if !ok {
			p.Notes = append(p.Notes, "uuencoded body does not decode, kept as is")
			return src.Reader(), cleanup, nil
		}
		return dst.Reader(), cleanup, nil
	}
	p.Notes = append(p.Notes, fmt.Sprintf("unknown transfer encoding %q, body kept as is", cte))
	return raw, func() {}, nil
}

// contentType reads the Content-Type field (the first one), with the
// default of RFC 2045 §5.2 when it is absent or not type/subtype.
func contentType(h *header, def string) paramValue {
	v, ok := h.raw("Content-Type")
	if !ok {
		return paramValue{token: def}
	}
	pv := parseParamValue(fix8bit(unfold(v)))
	t := strings.Trim(pv.token, `"`)
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i]) // a comment after the type
	}
	if strings.Count(t, "/") != 1 || strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") {
		t = "text/plain"
	}
	pv.token = t
	return pv
}

// filename returns the decoded name of a part: Content-Disposition filename
// (RFC 2183 §2.3), else Content-Type name, RFC 2231 and RFC 2047 decoded.
func filename(h *header, ct paramValue) string {
	if v, ok := h.raw("Content-Disposition"); ok {
		if p, ok := parseParamValue(fix8bit(unfold(v))).get("filename"); ok {
			if name := paramText(p); name != "" {
				return name
			}
		}
	}
	if p, ok := ct.get("name"); ok {
		return paramText(p)
	}
	return ""
}

func paramText(p param) string {
	if p.plain {
		return pyStrip(decodeWords(p.value))
	}
	return pyStrip(p.value)
}

// TextReader returns body (as given to a WalkFunc for a text part) converted
// from the part's charset to UTF-8. An unknown charset leaves body as is.
func TextReader(p *Part, body io.Reader) io.Reader {
	switch strings.ToLower(p.Charset) {
	case "", "utf-8", "utf8", "us-ascii":
		return body
	}
	r, err := charset.Reader(p.Charset, body)
	if err != nil {
		return body
	}
	return r
}

func (w *walker) notef(format string, args ...any) {
	w.msg.Notes = append(w.msg.Notes, fmt.Sprintf(format, args...))
}

func join(base string, i int) string {
	if base == "" {
		return strconv.Itoa(i)
	}
	return base + "." + strconv.Itoa(i)
}

func orTop(base string) string {
	if base == "" {
		return "top"
	}
	return base
}

// hashReader counts and hashes what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }
