package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// The MIME conformance corpus (shared/corpus, beside the repository): 150
// real messages and what an independent oracle (CPython's email package,
// shared/corpus/oracle.py) found in each. For the messages where the oracle
// is authoritative ("doubtful": false) Walk must find the same documents.

// expectedMessage is one entry of shared/corpus/mime/expected.json.
type expectedMessage struct {
	File        string               `json:"file"`
	ParseOK     bool                 `json:"parse_ok"`
	Doubtful    bool                 `json:"doubtful"`
	Subject     *string              `json:"subject"`
	From        *string              `json:"from"`
	MessageID   *string              `json:"message_id"`
	Attachments []expectedAttachment `json:"attachments"`
	Embedded    []struct {
		Path string `json:"path"`
	} `json:"embedded_messages"`
}

type expectedAttachment struct {
	Filename    *string `json:"filename"`
	ContentType string  `json:"content_type"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	Disposition *string `json:"disposition"`
	Path        string  `json:"path"`
	Exact       *bool   `json:"exact"`
}

// corpusDir finds shared/corpus beside the repository. In CI a missing
// corpus fails the test; elsewhere it skips.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(dir, "mime", "expected.json")); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("MIME corpus missing (want shared/ beside the repository): %v", err)
		}
		tb.Skipf("MIME corpus not found at %s, skipping outside CI: %v", dir, err)
	}
	return dir
}

func loadExpected(tb testing.TB) (string, map[string]expectedMessage) {
	tb.Helper()
	dir := filepath.Join(corpusDir(tb), "mime")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var exp map[string]expectedMessage
	if err := json.Unmarshal(data, &exp); err != nil {
		tb.Fatalf("expected.json: %v", err)
	}
	return dir, exp
}

func sortedKeys(m map[string]expectedMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// compareDocuments returns the differences on the required fields (count,
// filename, size, sha256) and on the recommended ones (path, declared
// content type, disposition).
func compareDocuments(got []*Part, want []expectedAttachment) (required, recommended []string) {
	if len(got) != len(want) {
		required = append(required, fmt.Sprintf("%d documents, want %d", len(got), len(want)))
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		g, w := got[i], want[i]
		if g.Filename != str(w.Filename) {
			required = append(required, fmt.Sprintf("doc %d filename %q, want %q", i, g.Filename, str(w.Filename)))
		}
		if w.Exact == nil || *w.Exact {
			if g.Size != w.Size || g.SHA256 != w.SHA256 {
				required = append(required, fmt.Sprintf("doc %d (%s) size %d sha256 %.12s, want %d %.12s", i, g.Path, g.Size, g.SHA256, w.Size, w.SHA256))
			}
		}
		if g.Path != w.Path {
			recommended = append(recommended, fmt.Sprintf("doc %d path %s, want %s", i, g.Path, w.Path))
		}
		if g.DeclaredType != w.ContentType {
			recommended = append(recommended, fmt.Sprintf("doc %d type %s, want %s", i, g.DeclaredType, w.ContentType))
		}
		if g.Disposition != str(w.Disposition) {
			recommended = append(recommended, fmt.Sprintf("doc %d disposition %q, want %q", i, g.Disposition, str(w.Disposition)))
		}
	}
	return required, recommended
}

func TestCorpus(t *testing.T) {
	dir, exp := loadExpected(t)
	var n, okRequired, okRecommended, okSubject, okFrom, okID, docs int
	for _, name := range sortedKeys(exp) {
		e := exp[name]
		if e.Doubtful {
			continue
		}
		n++
		docs += len(e.Attachments)
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Walk(bytes.NewReader(data), Limits{}, nil)
		if err != nil {
			t.Errorf("Walk(%s): %v", name, err)
			continue
		}
		required, recommended := compareDocuments(msg.Documents(), e.Attachments)
		if len(required) == 0 {
			okRequired++
		} else {
			t.Errorf("Walk(%s) documents differ from the oracle: %q", name, required)
		}
		if len(recommended) == 0 {
			okRecommended++
		} else {
			t.Logf("Walk(%s) recommended fields differ: %q", name, recommended)
		}
		if msg.Subject == str(e.Subject) {
			okSubject++
		} else {
			t.Logf("Walk(%s) subject %q, oracle %q", name, msg.Subject, str(e.Subject))
		}
		if msg.From == str(e.From) {
			okFrom++
		} else {
			t.Logf("Walk(%s) from %q, oracle %q", name, msg.From, str(e.From))
		}
		if msg.MessageID == str(e.MessageID) {
			okID++
		}
	}
	if n == 0 {
		t.Fatal("no authoritative message in expected.json")
	}
	t.Logf("corpus: %d/%d messages with the oracle's documents (%d documents: count, filename, size, sha256); "+
		"%d/%d also path, content type, disposition; informative: subject %d/%d, from %d/%d, message-id %d/%d",
		okRequired, n, docs, okRecommended, n, okSubject, n, okFrom, n, okID, n)
}

// TestCorpusDoubtful walks the messages where the oracle is not
// authoritative: each must be walked or refused with a clear error, without
// a panic and without hanging (the timeout guards against a hang; it is not
// a performance bound).
func TestCorpusDoubtful(t *testing.T) {
	dir, exp := loadExpected(t)
	var n, walked, refused int
	for _, name := range sortedKeys(exp) {
		if !exp[name].Doubtful {
			continue
		}
		n++
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := Walk(bytes.NewReader(data), Limits{}, nil)
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case errors.Is(err, ErrParserPanic):
				t.Errorf("Walk(%s) panicked: %v", name, err)
			case err != nil && (!IsPermanent(err) || err.Error() == ""):
				t.Errorf("Walk(%s) = %v, want a permanent error with a reason", name, err)
			case err != nil:
				refused++
				t.Logf("Walk(%s) refused: %v", name, err)
			default:
				walked++
			}
		case <-time.After(time.Minute):
			t.Fatalf("Walk(%s) still running after a minute: hang", name)
		}
	}
	t.Logf("corpus doubtful: %d messages, %d walked, %d refused with a reason, 0 panics, 0 hangs", n, walked, refused)
}

// TestTestdataOracle checks the hand-made messages of testdata/mime against
// the oracle's answers for them (testdata/mime/expected.json, written by
// shared/corpus/oracle.py --write-expected). Two of them are doubtful for
// the oracle (a base64-encoded forward, a multipart without its close
// delimiter), but its answer is the right one there too, so all are compared.
func TestTestdataOracle(t *testing.T) {
	dir := filepath.Join("testdata", "mime")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]expectedMessage
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedKeys(exp) {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Walk(bytes.NewReader(raw), Limits{}, nil)
		if err != nil {
			t.Fatalf("Walk(%s): %v", name, err)
		}
		required, recommended := compareDocuments(msg.Documents(), exp[name].Attachments)
		if len(required)+len(recommended) > 0 {
			t.Errorf("Walk(%s) differs from the oracle: %q %q", name, required, recommended)
		}
	}
}
