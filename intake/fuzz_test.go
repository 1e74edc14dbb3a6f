package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzWalk feeds Walk arbitrary bytes, seeded with every corpus message and
// intake/testdata/mime. Walk must not panic (a recovered panic is reported
// as ErrParserPanic, which fails here), must fail only with a permanent
// error on an in-memory input, and every part it reports must hold: the
// size and hash of the bytes the caller read, a well-formed unique path, a
// safe unique name, and the same result when the input arrives in pieces.
func FuzzWalk(f *testing.F) {
	dir, exp := loadExpected(f)
	for _, name := range sortedKeys(exp) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	seeds, err := filepath.Glob(filepath.Join("testdata", "mime", "*.eml"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/mime: %v", err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	pathRE := regexp.MustCompile(`^[1-9][0-9]*(\.[1-9][0-9]*)*$`)
	// Small limits keep each run short; the limits themselves are tested
	// elsewhere.
	lim := Limits{MaxMessageBytes: 1 << 20, MaxDepth: 12, MaxParts: 100, MaxHeaderBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		bodies := map[*Part][]byte{}
		msg, err := Walk(bytes.NewReader(data), lim, func(p *Part, body io.Reader) error {
			b, err := io.ReadAll(body)
			bodies[p] = b
			return err
		})
		if errors.Is(err, ErrParserPanic) {
			t.Fatalf("Walk panicked: %v", err)
		}
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("Walk of an in-memory message = %v, want nil or a permanent error", err)
			}
			return
		}
		paths, names := map[string]bool{}, map[string]bool{}
		for _, p := range msg.Parts {
			sum := sha256.Sum256(bodies[p])
			if p.Size != int64(len(bodies[p])) || p.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("part %s: Size %d SHA256 %.12s but %d bytes read", p.Path, p.Size, p.SHA256, len(bodies[p]))
			}
			if !pathRE.MatchString(p.Path) || paths[p.Path] {
				t.Errorf("part path %q malformed or repeated", p.Path)
			}
			paths[p.Path] = true
			checkSafe(t, p.Filename, p.SafeName)
			if p.SafeName == "" || names[strings.ToLower(p.SafeName)] {
				t.Errorf("part %s: safe name %q empty or repeated", p.Path, p.SafeName)
			}
			names[strings.ToLower(p.SafeName)] = true
			if p.Kind < KindDocument || p.Kind > KindEmbedded || (p.Kind == KindEmbedded) != (p.Envelope != nil) {
				t.Errorf("part %s: kind %v, envelope %v", p.Path, p.Kind, p.Envelope)
			}
		}
		// Byte by byte is slow on the large seeds; half reads split lines too.
		var pieces io.Reader = iotest.HalfReader(bytes.NewReader(data))
		if len(data) <= 16<<10 {
			pieces = iotest.OneByteReader(bytes.NewReader(data))
		}
		again, err := Walk(pieces, lim, nil)
		if err != nil {
			t.Fatalf("Walk in pieces = %v, whole = nil", err)
		}
		if a, b := detail(again), detail(msg); a != b {
			t.Errorf("Walk in pieces:\n%s\nwhole:\n%s", a, b)
		}
	})
}
