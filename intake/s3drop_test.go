package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recevable/intake"
	"recevable/storage"
	"recevable/storage/s3test"
)

// The S3 drop is tested on a real S3 server (versitygw on loopback, see
// s3test: in CI a missing server fails the test) and on the filesystem
// bucket, which has the same semantics. The drop's objects live in one
// bucket, the claims in another, as when the mailroom's bucket is not
// recevable's.

// s3Backends runs f with a drop bucket and a state bucket of each backend.
func s3Backends(t *testing.T, f func(t *testing.T, files, state storage.Bucket)) {
	t.Run("fs", func(t *testing.T) {
		t.Parallel()
		f(t, fsBucket(t), fsBucket(t))
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		srv := s3test.Start(t)
		mk := func(bucket string) storage.Bucket {
			b, err := storage.NewS3(context.Background(), storage.S3Options{
				Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket, PathStyle: true,
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, MaxBackoff: 10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		f(t, mk(srv.Bucket), mk(srv.NewBucket(t, false)))
	})
}

func s3Drop(t testing.TB, files, state storage.Bucket, holder string, mod func(*intake.DropOptions)) *intake.DropSource {
	t.Helper()
	o := intake.DropOptions{
		Name: "courrier-s3", Files: files, Prefix: "scans/pp/", Bucket: state, Holder: holder,
		StableFor: 20 * time.Millisecond, RescanInterval: 50 * time.Millisecond, ClaimTTL: 10 * time.Second,
		Logger: testLog(t),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := intake.NewS3Drop(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func putObject(t testing.TB, b storage.Bucket, key string, data []byte) {
	t.Helper()
	if _, err := b.Put(context.Background(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
}

// keys lists the keys under prefix, sorted.
func keys(t testing.TB, b storage.Bucket, prefix string) []string {
	t.Helper()
	var out []string
	if err := storage.ListAll(context.Background(), b, prefix, func(i storage.Info) error { out = append(out, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestS3DropFlow: only the objects directly under the prefix are taken
// (not those of done/ or another folder, nor outside the prefix), with
// their sidecar; a processed one moves to done/, a broken one to failed/
// with its reason.
func TestS3DropFlow(t *testing.T) {
	s3Backends(t, func(t *testing.T, files, state storage.Bucket) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		good := tinyScan(t, 11)
		putObject(t, files, "scans/pp/scan1.pdf", good)
		putObject(t, files, "scans/pp/scan1.json", []byte(`{"postmark":"2026-03-12"}`))
		putObject(t, files, "scans/pp/scan2.pdf", good[:100])
		putObject(t, files, "scans/pp/archives/a.pdf", good)
		putObject(t, files, "scans/pp/done/old.pdf", good)
		putObject(t, files, "scans/pp/scan0.pdf.part", good)
		putObject(t, files, "scans/other.pdf", good)
		s := s3Drop(t, files, state, "h1", nil)
		w := newMiniWorker(state)
		got := map[string]map[string]string{}
		for range 2 {
			item, ack, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got[item.Coordinates[intake.CoordName]] = item.Coordinates
			if _, err := w.handle(ctx, item, ack); err != nil {
				t.Fatal(err)
			}
		}
		if c := got["scan1.pdf"]; c == nil || c[intake.CoordKey] != "scans/pp/scan1.pdf" || c[intake.CoordSidecar] == "" || got["scan2.pdf"] == nil {
			t.Fatalf("items: %v", got)
		}
		want := []string{
			"scans/other.pdf", "scans/pp/archives/a.pdf",
			"scans/pp/done/old.pdf", "scans/pp/done/scan1.pdf", "scans/pp/done/scan1.pdf.json",
			"scans/pp/failed/scan2.pdf", "scans/pp/failed/scan2.pdf.reason.txt",
			"scans/pp/scan0.pdf.part",
		}
		if k := keys(t, files, "scans/"); !slices.Equal(k, want) {
			t.Errorf("objects after processing:\n%v\nwant\n%v", k, want)
		}
		rc, _, err := files.Get(ctx, "scans/pp/failed/scan2.pdf.reason.txt")
		if err != nil {
			t.Fatal(err)
		}
		reason, _ := io.ReadAll(rc)
		rc.Close()
		if !strings.Contains(string(reason), "scan unreadable") {
			t.Errorf("reason: %q", reason)
		}
		if claimsLeft(t, state) != 0 {
			t.Errorf("%d claims left", claimsLeft(t, state))
		}
	})
}

// TestS3DropTwoReplicas: two replicas on the same prefix, 20 scans: each
// taken exactly once, all in done/.
func TestS3DropTwoReplicas(t *testing.T) {
	s3Backends(t, func(t *testing.T, files, state storage.Bucket) {
		const n = 20
		for i := range n {
			putObject(t, files, fmt.Sprintf("scans/pp/scan%02d.pdf", i), tinyScan(t, uint8(100+i)))
		}
		w := newMiniWorker(state)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for _, h := range []string{"replica-a", "replica-b"} {
			s := s3Drop(t, files, state, h, nil)
			wg.Add(1)
			go func() { defer wg.Done(); w.run(ctx, t, s) }()
		}
		// Done means moved: copied to done/, then the original deleted (the
		// copy comes first, so done/ alone fills before the last delete).
		eventually(t, "20 scans moved to done/", func() bool {
			return len(keys(t, files, "scans/pp/done/")) == n && len(keys(t, files, "scans/pp/")) == n
		})
		cancel()
		wg.Wait()
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := range n {
			if name := fmt.Sprintf("scan%02d.pdf", i); w.taken[name] != 1 {
				t.Errorf("%s taken %d times", name, w.taken[name])
			}
		}
		if k := keys(t, files, "scans/pp/"); len(k) != n || rawCount(t, state) != n || claimsLeft(t, state) != 0 {
			t.Errorf("%d objects under the prefix (want the %d in done/), %d raw, %d claims", len(k), n, rawCount(t, state), claimsLeft(t, state))
		}
	})
}

// TestS3DropClaimExpiry: a replica that took an object and died holds it
// until its claim expires; then another takes it. The clock is the
// test's.
func TestS3DropClaimExpiry(t *testing.T) {
	t.Parallel()
	files, state := fsBucket(t), fsBucket(t)
	putObject(t, files, "scans/pp/lettre.pdf", tinyScan(t, 12))
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	opts := func(o *intake.DropOptions) { o.Now, o.ClaimTTL, o.StableFor = clock, time.Hour, time.Second }
	dead := s3Drop(t, files, state, "dead", opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil { // the dead replica's stability wait runs on the real clock
			advance(time.Second)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, _, err := dead.Next(ctx); err != nil { // taken, never acked nor released
		t.Fatal(err)
	}
	other := s3Drop(t, files, state, "other", opts)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	mu.Lock()
	start := now
	mu.Unlock()
	item, ack, err := other.Next(short)
	mu.Lock()
	elapsed := now.Sub(start)
	mu.Unlock()
	if err == nil && elapsed < time.Hour {
		t.Fatalf("another replica took the object %v after it was claimed", elapsed)
	}
	if err == nil {
		item.Release()
	}
	advance(time.Hour)
	item, ack, err = other.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newMiniWorker(state).handle(ctx, item, ack); err != nil {
		t.Fatal(err)
	}
	if k := keys(t, files, "scans/pp/"); !slices.Equal(k, []string{"scans/pp/done/lettre.pdf"}) {
		t.Errorf("objects: %v", k)
	}
}
