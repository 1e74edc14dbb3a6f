package intake_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
)

// Test support for the drops: a worker that does with an item what the
// pipeline does, dossiers aside (raw first, open and split the scan,
// quarantine a permanent failure, ack), and small scans.

// miniWorker handles drop items against a bucket and counts what it took.
type miniWorker struct {
	bucket storage.Bucket
	split  intake.SplitOptions

	mu    sync.Mutex
	taken map[string]int // file name → times taken
	acked map[string]intake.Disposition
}

func newMiniWorker(b storage.Bucket) *miniWorker {
	return &miniWorker{bucket: b, taken: map[string]int{}, acked: map[string]intake.Disposition{}}
}

// handle stores the raw bytes, checks the scan, records a quarantine entry
// on a permanent failure, and acks. It returns the raw sha ("" when the
// bytes could not be read: over the size limit).
func (w *miniWorker) handle(ctx context.Context, item intake.Item, ack intake.Ack) (string, error) {
	defer item.Release()
	name := item.Coordinates[intake.CoordName]
	w.mu.Lock()
	w.taken[name]++
	w.mu.Unlock()
	disp := intake.Processed
	meta, err := storage.Raws{Bucket: w.bucket}.Store(ctx, storage.RawMeta{Source: item.Source, Coordinates: item.Coordinates, ReceivedAt: item.ReceivedAt}, item.Open)
	switch {
	case intake.IsPermanent(err):
		disp = intake.Quarantined
	case err != nil:
		return "", err
	default:
		if perr := w.check(ctx, meta.SHA256); perr != nil {
			if !intake.IsPermanent(perr) {
				return "", perr
			}
			var pe *intake.PermanentError
			errors.As(perr, &pe)
			if _, err := (storage.Quarantine{Bucket: w.bucket}).Record(ctx, meta.SHA256, item.Source, perr.Error(), pe.Limit); err != nil {
				return "", err
			}
			disp = intake.Quarantined
		}
	}
	if err := ack(ctx, disp); err != nil {
		return "", err
	}
	w.mu.Lock()
	w.acked[name] = disp
	w.mu.Unlock()
	return meta.SHA256, nil
}

// check opens the stored scan and, with a finder, splits it.
func (w *miniWorker) check(ctx context.Context, sha string) error {
	rc, _, err := storage.Raws{Bucket: w.bucket}.Open(ctx, sha)
	if err != nil {
		return err
	}
	defer rc.Close()
	scan, err := intake.OpenScan(ctx, rc, intake.ScanLimits{})
	if err != nil {
		return err
	}
	_, err = intake.Split(ctx, scan, w.split)
	return err
}

// run takes and handles items until ctx ends.
func (w *miniWorker) run(ctx context.Context, t testing.TB, src intake.Source) {
	for {
		item, ack, err := src.Next(ctx)
		if err != nil {
			return
		}
		if _, err := w.handle(ctx, item, ack); err != nil && ctx.Err() == nil {
			t.Errorf("handle %s: %v", item.Coordinates[intake.CoordName], err)
		}
	}
}

// tinyScan is a one-page scanned PDF, 60×85 pixels of grey level v with a
// dark bar (not blank): different v, different bytes.
func tinyScan(t testing.TB, v uint8) []byte {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, 60, 85))
	for i := range g.Pix {
		g.Pix[i] = 200 + v%50
	}
	for y := 30; y < 50; y++ {
		for x := 10; x < 50; x++ {
			g.Pix[y*g.Stride+x] = v % 40
		}
	}
	var j bytes.Buffer
	if err := jpeg.Encode(&j, g, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	if err := intake.AssembleImages(context.Background(), &pdf, [][]byte{j.Bytes()}, intake.ScanLimits{}); err != nil {
		t.Fatal(err)
	}
	return pdf.Bytes()
}

// fsBucket is a fresh filesystem bucket.
func fsBucket(t testing.TB) *storage.FS {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// names lists the regular files of dir, sorted.
func names(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.Type().IsRegular() {
			out = append(out, de.Name())
		}
	}
	sort.Strings(out)
	return out
}

// eventually polls cond until it holds or a minute passes: for outcomes
// that come from other goroutines. Generous: it waits for a result, it
// does not measure time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not the case after a minute: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: logWriter{t}, NoColor: true}).Level(zerolog.InfoLevel)
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// claimsLeft counts the claims in the bucket.
func claimsLeft(t testing.TB, b storage.Bucket) int {
	t.Helper()
	n := 0
	if err := storage.ListAll(context.Background(), b, "state/claims/", func(storage.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// rawCount counts the raw originals in the bucket.
func rawCount(t testing.TB, b storage.Bucket) int {
	t.Helper()
	n := 0
	if err := storage.ListAll(context.Background(), b, "raw/", func(storage.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
