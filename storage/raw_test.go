package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// opener returns an Open func over a fixed body, counting its calls.
func opener(body string, calls *int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		*calls++
		return io.NopCloser(strings.NewReader(body)), nil
	}
}

func TestRawStoreAndOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		r := Raws{Bucket: b}
		body := "From: a@example.org\r\nSubject: titre de séjour\r\n\r\nbonjour\r\n"
		received := time.Date(2026, 2, 3, 10, 0, 0, 123, time.FixedZone("CET", 3600))
		coords := map[string]string{"mailbox": "Boîte de réception", "uidvalidity": "42", "uid": "7", "odd key": "a&b=c"}
		calls := 0
		m, err := r.Store(ctx, RawMeta{Source: "imap:préfecture-75/INBOX", Coordinates: coords, ReceivedAt: received}, opener(body, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if !m.Created {
			t.Errorf("first Store: Created = false, want true (this call wrote raw/)")
		}
		if m.SHA256 != shaOf(body) || m.Size != int64(len(body)) || calls != 2 {
			t.Errorf("Store = sha %s size %d after %d opens; want %s, %d, 2 (hash pass, store pass)", m.SHA256, m.Size, calls, shaOf(body), len(body))
		}
		if keys := keysUnder(t, b, rawPrefix); len(keys) != 1 || keys[0] != "raw/"+shaOf(body) {
			t.Errorf("raw keys = %v", keys)
		}
		rc, got, err := r.Open(ctx, m.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		data, err := readAllString(rc)
		rc.Close()
		if err != nil || data != body {
			t.Errorf("Open read %q, %v", data, err)
		}
		if got.Source != "imap:préfecture-75/INBOX" || !got.ReceivedAt.Equal(received) || got.Size != int64(len(body)) || got.StoredAt.IsZero() {
			t.Errorf("Open meta = %+v", got)
		}
		if fmt.Sprint(got.Coordinates) != fmt.Sprint(coords) {
			t.Errorf("coordinates = %v, want %v", got.Coordinates, coords)
		}

		// Again, from another source: already there, a success, the first
		// source's metadata kept, no upload (one open only, none if the hash
		// is given).
		calls = 0
		again, err := r.Store(ctx, RawMeta{Source: "drop:/srv/scans"}, opener(body, &calls))
		if err != nil || again.Source != got.Source || calls != 1 || again.Created {
			t.Errorf("second Store = %+v, %v after %d opens; want the first copy's metadata, not Created", again, err, calls)
		}
		calls = 0
		if known, err := r.Store(ctx, RawMeta{SHA256: m.SHA256, Size: m.Size, Created: true}, opener(body, &calls)); err != nil || calls != 0 || known.Created {
			t.Errorf("Store with known hash of stored bytes: Created %v, %v after %d opens", known.Created, err, calls)
		}
	})
}

// TestRawStoreCreatedOnce: of writers storing the same bytes at once, one
// is told it created raw/ — the others, and a writer whose PUT went
// through but whose reply was lost and who tries again, are not: Created
// lets the caller skip looking for earlier work, so it must never be set
// by mistake.
func TestRawStoreCreatedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		r := Raws{Bucket: b}
		const writers = 6
		created := make([]bool, writers)
		errs := together(writers, func(i int) error {
			var calls int
			m, err := r.Store(ctx, RawMeta{Source: fmt.Sprint("s", i)}, opener("the same bytes", &calls))
			created[i] = m.Created
			return err
		})
		n := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			if created[i] {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d of %d concurrent Stores of the same bytes said Created, want exactly 1", n, writers)
		}

		// The reply of the PUT is lost: the caller retries and finds the
		// object it wrote itself, which it cannot tell from another's.
		lost := Raws{Bucket: &faultBucket{Bucket: b, after: true, failPut: func(k string) bool { return strings.HasPrefix(k, rawPrefix) }}}
		var calls int
		if _, err := lost.Store(ctx, RawMeta{}, opener("reply lost", &calls)); !errors.Is(err, errInjected) {
			t.Fatalf("Store with a lost reply: %v", err)
		}
		if m, err := r.Store(ctx, RawMeta{}, opener("reply lost", &calls)); err != nil || m.Created {
			t.Errorf("retry after a lost reply: Created %v, %v; want false", m.Created, err)
		}
	})
}

func TestRawStoreRefusesMismatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		r := Raws{Bucket: b}
		calls := 0
		// The hash given by the caller is wrong.
		_, err := r.Store(ctx, RawMeta{SHA256: shaOf("other"), Source: "s"}, opener("body", &calls))
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("Store with a wrong hash: %v, want ErrIntegrity", err)
		}
		// The size announced is wrong.
		_, err = r.Store(ctx, RawMeta{SHA256: shaOf("body"), Size: 3}, opener("body", &calls))
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("Store with a wrong size: %v, want ErrIntegrity", err)
		}
		// The spool changed between the hashing pass and the storing pass.
		n := 0
		changing := func() (io.ReadCloser, error) {
			n++
			return io.NopCloser(strings.NewReader(fmt.Sprint("version ", n))), nil
		}
		if _, err := r.Store(ctx, RawMeta{}, changing); !errors.Is(err, ErrIntegrity) {
			t.Errorf("Store of a changing spool: %v, want ErrIntegrity", err)
		}
		if keys := keysUnder(t, b, ""); len(keys) != 0 {
			t.Errorf("refused Stores left %v", keys)
		}
		// An open that fails is reported, not swallowed.
		failing := func() (io.ReadCloser, error) { return nil, errInjected }
		if _, err := r.Store(ctx, RawMeta{}, failing); !errors.Is(err, errInjected) {
			t.Errorf("Store with a failing open: %v", err)
		}
	})
}

func TestRawOpenDetectsCorruption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		r := Raws{Bucket: b}
		calls := 0
		m, err := r.Store(ctx, RawMeta{}, opener("original bytes", &calls))
		if err != nil {
			t.Fatal(err)
		}
		// Bit rot, or someone writing behind our back.
		if _, err := b.Put(ctx, RawKey(m.SHA256), strings.NewReader("0riginal bytes"), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		rc, _, err := r.Open(ctx, m.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); !errors.Is(err, ErrIntegrity) {
			t.Errorf("reading a corrupted raw: %v, want ErrIntegrity", err)
		}
		if _, _, err := r.Open(ctx, shaOf("absent")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open of a missing raw: %v, want ErrNotFound", err)
		}
	})
}

func TestRawCoordinatesTruncated(t *testing.T) {
	ctx := context.Background()
	r := Raws{Bucket: newRecFS(t)}
	coords := map[string]string{"a": "1", "path": strings.Repeat("/très/long", 300), "z": "26"}
	calls := 0
	m, err := r.Store(ctx, RawMeta{Source: "drop", Coordinates: coords}, opener("x", &calls))
	if err != nil {
		t.Fatalf("Store with long coordinates: %v", err)
	}
	got, err := r.Head(ctx, m.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CoordinatesTruncated || got.Coordinates["a"] != "1" || got.Coordinates["path"] != "" {
		t.Errorf("Head = truncated %v, coordinates %q; want the pairs that fit, flagged", got.CoordinatesTruncated, got.Coordinates)
	}
}

func TestRawIndexMessageID(t *testing.T) {
	ctx := context.Background()
	r := Raws{Bucket: newRecFS(t)}
	a, b := shaOf("a"), shaOf("b")
	if first, err := r.IndexMessageID(ctx, "<1234@mail.example.org>", a); err != nil || first != a {
		t.Errorf("first IndexMessageID = %s, %v; want %s", first, err, a)
	}
	if first, err := r.IndexMessageID(ctx, " 1234@mail.example.org ", b); err != nil || first != a {
		t.Errorf("IndexMessageID of a copy = %s, %v; want the first, %s", first, err, a)
	}
	if first, err := r.IndexMessageID(ctx, "<1234@MAIL.example.org>", b); err != nil || first != b {
		t.Errorf("IndexMessageID of another id = %s, %v; want %s", first, err, b)
	}
	if _, err := r.IndexMessageID(ctx, "<>", b); err == nil {
		t.Error("IndexMessageID accepted an empty Message-ID")
	}
}

func TestRawPending(t *testing.T) {
	ctx := context.Background()
	fs := newRecFS(t)
	clock := newFakeClock()
	// Pages of 2 keys: the three-way merge must cross page boundaries.
	b := smallPages{Bucket: fs, n: 2}
	r := Raws{Bucket: b, Now: clock.Now}
	var shas []string
	for i := range 9 {
		calls := 0
		m, err := r.Store(ctx, RawMeta{Source: "s"}, opener(fmt.Sprint("item ", i), &calls))
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, m.SHA256)
	}
	done := map[string]bool{}
	for _, i := range []int{0, 3, 4} {
		if err := r.MarkDone(ctx, shas[i], Done{Numbers: []string{FormatNumber("75", 2026, i+1)}}); err != nil {
			t.Fatal(err)
		}
		done[shas[i]] = true
	}
	// Marking twice is fine and keeps the first record.
	if err := r.MarkDone(ctx, shas[0], Done{DuplicateOf: shas[1]}); err != nil {
		t.Errorf("second MarkDone: %v", err)
	}
	if d, err := r.GetDone(ctx, shas[0]); err != nil || len(d.Numbers) != 1 || d.DuplicateOf != "" || !d.At.Equal(clock.Now()) {
		t.Errorf("GetDone = %+v, %v", d, err)
	}
	q := Quarantine{Bucket: b, Now: clock.Now}
	for _, i := range []int{5, 8} {
		if _, err := q.Record(ctx, shas[i], "s", "mime depth", "mime_depth"); err != nil {
			t.Fatal(err)
		}
		done[shas[i]] = true
	}
	var want []string
	for _, s := range shas {
		if !done[s] {
			want = append(want, s)
		}
	}
	slices.Sort(want)

	pending := func(before time.Time) []string {
		var got []string
		if err := r.Pending(ctx, before, func(m RawMeta) error { got = append(got, m.SHA256); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := pending(time.Time{}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Pending = %v\nwant      %v", got, want)
	}
	// Everything was stored just now (by the filesystem's clock): nothing is
	// older than an hour ago.
	if got := pending(time.Now().Add(-time.Hour)); len(got) != 0 {
		t.Errorf("Pending(before an hour ago) = %v, want none", got)
	}
	// Reprocessing a quarantined item: delete the entry, it is pending again.
	if err := q.Delete(ctx, shas[8]); err != nil {
		t.Fatal(err)
	}
	want = append(want, shas[8])
	slices.Sort(want)
	if got := pending(time.Time{}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Pending after un-quarantine = %v\nwant      %v", got, want)
	}
	// fn's error stops the walk and comes back.
	stop := errors.New("stop")
	if err := r.Pending(ctx, time.Time{}, func(RawMeta) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Pending returned %v, want fn's error", err)
	}
}

// patternReader yields n deterministic pseudo-random bytes, with the byte at
// flip (if >= 0) altered: a large body without holding it in memory.
type patternReader struct {
	n, off, flip int64
	state        uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		p.state = p.state*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.state >> 56)
		if p.off+int64(i) == p.flip {
			b[i] ^= 0x20
		}
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestRawLarge stores a raw larger than an S3 multipart part (8 MiB), as a
// 50 MB message would be: the verification spans the parts, and a mismatch
// found at the very end still stores nothing.
func TestRawLarge(t *testing.T) {
	const size = 12 << 20
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		r := Raws{Bucket: b}
		open := func(flip int64) func() (io.ReadCloser, error) {
			return func() (io.ReadCloser, error) { return io.NopCloser(&patternReader{n: size, flip: flip}), nil }
		}
		sha, n, err := Digest(&patternReader{n: size, flip: -1})
		if err != nil || n != size {
			t.Fatal(n, err)
		}
		if _, err := r.Store(ctx, RawMeta{SHA256: sha, Size: size}, open(size-1)); !errors.Is(err, ErrIntegrity) {
			t.Errorf("Store of %d bytes with the last one altered: %v, want ErrIntegrity", size, err)
		}
		if keys := keysUnder(t, b, ""); len(keys) != 0 {
			t.Fatalf("refused Store left %v", keys)
		}
		if _, err := r.Store(ctx, RawMeta{SHA256: sha, Size: size}, open(-1)); err != nil {
			t.Fatal(err)
		}
		rc, _, err := r.Open(ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
			t.Errorf("read back %d bytes, %v", n, err)
		}
	})
}

// BenchmarkRawStore measures storing (hash pass + verified upload) a 4 MiB
// raw item on the filesystem backend.
func BenchmarkRawStore(b *testing.B) {
	bucket, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r := Raws{Bucket: bucket}
	ctx := context.Background()
	const size = 4 << 20
	b.SetBytes(size)
	seed := uint64(0)
	for b.Loop() {
		seed++
		s := seed
		open := func() (io.ReadCloser, error) { return io.NopCloser(&patternReader{n: size, flip: -1, state: s}), nil }
		if _, err := r.Store(ctx, RawMeta{Source: "bench"}, open); err != nil {
			b.Fatal(err)
		}
	}
}
