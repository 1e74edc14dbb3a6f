package intake

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestFolderDrop(t *testing.T, dir string, clock *fakeClock) *DropSource {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewFolderDrop(DropOptions{
		Name: "test", Dir: dir, Bucket: b, Holder: "h1",
		StableFor: 10 * time.Second, RescanInterval: time.Hour,
		Logger: zerolog.Nop(), Now: clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDropWaitsForCompleteFile: a file written slowly, in chunks, each
// less than StableFor after the last, is not ready until StableFor has
// passed since the last chunk — and then it is, whole. The clock is the
// test's: each step is decided, nothing depends on timing.
func TestDropWaitsForCompleteFile(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s := newTestFolderDrop(t, dir, clock)
	ctx := context.Background()
	path := filepath.Join(dir, "scan0001.pdf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var written []byte
	for i := range 6 {
		chunk := []byte{byte('a' + i), byte('a' + i), byte('a' + i)}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		written = append(written, chunk...)
		// The modification time moves with the clock, as a writer's would
		// (whatever the file system's timestamp granularity).
		if err := os.Chtimes(path, clock.now(), clock.now()); err != nil {
			t.Fatal(err)
		}
		if err := s.scan(ctx, clock.now()); err != nil {
			t.Fatal(err)
		}
		if r := s.ready(clock.now()); len(r) != 0 {
			t.Fatalf("after chunk %d: ready %v while the file is being written", i+1, r)
		}
		clock.add(9 * time.Second) // under StableFor
		if err := s.scan(ctx, clock.now()); err != nil {
			t.Fatal(err)
		}
		if r := s.ready(clock.now()); len(r) != 0 {
			t.Fatalf("9 s after chunk %d: ready %v", i+1, r)
		}
	}
	clock.add(time.Second) // 10 s since the last chunk: complete
	if err := s.scan(ctx, clock.now()); err != nil {
		t.Fatal(err)
	}
	if r := s.ready(clock.now()); !slices.Equal(r, []string{"scan0001.pdf"}) {
		t.Fatalf("10 s after the last chunk: ready %v", r)
	}
	item, ack, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer item.Release()
	rc, err := item.Open()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100)
	n, _ := rc.Read(got)
	rc.Close()
	if string(got[:n]) != string(written) || item.Size != int64(len(written)) {
		t.Errorf("item holds %q (%d bytes), want %q", got[:n], item.Size, written)
	}
	if item.Coordinates[CoordName] != "scan0001.pdf" || item.Coordinates[CoordDrop] != "test" || item.Source != "drop:test" {
		t.Errorf("item source %q coordinates %v", item.Source, item.Coordinates)
	}
	if err := ack(ctx, Processed); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", "scan0001.pdf")); err != nil {
		t.Errorf("not in done/: %v", err)
	}
}

// TestDropChangeAfterStable: a file that changes after it looked stable
// (appended to after a pause longer than StableFor, then again) is taken
// only once it is stable again, and its item refuses to read bytes other
// than those it was taken with.
func TestDropChangeAfterStable(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s := newTestFolderDrop(t, dir, clock)
	ctx := context.Background()
	path := filepath.Join(dir, "lot.pdf")
	write := func(data string) {
		if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, clock.now(), clock.now())
	}
	write("first")
	s.scan(ctx, clock.now())
	clock.add(5 * time.Second)
	write("first and more") // within StableFor: starts again
	s.scan(ctx, clock.now())
	clock.add(9 * time.Second)
	s.scan(ctx, clock.now())
	if r := s.ready(clock.now()); len(r) != 0 {
		t.Fatalf("ready %v 9 s after a change", r)
	}
	clock.add(time.Second)
	s.scan(ctx, clock.now())
	item, _, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer item.Release()
	write("changed after being taken")
	if _, err := item.Open(); err == nil {
		t.Error("Open of a file changed after it was taken: no error")
	}
}

func TestIgnoredName(t *testing.T) {
	for name, want := range map[string]bool{
		"scan0001.pdf": false, "Lettre 2026.JPG": false, "lot.tiff": false,
		".scan0001.pdf": true, "~$lettre.docx": true, "scan.pdf~": true, "scan.pdf.tmp": true,
		"scan.PART": true, "scan.pdf.partial": true, "x.crdownload": true, ".DS_Store": true,
	} {
		if got := ignoredName(name); got != want {
			t.Errorf("ignoredName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestDropSidecarPairing: a sidecar goes with its scan (either naming),
// not with a scan written long after it under the same name.
func TestDropSidecarPairing(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s := newTestFolderDrop(t, dir, clock)
	ctx := context.Background()
	write := func(name string, at time.Time) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o640); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
	}
	now := clock.now()
	write("a.pdf", now)
	write("a.json", now.Add(2*time.Second)) // written just after its scan
	write("b.pdf", now)
	write("b.pdf.json", now)
	write("c.pdf", now)
	write("c.json", now.Add(-26*time.Hour)) // yesterday's, left behind
	if err := s.scan(ctx, now); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for scan, want := range map[string]string{"a.pdf": "a.json", "b.pdf": "b.pdf.json", "c.pdf": ""} {
		if got := s.sidecarOfLocked(scan); got != want {
			t.Errorf("sidecar of %s = %q, want %q", scan, got, want)
		}
	}
}
