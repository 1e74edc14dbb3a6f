package intake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

// largeAttachment builds, once, the pieces of a message carrying a base64
// attachment of size bytes: the lines of one block repeated, and the tail.
// The message itself is never held: writeLargeMessage streams it.
type largeAttachment struct {
	size      int64
	head      []byte
	blockB64  []byte // base64 lines of one block
	blocks    int64
	tailB64   []byte
	foot      []byte
	sha256    string
	rawLength int64
}

func newLargeAttachment(size int64) *largeAttachment {
	const lineBytes = 57 // 76 base64 characters per line (RFC 2045 §6.8)
	block := make([]byte, lineBytes*1024)
	copy(block, "%PDF-1.7\n")
	x := uint32(2463534242)
	for i := 9; i < len(block); i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		block[i] = byte(x)
	}
	lines := func(data []byte) []byte {
		var out []byte
		for len(data) > 0 {
			n := min(lineBytes, len(data))
			out = base64.StdEncoding.AppendEncode(out, data[:n])
			out = append(out, '\r', '\n')
			data = data[n:]
		}
		return out
	}
	a := &largeAttachment{size: size, blocks: size / int64(len(block))}
	tail := block[:size%int64(len(block))]
	a.head = []byte("From: demandeur@example.org\r\nSubject: dossier\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	a.blockB64, a.tailB64 = lines(block), lines(tail)
	a.foot = []byte("--b--\r\n")
	h := sha256.New()
	for i := int64(0); i < a.blocks; i++ {
		h.Write(block)
	}
	h.Write(tail)
	a.sha256 = hex.EncodeToString(h.Sum(nil))
	a.rawLength = int64(len(a.head)) + a.blocks*int64(len(a.blockB64)) + int64(len(a.tailB64)) + int64(len(a.foot))
	return a
}

// write streams the message to w.
func (a *largeAttachment) write(w *io.PipeWriter) {
	_, err := w.Write(a.head)
	for i := int64(0); i < a.blocks && err == nil; i++ {
		_, err = w.Write(a.blockB64)
	}
	if err == nil {
		_, err = w.Write(a.tailB64)
	}
	if err == nil {
		_, err = w.Write(a.foot)
	}
	w.CloseWithError(err)
}

// BenchmarkWalkLargeAttachment walks a message with a 50 MB base64
// attachment, generated as it is read: B/op shows that the walker holds
// only buffers, never the attachment (it must stay far below 50 MB).
func BenchmarkWalkLargeAttachment(b *testing.B) {
	a := newLargeAttachment(50 << 20)
	b.SetBytes(a.rawLength)
	b.ReportAllocs()
	for b.Loop() {
		pr, pw := io.Pipe()
		go a.write(pw)
		msg, err := Walk(pr, Limits{MaxMessageBytes: 100 << 20}, nil)
		pr.Close()
		if err != nil {
			b.Fatal(err)
		}
		docs := msg.Documents()
		if len(docs) != 1 || docs[0].Size != a.size || docs[0].SHA256 != a.sha256 || docs[0].ContentType != "application/pdf" {
			b.Fatalf("documents = %+v, want one %d-byte PDF", docs, a.size)
		}
	}
}

// BenchmarkWalkHostileHeaders walks the header blocks of hostileHeaders: a
// regression to quadratic time shows here as seconds per op.
func BenchmarkWalkHostileHeaders(b *testing.B) {
	msgs := hostileHeaders()
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range msgs {
			if _, err := Walk(strings.NewReader(raw), Limits{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
