package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
)

// Test support: a real filesystem bucket, items made from bytes, a pipeline
// with test defaults, and views of what the bucket holds.

// newBucket is a fresh filesystem bucket in a temporary directory.
func newBucket(t testing.TB) *storage.FS {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger writes the pipeline's logs to the test log.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true, TimeFormat: "15:04:05.000"}).
		Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testOptions are Options for a test on bucket b: site "75", short retries.
func testOptions(t testing.TB, b storage.Bucket) Options {
	return Options{
		Bucket:       b,
		Sites:        []Site{{ID: "75"}},
		PoolSize:     2,
		Retry:        RetryPolicy{Attempts: 3, Min: time.Millisecond, Max: 5 * time.Millisecond},
		LeaseTTL:     2 * time.Second,
		RecoverGrace: time.Millisecond,
		SpoolDir:     t.TempDir(),
		Metrics:      NewMetrics(nil),
		Logger:       testLogger(t),
	}
}

func newPipeline(t testing.TB, o Options) *Pipeline {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// memItem is an item over raw bytes, as a source yields it.
func memItem(source string, raw []byte, coords map[string]string) intake.Item {
	return intake.Item{
		Source:      source,
		Coordinates: coords,
		ReceivedAt:  time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		Size:        int64(len(raw)),
		Open:        func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		Release:     func() {},
	}
}

// ackRecorder is an Ack that remembers what it was told.
type ackRecorder struct{ got []intake.Disposition }

func (a *ackRecorder) ack(_ context.Context, d intake.Disposition) error {
	a.got = append(a.got, d)
	return nil
}

// message builds an RFC 5322 message with attachments (name → content).
func message(msgID, from, subject, body string, attachments ...[2]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: titres-sejour@pref.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n", from, subject, msgID)
	if len(attachments) == 0 {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
		return []byte(b.String())
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n--sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(body + "\r\n")
	for _, a := range attachments {
		fmt.Fprintf(&b, "--sep\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n%s\r\n", a[0], a[1])
	}
	b.WriteString("--sep--\r\n")
	return []byte(b.String())
}

// mimeBomb nests multiparts depth levels deep: over the depth limit.
func mimeBomb(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: bomb@example.org\r\nSubject: bomb\r\nMessage-ID: <bomb@example.org>\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nx\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return []byte(b.String())
}

// dossiers reads every manifest in the bucket, keyed by number.
func dossiers(t testing.TB, b storage.Bucket) map[string]*storage.Manifest {
	t.Helper()
	ctx := context.Background()
	out := map[string]*storage.Manifest{}
	d := storage.Dossiers{Bucket: b}
	err := storage.ListAll(ctx, b, "dossiers/", func(o storage.Info) error {
		if !strings.HasSuffix(o.Key, "/manifest.json") {
			return nil
		}
		number := filepath.Base(filepath.Dir(o.Key))
		m, _, err := d.Get(ctx, number)
		if err != nil {
			return err
		}
		out[number] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keys lists the keys under prefix.
func keys(t testing.TB, b storage.Bucket, prefix string) []string {
	t.Helper()
	var out []string
	if err := storage.ListAll(context.Background(), b, prefix, func(o storage.Info) error {
		out = append(out, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// quarantined reads every quarantine entry.
func quarantined(t testing.TB, b storage.Bucket) []storage.QuarantineEntry {
	t.Helper()
	var out []storage.QuarantineEntry
	q := storage.Quarantine{Bucket: b}
	after := ""
	for {
		page, next, err := q.List(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
}

// checkNumbers checks that the numbers of site's dossiers for year are 1..n
// without a gap or a double, and that the counter agrees.
func checkNumbers(t testing.TB, b storage.Bucket, ms map[string]*storage.Manifest, site string, year int) {
	t.Helper()
	var seqs []int
	for n := range ms {
		s, y, seq, err := storage.ParseNumber(n)
		if err != nil || s != site || y != year {
			t.Errorf("dossier number %s: site %s year %d err %v; want site %s year %d", n, s, y, err, site, year)
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Errorf("registration numbers %v: want 1..%d without gap", seqs, len(seqs))
			break
		}
	}
	last, err := storage.Counter{Bucket: b}.Last(context.Background(), site, year)
	if err != nil {
		t.Fatal(err)
	}
	if last != len(seqs) {
		t.Errorf("counter %s/%d at %d, %d dossiers: a number was taken and not used", site, year, last, len(seqs))
	}
}

// expectedMessage is an entry of shared/corpus/mime/expected.json (the
// fields this package checks).
type expectedMessage struct {
	Doubtful    bool `json:"doubtful"`
	Attachments []struct {
		Filename *string `json:"filename"`
		Size     int64   `json:"size"`
		SHA256   string  `json:"sha256"`
		Exact    *bool   `json:"exact"`
	} `json:"attachments"`
}

// corpus returns the MIME corpus directory and expected.json; a missing
// corpus fails under CI=true and skips otherwise.
func corpus(t testing.TB) (string, map[string]expectedMessage) {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", "mime")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MIME corpus missing (want shared/ beside the repository): %v", err)
		}
		t.Skipf("MIME corpus not found at %s, skipping outside CI: %v", dir, err)
	}
	var exp map[string]expectedMessage
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return dir, exp
}

// waitFor polls cond until it holds; limit guards against a hang.
func waitFor(t testing.TB, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	var state string
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
	}
	t.Fatalf("not reached after %v: %s", limit, state)
}
