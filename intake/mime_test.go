package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// walkAll walks raw, reading every body in full, and checks the walker's
// own invariants: the Size and SHA256 it reports are those of the bytes the
// caller read, and safe names are unique.
func walkAll(t *testing.T, raw string, lim Limits) (*Message, map[string]string, error) {
	t.Helper()
	bodies := map[string]string{}
	msg, err := Walk(strings.NewReader(raw), lim, func(p *Part, body io.Reader) error {
		b, err := io.ReadAll(body)
		bodies[p.Path] = string(b)
		return err
	})
	seen := map[string]bool{}
	for _, p := range msg.Parts {
		b := bodies[p.Path]
		if err == nil {
			sum := sha256.Sum256([]byte(b))
			if p.Size != int64(len(b)) || p.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("part %s: Size %d SHA256 %.12s, but the body read was %d bytes %.12x", p.Path, p.Size, p.SHA256, len(b), sum)
			}
		}
		if seen[strings.ToLower(p.SafeName)] {
			t.Errorf("part %s: safe name %q not unique", p.Path, p.SafeName)
		}
		seen[strings.ToLower(p.SafeName)] = true
	}
	return msg, bodies, err
}

// summary renders the parts as "path kind name declared size" lines.
func summary(m *Message) string {
	var b strings.Builder
	for _, p := range m.Parts {
		fmt.Fprintf(&b, "%s %s %q %s %d\n", p.Path, p.Kind, p.Filename, p.DeclaredType, p.Size)
	}
	return b.String()
}

func TestWalkStructure(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{{
		name: "single part",
		raw:  "Subject: x\n\nhello\n",
		want: "1 body-text \"\" text/plain 6\n",
	}, {
		name: "multipart with attachment, CRLF",
		raw: "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n\r\nbody\r\n--b\r\n" +
			"Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\nepilogue\r\n",
		want: "1 body-text \"\" text/plain 4\n2 document \"a.pdf\" application/pdf 8\n",
	}, {
		name: "similar boundary is not a delimiter",
		raw: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=b-x\n\n" +
			"--b-x\n\none\n--b-x\nContent-Type: text/html\n\n<p>two</p>\n--b-x--\n--b\n\nthree\n--b--\n",
		want: "1.1 body-text \"\" text/plain 3\n1.2 body-html \"\" text/html 10\n2 body-text \"\" text/plain 5\n",
	}, {
		name: "consecutive delimiters make no empty part",
		raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\none\n--b\n\ntwo\n--b--\n",
		want: "1 body-text \"\" text/plain 3\n2 body-text \"\" text/plain 3\n",
	}, {
		name: "missing close delimiter",
		raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Disposition: attachment\n\ntwo\n",
		want: "1 body-text \"\" text/plain 3\n2 document \"\" text/plain 3\n",
	}, {
		name: "outer delimiter ends an unclosed inner multipart",
		raw: "Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/mixed; boundary=in\n\n" +
			"--in\n\ninner\n--out\nContent-Type: image/png\n\nPNG\n--out--\n",
		want: "1.1 body-text \"\" text/plain 5\n2 document \"\" image/png 3\n",
	}, {
		name: "no blank line before a delimiter",
		raw:  "Content-Type: multipart/mixed; boundary=b\n--b\nContent-Type: text/plain\n--b\n\ntwo\n--b--\n",
		want: "1 body-text \"\" text/plain 0\n2 body-text \"\" text/plain 3\n",
	}, {
		name: "no delimiter at all: one text body",
		raw:  "Content-Type: multipart/mixed; boundary=b\n\njust text\n",
		want: "1 body-text \"\" multipart/mixed 10\n",
	}, {
		name: "multipart/digest parts default to message/rfc822",
		raw:  "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nbody\n--d--\n",
		want: "1 embedded \"\" message/rfc822 20\n1.1 body-text \"\" text/plain 4\n",
	}, {
		name: "message/rfc822 at top level",
		raw:  "Content-Type: message/rfc822\n\nSubject: in\nContent-Type: image/gif\n\nGIF89a",
		want: "1 embedded \"\" message/rfc822 43\n1.1 document \"\" image/gif 6\n",
	}, {
		name: "header without a blank line after it",
		raw:  "Subject: x\nthis line has no colon\n",
		want: "1 body-text \"\" text/plain 23\n",
	}, {
		name: "byte order mark before the first field",
		raw:  "\xef\xbb\xbfContent-Type: image/png; name=p.png\n\nPNG",
		want: "1 document \"p.png\" image/png 3\n",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, _, err := walkAll(t, tc.raw, Limits{})
			if err != nil {
				t.Fatalf("Walk(%s): %v", tc.name, err)
			}
			if got := summary(msg); got != tc.want {
				t.Errorf("Walk(%s) parts:\n%s\nwant:\n%s", tc.name, got, tc.want)
			}
		})
	}
}

func TestWalkAttachmentRule(t *testing.T) {
	tests := []struct {
		header string
		want   Kind
	}{
		{"Content-Type: text/plain", KindBodyText},
		{"Content-Type: text/html; charset=utf-8", KindBodyHTML},
		{"Content-Type: text/plain\nContent-Disposition: attachment", KindDocument},
		{"Content-Type: text/plain\nContent-Disposition: inline", KindBodyText},
		{"Content-Type: text/plain; name=notes.txt", KindDocument},
		{"Content-Type: text/csv\nContent-Disposition: inline; filename=t.csv", KindDocument},
		{"Content-Type: image/jpeg\nContent-Disposition: inline", KindDocument},
		{"Content-Type: application/octet-stream", KindDocument},
		{"Content-Type: message/delivery-status", KindDocument},
		{"Content-Type: nonsense", KindBodyText}, // RFC 2045 §5.2: text/plain
	}
	for _, tc := range tests {
		msg, _, err := walkAll(t, tc.header+"\n\nbody\n", Limits{})
		if err != nil || len(msg.Parts) != 1 {
			t.Fatalf("Walk(%q) = %v, %v", tc.header, msg.Parts, err)
		}
		if got := msg.Parts[0].Kind; got != tc.want {
			t.Errorf("Walk(%q) kind = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestWalkEmbeddedMessage(t *testing.T) {
	inner := "From: ccc@contact.example\r\nSubject: Attestation\r\nDKIM-Signature: v=1; d=contact.example\r\n" +
		"Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\nticket 123\r\n--in\r\n" +
		"Content-Type: application/pdf; name=att.pdf\r\n\r\n%PDF-1.7\r\n--in--\r\n"
	raw := "Subject: Fwd\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n\r\nsee attached\r\n--out\r\n" +
		"Content-Type: message/rfc822; name=\"orig.eml\"\r\n\r\n" + inner + "\r\n--out--\r\n"
	msg, bodies, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "1 body-text \"\" text/plain 12\n2 embedded \"orig.eml\" message/rfc822 " + fmt.Sprint(len(inner)) +
		"\n2.1 body-text \"\" text/plain 10\n2.2 document \"att.pdf\" application/pdf 8\n"
	if got := summary(msg); got != want {
		t.Errorf("parts:\n%s\nwant:\n%s", got, want)
	}
	// The caller gets the forwarded message byte for byte: DKIM covers them.
	if bodies["2"] != inner {
		t.Errorf("embedded bytes differ:\n%q\nwant\n%q", bodies["2"], inner)
	}
	e := msg.Parts[1].Envelope
	if e == nil || e.Subject != "Attestation" || e.From != "ccc@contact.example" {
		t.Errorf("embedded envelope = %+v", e)
	}
}

func TestWalkEmbeddedBase64(t *testing.T) {
	inner := "Subject: encoded\n\nhello\n"
	raw := "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
		"U3ViamVjdDogZW5jb2RlZAoKaGVsbG8K\n"
	msg, bodies, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bodies["1"] != inner || len(msg.Parts) != 2 || msg.Parts[1].Path != "1.1" || bodies["1.1"] != "hello\n" {
		t.Errorf("parts %s bodies %q", summary(msg), bodies)
	}
}

func TestWalkLargeEmbeddedSpoolsToFile(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("0123456789abcdef", 1<<12) // 64 KiB
	raw := "Content-Type: message/rfc822\n\nSubject: big\nContent-Type: application/zip\n\n" + body
	msg, bodies, err := walkAll(t, raw, Limits{SpoolMemory: 1024, SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Parts) != 2 || bodies["1.1"] != body {
		t.Fatalf("parts %s", summary(msg))
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}

// TestWalkReadsInPieces checks that the result does not depend on how the
// input arrives: every corpus message is walked whole, one byte at a time
// and half a buffer at a time, with the embedded spool in memory and on
// disk.
func TestWalkReadsInPieces(t *testing.T) {
	dir, exp := loadExpected(t)
	for _, name := range sortedKeys(exp) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := Walk(bytes.NewReader(data), Limits{}, nil)
		if err != nil {
			t.Fatalf("Walk(%s): %v", name, err)
		}
		for _, v := range []struct {
			how string
			r   io.Reader
			lim Limits
		}{
			{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), Limits{}},
			{"half reads, spool on disk", iotest.HalfReader(bytes.NewReader(data)), Limits{SpoolMemory: 16, SpoolDir: t.TempDir()}},
		} {
			got, err := Walk(v.r, v.lim, nil)
			if err != nil {
				t.Fatalf("Walk(%s) %s: %v", name, v.how, err)
			}
			if a, b := detail(got), detail(ref); a != b {
				t.Errorf("Walk(%s) %s:\n%s\nwhole:\n%s", name, v.how, a, b)
			}
		}
	}
}

func detail(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q %q\n", m.Subject, m.From, m.MessageID)
	for _, p := range m.Parts {
		fmt.Fprintf(&b, "%s %s %q %q %s %s %d %s\n", p.Path, p.Kind, p.Filename, p.SafeName, p.DeclaredType, p.ContentType, p.Size, p.SHA256)
	}
	return b.String()
}

func TestWalkPartialReadsAreDrained(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n" +
		"Content-Transfer-Encoding: base64\n\n" + strings.Repeat("JVBERi0xLjQK", 1000) + "\n--b\nContent-Type: image/png\n\nPNG\n--b--\n"
	full, _, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	partial, err := Walk(strings.NewReader(raw), Limits{}, func(p *Part, body io.Reader) error {
		_, err := body.Read(make([]byte, 10))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if detail(partial) != detail(full) {
		t.Errorf("reading 10 bytes of each part changed the result:\n%s\nwant\n%s", detail(partial), detail(full))
	}
}

func TestWalkFuncErrorStops(t *testing.T) {
	stop := errors.New("bucket unavailable")
	calls := 0
	_, err := Walk(strings.NewReader("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n"), Limits{},
		func(p *Part, body io.Reader) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk = %v after %d calls, want the WalkFunc's error after 1", err, calls)
	}
	if IsPermanent(err) {
		t.Errorf("a WalkFunc error %v must stay temporary", err)
	}
}

func TestWalkRecoversPanics(t *testing.T) {
	_, err := Walk(strings.NewReader("Subject: x\n\nbody\n"), Limits{}, func(*Part, io.Reader) error {
		var m map[string]int
		m["boom"]++ // a nil map write: a bug somewhere below Walk
		return nil
	})
	if !errors.Is(err, ErrParserPanic) || !IsPermanent(err) || !strings.Contains(err.Error(), "input byte") {
		t.Errorf("Walk = %v, want a permanent ErrParserPanic with the input position", err)
	}
}

func TestWalkLimits(t *testing.T) {
	nested := func(depth int) string {
		var b strings.Builder
		for i := 0; i < depth; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
		}
		b.WriteString("\nleaf\n")
		return b.String()
	}
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for i := 0; i < n; i++ {
			b.WriteString("--b\n\nx\n")
		}
		return b.String() + "--b--\n"
	}
	tests := []struct {
		name  string
		raw   string
		lim   Limits
		limit string // "" when the message is within the limits
	}{
		{"depth at the limit", nested(32), Limits{}, ""},
		{"depth over the limit", nested(33), Limits{}, LimitMIMEDepth},
		{"forwarded messages count as depth", strings.Repeat("Content-Type: message/rfc822\n\n", 5) + "x", Limits{MaxDepth: 4}, LimitMIMEDepth},
		{"parts at the limit", many(9), Limits{MaxParts: 10}, ""},
		{"parts over the limit", many(10), Limits{MaxParts: 10}, LimitMIMEParts},
		{"header block over the limit", "Subject: " + strings.Repeat("x", 2000) + "\n\nbody", Limits{MaxHeaderBytes: 1000}, LimitHeaderSize},
		{"one long header line over the limit", "Subject: " + strings.Repeat("x", 100<<10) + "\n\nbody", Limits{MaxHeaderBytes: 64 << 10}, LimitHeaderSize},
		{"message at the limit", "Subject: x\n\n" + strings.Repeat("y", 988), Limits{MaxMessageBytes: 1000}, ""},
		{"message over the limit", "Subject: x\n\n" + strings.Repeat("y", 989), Limits{MaxMessageBytes: 1000}, LimitMessageSize},
	}
	for _, tc := range tests {
		_, err := Walk(strings.NewReader(tc.raw), tc.lim, func(p *Part, body io.Reader) error {
			_, err := io.Copy(io.Discard, body)
			return err
		})
		var pe *PermanentError
		switch {
		case tc.limit == "" && err != nil:
			t.Errorf("Walk(%s) = %v, want no error", tc.name, err)
		case tc.limit != "" && (!errors.As(err, &pe) || pe.Limit != tc.limit):
			t.Errorf("Walk(%s) = %v, want a PermanentError for %s", tc.name, err, tc.limit)
		case tc.limit != "" && !strings.Contains(err.Error(), tc.limit):
			t.Errorf("Walk(%s) error %q does not name the limit", tc.name, err)
		}
	}
}

func TestWalkEnvelope(t *testing.T) {
	raw := "From: =?utf-8?Q?Ren=C3=A9e?= <renee@example.fr>\nSubject: =?iso-8859-1?Q?Titre_de_s=E9jour?=\n" +
		" =?iso-8859-1?Q?_-_d=E9p=F4t?=\nMessage-ID: <abc@example.fr>\nDate: Mon, 2 Oct 2023 10:00:00 +0200\n\nbody\n"
	msg, _, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Titre de séjour - dépôt" || msg.From != "renee@example.fr" || msg.MessageID != "<abc@example.fr>" ||
		msg.Date.IsZero() || msg.Date.Day() != 2 {
		t.Errorf("envelope = %+v", msg.Envelope)
	}
}

func TestWalkSniffsAndNotes(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf; name=facture.pdf\n\n" +
		"<!DOCTYPE html><html><body>phish</body></html>\n--b\nContent-Type: application/ms-tnef; name=winmail.dat\n" +
		"Content-Transfer-Encoding: base64\n\neJ8+IgAAAQ==\n--b\nContent-Type: application/octet-stream\n" +
		"Content-Transfer-Encoding: x-gzip64\n\nabc\n--b--\n"
	msg, _, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p := msg.Parts
	if p[0].ContentType != "text/html" || p[0].DeclaredType != "application/pdf" {
		t.Errorf("a .pdf made of HTML: ContentType %s DeclaredType %s", p[0].ContentType, p[0].DeclaredType)
	}
	if p[1].ContentType != "application/vnd.ms-tnef" || len(p[1].Notes) != 1 || !strings.Contains(p[1].Notes[0], "TNEF") {
		t.Errorf("winmail.dat: %s %q", p[1].ContentType, p[1].Notes)
	}
	if p[2].Size != 3 || len(p[2].Notes) != 1 || !strings.Contains(p[2].Notes[0], "x-gzip64") {
		t.Errorf("unknown encoding: size %d notes %q, want the body kept as is with a note", p[2].Size, p[2].Notes)
	}
}

func TestWalkSafeNamesUnique(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: image/png; name=\"scan.png\"\n\n\x89PNG\r\n\x1a\n\n" +
		"--b\nContent-Type: image/png; name=\"SCAN.png\"\n\n\x89PNG\r\n\x1a\n\n" +
		"--b\nContent-Type: image/png; name=\"../scan.png\"\n\n\x89PNG\r\n\x1a\n\n" +
		"--b\nContent-Type: application/pdf\n\n%PDF-1.4\n--b--\n"
	msg, _, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range msg.Parts {
		got = append(got, p.SafeName)
	}
	want := []string{"scan.png", "SCAN (2).png", "scan (3).png", "part-4.pdf"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("safe names %q, want %q", got, want)
	}
}

func TestTextReader(t *testing.T) {
	raw := "Content-Type: text/plain; charset=iso-8859-15\nContent-Transfer-Encoding: quoted-printable\n\n=A4 d=E9p=F4t\n"
	var text string
	_, err := Walk(strings.NewReader(raw), Limits{}, func(p *Part, body io.Reader) error {
		b, err := io.ReadAll(TextReader(p, body))
		text = string(b)
		return err
	})
	if err != nil || text != "€ dépôt\n" {
		t.Errorf("TextReader gave %q, %v; want \"€ dépôt\\n\"", text, err)
	}
}

func TestPartDocument(t *testing.T) {
	msg, _, err := walkAll(t, "Content-Type: application/pdf; name=\"a b.pdf\"\nContent-Disposition: attachment\n\n%PDF-1.4\n", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := msg.Parts[0].Document()
	if d.Name != "a b.pdf" || d.SafeName != "a b.pdf" || d.Type != "application/pdf" || d.Role != "attachment" ||
		d.Size != 9 || len(d.SHA256) != 64 || d.Path != "1" || d.Disposition != "attachment" {
		t.Errorf("Document() = %+v", d)
	}
}

// hostileHeaders are header blocks near the 1 MB limit built to make a
// careless parser take quadratic time: many encoded-word openings with no
// end, and one field folded over a hundred thousand lines.
func hostileHeaders() []string {
	return []string{
		"Subject: " + strings.Repeat("=?x?", 200_000) + "\n\nbody\n",
		"Subject: " + strings.Repeat("=?utf-8?Q?a", 80_000) + "?=\n\nbody\n",
		"X-Folded: a" + strings.Repeat("\n b", 200_000) + "\nContent-Type: text/plain; name*0=a" +
			strings.Repeat("; name*1=b", 30_000) + "\n\nbody\n",
	}
}

func TestWalkHostileHeaders(t *testing.T) {
	for i, raw := range hostileHeaders() {
		msg, bodies, err := walkAll(t, raw, Limits{})
		if err != nil {
			t.Fatalf("Walk(hostile header %d): %v", i, err)
		}
		if len(msg.Parts) != 1 || bodies["1"] != "body\n" {
			t.Errorf("Walk(hostile header %d): parts %s", i, summary(msg))
		}
	}
}

func TestWalkReadErrorIsTemporary(t *testing.T) {
	boom := errors.New("connection reset")
	for _, cut := range []int{5, 60, 90, 110} {
		raw := "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n\n%PDF-1.4 and more\n--b--\n"
		r := io.MultiReader(strings.NewReader(raw[:cut]), iotest.ErrReader(boom))
		_, err := Walk(r, Limits{}, func(p *Part, body io.Reader) error {
			_, err := io.Copy(io.Discard, body)
			return err
		})
		if !errors.Is(err, boom) || IsPermanent(err) {
			t.Errorf("Walk cut at %d = %v, want the read error, temporary", cut, err)
		}
	}
}
