package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"image/jpeg"
	"io"
	"strings"
	"testing"

	"recevable/intake"
	"recevable/validate"
)

// The generator is checked the way the pipeline will read its output: the
// MIME walk must find the attachments it wrote, sniffed as what they claim,
// and the document checks must read them as the kind of file intended.

// TestGeneratorMessages walks generated messages of both contents and
// checks sizes, structure, CRLF and determinism.
func TestGeneratorMessages(t *testing.T) {
	for _, content := range []Content{ContentFiller, ContentDecodable} {
		t.Run(string(content), func(t *testing.T) {
			g, err := NewGenerator(Options{Seed: 7, MaxSize: 600_000, Content: content})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 12 {
				m := g.Message(i)
				if again := g.Message(i); !bytes.Equal(again.Raw, m.Raw) {
					t.Fatalf("message %d differs when generated twice", i)
				}
				if bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\n")) {
					t.Errorf("message %d has a bare LF", i)
				}
				want := g.Size(i)
				// Filler content is sized exactly; decodable content is made
				// of whole photos, padded up when one is smaller.
				lo, hi := want*9/10, want*11/10+2048
				if content == ContentDecodable {
					hi = want*2 + 60_000
				}
				if len(m.Raw) < lo || len(m.Raw) > hi {
					t.Errorf("message %d (%s): %d bytes, target %d", i, content, len(m.Raw), want)
				}
				var types []string
				msg, err := intake.Walk(bytes.NewReader(m.Raw), intake.Limits{}, nil)
				if err != nil {
					t.Fatalf("walk message %d: %v", i, err)
				}
				if got := "<" + m.MessageID + ">"; msg.MessageID != got {
					t.Errorf("message %d: Message-ID %q, want %q", i, msg.MessageID, got)
				}
				for _, p := range msg.Documents() {
					types = append(types, p.ContentType)
					if p.ContentType != p.DeclaredType {
						t.Errorf("message %d part %s: sniffed %s, declared %s", i, p.Path, p.ContentType, p.DeclaredType)
					}
				}
				if len(types) != m.Attachments {
					t.Errorf("message %d: documents %v, want %d attachments", i, types, m.Attachments)
				}
			}
		})
	}
}

// TestGeneratorDocuments checks that the attachments are the files they
// claim to be: PDFs whose structure the document checks accept, JPEGs that
// decode (decodable) or whose header only reads (filler).
func TestGeneratorDocuments(t *testing.T) {
	for _, content := range []Content{ContentFiller, ContentDecodable} {
		t.Run(string(content), func(t *testing.T) {
			g, err := NewGenerator(Options{Seed: 3, MaxSize: 400_000, Content: content})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for i := range 10 {
				m := g.Message(i)
				_, err := intake.Walk(bytes.NewReader(m.Raw), intake.Limits{}, func(p *intake.Part, body io.Reader) error {
					if p.Kind != intake.KindDocument {
						return nil
					}
					data, err := io.ReadAll(body)
					if err != nil {
						return err
					}
					sum := sha256.Sum256(data)
					if seen[string(sum[:])] {
						t.Errorf("message %d: attachment %s repeats an earlier one", i, p.Filename)
					}
					seen[string(sum[:])] = true
					res, err := validate.CheckDocument(context.Background(), bytes.NewReader(data), int64(len(data)),
						validate.DocInfo{Name: p.Filename, Declared: p.DeclaredType}, validate.Limits{})
					if err != nil {
						t.Fatalf("check %s: %v", p.Filename, err)
					}
					_, decodeErr := jpeg.Decode(bytes.NewReader(data))
					switch {
					case strings.HasSuffix(p.ContentType, "pdf") && len(res.Problems) != 0:
						t.Errorf("message %d %s (%s): problems %v, want a clean PDF", i, p.Filename, content, res.Codes())
					case p.ContentType == "image/jpeg" && content == ContentDecodable && decodeErr != nil:
						t.Errorf("message %d %s: does not decode: %v", i, p.Filename, decodeErr)
					case p.ContentType == "image/jpeg" && content == ContentFiller && decodeErr == nil:
						t.Errorf("message %d %s: filler JPEG decodes", i, p.Filename)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("walk message %d: %v", i, err)
				}
			}
		})
	}
}
