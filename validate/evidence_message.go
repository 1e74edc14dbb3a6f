package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // legacy charsets of forwarded mail
)

// Forwarded messages: the CCC's email reaches the prefecture as an
// attachment of the applicant's (message/rfc822, or an .eml file). Its text
// bodies are searched like any other text, and its raw bytes are kept for
// the DKIM check (ccc.go). go-message reads it; intake has its own walker,
// which validate does not import (DESIGN.md, "Packages").

// maxMessageParts bounds the parts visited in one forwarded message.
const maxMessageParts = 200

var errStopWalk = errors.New("stop")

// messageTexts returns the text bodies (text/plain, and text/html as text)
// of a forwarded message, attachments left out, each at most maxSearchText.
// go-message runs under Guard: a panic on a hostile message is an error.
func messageTexts(ctx context.Context, raw []byte, lim Limits) ([]string, error) {
	lim = lim.withDefaults()
	return Guard(ctx, "message_text", lim.ParserTimeout, func(ctx context.Context) ([]string, error) {
		ent, err := message.Read(bytes.NewReader(raw))
		if err != nil && ent == nil {
			return nil, fmt.Errorf("read forwarded message: %w", err)
		}
		var out []string
		parts := 0
		err = ent.Walk(func(_ []int, e *message.Entity, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if parts++; parts > maxMessageParts {
				return errStopWalk
			}
			if e == nil {
				return nil
			}
			mt, _, _ := e.Header.ContentType()
			if mt == "" {
				mt = "text/plain"
			}
			if mt != "text/plain" && mt != "text/html" {
				return nil
			}
			if disp, _, _ := mime.ParseMediaType(e.Header.Get("Content-Disposition")); disp == "attachment" {
				return nil // a document, listed by intake
			}
			b, rerr := io.ReadAll(io.LimitReader(e.Body, maxSearchText))
			if rerr != nil && len(b) == 0 {
				return nil // a broken part does not hide the others
			}
			text := string(b)
			if mt == "text/html" {
				text = htmlToText(text)
			}
			out = append(out, text)
			return nil
		})
		if err != nil && !errors.Is(err, errStopWalk) && len(out) == 0 {
			return nil, fmt.Errorf("walk forwarded message: %w", err)
		}
		return out, nil
	})
}

// messageFrom returns the domain of the From address of a message's header,
// lower-cased, or "" when it cannot be read.
func messageFrom(raw []byte) string {
	ent, err := message.Read(bytes.NewReader(raw))
	if ent == nil {
		_ = err
		return ""
	}
	from := ent.Header.Get("From")
	if dec, err := new(mime.WordDecoder).DecodeHeader(from); err == nil {
		from = dec
	}
	// The address is the last <…>, or the whole field without a display
	// name; net/mail refuses too much real-world mail to be used here.
	addr := from
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		if j := strings.IndexByte(from[i:], '>'); j > 0 {
			addr = from[i+1 : i+j]
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(strings.TrimRight(addr[at+1:], " >\t\r\n")))
}
