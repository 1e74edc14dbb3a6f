package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// backendLimits lists what a backend legitimately cannot do, so that the one
// suite runs everywhere and skips only what is documented here.
type backendLimits struct {
	// noParentObjects: a key cannot be an object and the parent of another
	// ("a/b" and "a/b/c"). S3 allows it; versitygw's posix backend maps keys
	// to files and directories and answers ObjectParentIsFile.
	noParentObjects bool
	// maxSegment, if not 0, caps the bytes between two "/" (versitygw's
	// posix backend: a file name, 255 bytes; S3 has no such limit).
	maxSegment int
}

// forBackend drops the keys the backend cannot hold together.
func (l backendLimits) forBackend(keys []string) []string {
	var out []string
	for _, k := range keys {
		if l.noParentObjects && slices.ContainsFunc(keys, func(o string) bool { return strings.HasPrefix(o, k+"/") }) {
			continue
		}
		if l.maxSegment > 0 && slices.ContainsFunc(strings.Split(k, "/"), func(s string) bool { return len(s) > l.maxSegment }) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// longKey is a valid key of exactly n bytes, in segments the backend takes.
func (l backendLimits) longKey(n int) string {
	seg := n
	if l.maxSegment > 0 {
		seg = l.maxSegment - 1 // slack for the fix-up below
	}
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.Repeat("k", min(seg, n-b.Len())))
	}
	// No room was left after the last "/": lengthen the last segment instead.
	if k, ok := strings.CutSuffix(b.String(), "/"); ok {
		return k + "k"
	}
	return b.String()
}

// runConformance checks that a Bucket implementation keeps the promises
// written on the Bucket interface. newBucket returns an empty bucket for one
// subtest; it is called once per subtest, so subtests run in parallel.
func runConformance(t *testing.T, lim backendLimits, newBucket func(t *testing.T) Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Bucket, lim backendLimits)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"IfAbsentRace", testIfAbsentRace},
		{"IfMatchRace", testIfMatchRace},
		{"IfMatchMissingOrStale", testIfMatchMissingOrStale},
		{"CounterIncrements", testCounterIncrements},
		{"Copy", testCopy},
		{"LargeStreamed", testLargeStreamed},
		{"FailedPutStoresNothing", testFailedPutStoresNothing},
		{"SHA256Option", testSHA256Option},
		{"ListOrderAndPages", testListOrderAndPages},
		{"ListPrefix", testListPrefix},
		{"UnicodeKeys", testUnicodeKeys},
		{"InvalidKeys", testInvalidKeys},
		{"InvalidMetadata", testInvalidMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBucket(t), lim)
		})
	}
}

func put(t *testing.T, b Bucket, key, body string, o PutOptions) ETag {
	t.Helper()
	etag, err := b.Put(context.Background(), key, strings.NewReader(body), o)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if etag == "" {
		t.Fatalf("Put(%q) returned an empty ETag", key)
	}
	return etag
}

func get(t *testing.T, b Bucket, key string) (string, Info) {
	t.Helper()
	rc, inf, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q) read: %v", key, err)
	}
	return string(body), inf
}

func testRoundTrip(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	md := map[string]string{"source": "imap:prefecture", "received-at": "2025-11-26T08:00:00Z"}
	etag := put(t, b, "raw/abc", "hello dossier", PutOptions{ContentType: "message/rfc822", Metadata: md, Size: 13})

	body, inf := get(t, b, "raw/abc")
	if body != "hello dossier" {
		t.Errorf("Get body = %q, want %q", body, "hello dossier")
	}
	want := Info{Key: "raw/abc", Size: 13, ETag: etag, ContentType: "message/rfc822", Metadata: md}
	checkInfo(t, "Get", inf, want)
	hd, err := b.Head(ctx, "raw/abc")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	checkInfo(t, "Head", hd, want)
	if hd.LastModified.IsZero() {
		t.Errorf("Head LastModified is zero")
	}

	put(t, b, "plain", "x", PutOptions{})
	if _, inf := get(t, b, "plain"); inf.ContentType != "application/octet-stream" {
		t.Errorf("default ContentType = %q, want application/octet-stream", inf.ContentType)
	}

	if err := b.Delete(ctx, "raw/abc"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Head(ctx, "raw/abc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete: err = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "raw/abc"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}

func checkInfo(t *testing.T, op string, got, want Info) {
	t.Helper()
	if got.Key != want.Key || got.Size != want.Size || got.ETag != want.ETag || got.ContentType != want.ContentType {
		t.Errorf("%s Info = {%q %d %q %q}, want {%q %d %q %q}", op,
			got.Key, got.Size, got.ETag, got.ContentType, want.Key, want.Size, want.ETag, want.ContentType)
	}
	if want.Metadata != nil && !maps.Equal(got.Metadata, want.Metadata) {
		t.Errorf("%s Metadata = %v, want %v", op, got.Metadata, want.Metadata)
	}
}

func testOverwrite(t *testing.T, b Bucket, lim backendLimits) {
	e1 := put(t, b, "k", "version one", PutOptions{Metadata: map[string]string{"v": "1"}})
	e2 := put(t, b, "k", "version two", PutOptions{Metadata: map[string]string{"v": "2"}})
	if e1 == e2 {
		t.Errorf("two different bodies got the same ETag %q", e1)
	}
	body, inf := get(t, b, "k")
	if body != "version two" || inf.ETag != e2 || inf.Metadata["v"] != "2" {
		t.Errorf("after overwrite: body %q etag %q metadata %v; want version two, %q, v=2", body, inf.ETag, inf.Metadata, e2)
	}
}

func testNotFound(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	if _, _, err := b.Get(ctx, "no/such"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Head(ctx, "no/such"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head missing: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Copy(ctx, "no/such", "dst", PutOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Copy missing src: err = %v, want ErrNotFound", err)
	}
	// A key whose "parent" is an object is still just missing.
	put(t, b, "file", "x", PutOptions{})
	if _, err := b.Head(ctx, "file/child"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head file/child: err = %v, want ErrNotFound", err)
	}
}

// race runs fn(i) for i in [0,n) at once and returns the errors by i.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func testIfAbsentRace(t *testing.T, b Bucket, lim backendLimits) {
	const n = 16
	ctx := context.Background()
	etags := make([]ETag, n)
	errs := race(n, func(i int) (err error) {
		body := "creator " + strconv.Itoa(i)
		etags[i], err = b.Put(ctx, "state/counter/2025", strings.NewReader(body), PutOptions{IfAbsent: true, Size: racerSize(i, body)})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("creators %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrExists):
			t.Errorf("creator %d: err = %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no creator won")
	}
	body, inf := get(t, b, "state/counter/2025")
	if body != "creator "+strconv.Itoa(winner) || inf.ETag != etags[winner] {
		t.Errorf("stored %q (etag %q), want the winner's %q (etag %q)", body, inf.ETag, "creator "+strconv.Itoa(winner), etags[winner])
	}
}

// racerSize announces the size of every other racer's body, so that
// backends with one way for bodies of known size and another for the rest
// (S3: PutObject directly, or the uploader) race both against each other.
func racerSize(i int, body string) int64 {
	if i%2 == 0 {
		return int64(len(body))
	}
	return 0
}

func testIfMatchRace(t *testing.T, b Bucket, lim backendLimits) {
	const n = 16
	ctx := context.Background()
	base := put(t, b, "lease/imap", "free", PutOptions{})
	etags := make([]ETag, n)
	errs := race(n, func(i int) (err error) {
		body := "held by " + strconv.Itoa(i)
		etags[i], err = b.Put(ctx, "lease/imap", strings.NewReader(body), PutOptions{IfMatch: base, Size: racerSize(i, body)})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("updaters %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrPreconditionFailed):
			t.Errorf("updater %d: err = %v, want ErrPreconditionFailed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no updater won")
	}
	body, inf := get(t, b, "lease/imap")
	if body != "held by "+strconv.Itoa(winner) || inf.ETag != etags[winner] {
		t.Errorf("stored %q (etag %q), want the winner's (etag %q)", body, inf.ETag, etags[winner])
	}
}

func testIfMatchMissingOrStale(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	_, err := b.Put(ctx, "missing", strings.NewReader("x"), PutOptions{IfMatch: "0123456789abcdef"})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("IfMatch on a missing key: err = %v, want ErrPreconditionFailed", err)
	}
	if _, err := b.Head(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after failed IfMatch: Head err = %v, want ErrNotFound (nothing stored)", err)
	}
	old := put(t, b, "k", "one", PutOptions{})
	put(t, b, "k", "two", PutOptions{IfMatch: old})
	if _, err := b.Put(ctx, "k", strings.NewReader("three"), PutOptions{IfMatch: old}); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("IfMatch with a stale ETag: err = %v, want ErrPreconditionFailed", err)
	}
	if body, _ := get(t, b, "k"); body != "two" {
		t.Errorf("after a stale IfMatch the body is %q, want two", body)
	}
	if _, err := b.Put(ctx, "k", strings.NewReader("again"), PutOptions{IfAbsent: true}); !errors.Is(err, ErrExists) || !IsConflict(err) {
		t.Errorf("IfAbsent on an existing key: err = %v, want ErrExists", err)
	}
}

// testCounterIncrements is the registration-number counter pattern: read,
// increment, write back IfMatch, retry on conflict. No increment may be lost.
func testCounterIncrements(t *testing.T, b Bucket, lim backendLimits) {
	const workers, each = 6, 8
	ctx := context.Background()
	put(t, b, "state/counter", "0", PutOptions{})
	errs := race(workers, func(int) error {
		for range each {
			for {
				rc, inf, err := b.Get(ctx, "state/counter")
				if err != nil {
					return err
				}
				raw, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return err
				}
				n, err := strconv.Atoi(string(raw))
				if err != nil {
					return err
				}
				_, err = b.Put(ctx, "state/counter", strings.NewReader(strconv.Itoa(n+1)), PutOptions{IfMatch: inf.ETag})
				if err == nil {
					break
				}
				if !IsConflict(err) {
					return err
				}
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if body, _ := get(t, b, "state/counter"); body != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, want %d", body, workers*each)
	}
}

func testCopy(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	md := map[string]string{"sha256": "abc"}
	put(t, b, "src", "payload", PutOptions{ContentType: "application/pdf", Metadata: md})

	e, err := b.Copy(ctx, "src", "dst/kept", PutOptions{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	body, inf := get(t, b, "dst/kept")
	if body != "payload" || inf.ETag != e || inf.ContentType != "application/pdf" || !maps.Equal(inf.Metadata, md) {
		t.Errorf("copy = %q %q %q %v; want payload, etag %q, application/pdf, %v", body, inf.ETag, inf.ContentType, inf.Metadata, e, md)
	}

	md2 := map[string]string{"state": "new"}
	if _, err := b.Copy(ctx, "src", "dst/replaced", PutOptions{ContentType: "text/plain", Metadata: md2}); err != nil {
		t.Fatalf("Copy with metadata: %v", err)
	}
	if _, inf := get(t, b, "dst/replaced"); inf.ContentType != "text/plain" || !maps.Equal(inf.Metadata, md2) {
		t.Errorf("copy with new metadata: %q %v, want text/plain %v", inf.ContentType, inf.Metadata, md2)
	}

	put(t, b, "taken", "other", PutOptions{})
	if _, err := b.Copy(ctx, "src", "taken", PutOptions{IfAbsent: true}); !errors.Is(err, ErrExists) {
		t.Errorf("Copy IfAbsent onto an existing key: err = %v, want ErrExists", err)
	}
	if body, _ := get(t, b, "taken"); body != "other" {
		t.Errorf("failed Copy IfAbsent overwrote the destination: %q", body)
	}
	if _, err := b.Copy(ctx, "src", "fresh", PutOptions{IfAbsent: true}); err != nil {
		t.Errorf("Copy IfAbsent onto a free key: %v", err)
	}
}

// genReader streams n pseudo-random bytes (xorshift64) without holding them.
type genReader struct {
	left  int64
	state uint64
}

func newGenReader(n int64, seed uint64) *genReader {
	return &genReader{left: n, state: seed | 1}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.state ^= g.state << 13
		g.state ^= g.state >> 7
		g.state ^= g.state << 17
		p[i] = byte(g.state >> 32)
	}
	g.left -= int64(len(p))
	return len(p), nil
}

func genSHA256(n int64, seed uint64) [32]byte {
	h := sha256.New()
	io.Copy(h, newGenReader(n, seed))
	var s [32]byte
	h.Sum(s[:0])
	return s
}

func testLargeStreamed(t *testing.T, b Bucket, lim backendLimits) {
	const size = 21<<20 + 12345 // > 20 MB, not a multiple of any part size
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int64 // as announced in PutOptions
	}{{"unknown size", -1}, {"known size", size}} {
		key := "big/" + strings.ReplaceAll(tc.name, " ", "-")
		// The reader is wrapped so that the backend cannot see it as a
		// seekable byte slice and must stream it.
		etag, err := b.Put(ctx, key, struct{ io.Reader }{newGenReader(size, 42)}, PutOptions{Size: tc.size})
		if err != nil {
			t.Fatalf("%s: Put: %v", tc.name, err)
		}
		rc, inf, err := b.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: Get: %v", tc.name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: read back: %v", tc.name, err)
		}
		var got [32]byte
		h.Sum(got[:0])
		if n != size || got != genSHA256(size, 42) {
			t.Errorf("%s: read back %d bytes, sha256 %x; want %d bytes, %x", tc.name, n, got, size, genSHA256(size, 42))
		}
		if inf.Size != size || inf.ETag != etag {
			t.Errorf("%s: Info size %d etag %q; want %d %q", tc.name, inf.Size, inf.ETag, size, etag)
		}
	}
}

// failingReader yields some bytes, then an error, like a dropped connection.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func testFailedPutStoresNothing(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	if _, err := b.Put(ctx, "broken", &failingReader{n: 100 << 10}, PutOptions{}); err == nil {
		t.Fatalf("Put from a failing reader succeeded")
	}
	if _, err := b.Head(ctx, "broken"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a failed Put: Head err = %v, want ErrNotFound", err)
	}
	if _, err := b.Put(ctx, "short", strings.NewReader("12345"), PutOptions{Size: 10}); err == nil {
		t.Errorf("Put of 5 bytes announced as 10 succeeded")
	}
	if _, err := b.Head(ctx, "short"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a short Put: Head err = %v, want ErrNotFound", err)
	}
}

// listKeys pages through prefix with the given page size and returns the keys.
func listKeys(t *testing.T, b Bucket, prefix, after string, limit int) []string {
	t.Helper()
	var keys []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("List(%q) does not terminate", prefix)
		}
		page, err := b.List(context.Background(), prefix, ListOptions{StartAfter: after, Limit: limit})
		if err != nil {
			t.Fatalf("List(%q, after %q): %v", prefix, after, err)
		}
		if limit > 0 && len(page.Objects) > limit {
			t.Fatalf("List(%q) returned %d objects, limit %d", prefix, len(page.Objects), limit)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if page.Next == "" {
			return keys
		}
		after = page.Next
	}
}

// listingKeys is a set whose byte order differs from a naive directory walk.
var listingKeys = []string{
	"a/b", "a/b-x", "a/b/c", "a/b/c/d", "a/b0", "a/b/c-d", "a/ba", "a/b.txt",
	"a", "a-", "a0", "b/x", "q/site/new/2025-11-26T08:00:00Z-00001",
	"q/site/new/2025-11-26T08:00:01Z-00002", "q/site/newer/x", "z",
}

func putAll(t *testing.T, b Bucket, keys []string) {
	t.Helper()
	errs := race(len(keys), func(i int) error {
		_, err := b.Put(context.Background(), keys[i], strings.NewReader(keys[i]), PutOptions{})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put(%q): %v", keys[i], err)
		}
	}
}

func testListOrderAndPages(t *testing.T, b Bucket, lim backendLimits) {
	keys := lim.forBackend(listingKeys)
	putAll(t, b, keys)
	want := slices.Clone(keys)
	slices.Sort(want) // Go compares strings bytewise, as S3 does
	for _, limit := range []int{0, 1, 2, 3, 1000} {
		if got := listKeys(t, b, "", "", limit); !slices.Equal(got, want) {
			t.Errorf("List limit %d =\n%q\nwant\n%q", limit, got, want)
		}
	}
	for _, after := range []string{"a/b", "a/b/", "a/b/c", "a/b-", "a/b/c/d/e", "a/bz", "q/site/new/", "zz", ""} {
		var w []string
		for _, k := range want {
			if k > after {
				w = append(w, k)
			}
		}
		if got := listKeys(t, b, "", after, 2); !slices.Equal(got, w) {
			t.Errorf("List after %q =\n%q\nwant\n%q", after, got, w)
		}
	}
	ctx := context.Background()
	first := want[slices.IndexFunc(want, func(k string) bool { return strings.HasPrefix(k, "a/b") })]
	page, err := b.List(ctx, "a/b", ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != first || page.Objects[0].Size != int64(len(first)) || page.Next != first {
		t.Fatalf("first page of a/b = %+v, want %s (%d bytes) and Next %s", page, first, len(first), first)
	}
	if hd, err := b.Head(ctx, first); err != nil || hd.ETag != page.Objects[0].ETag {
		t.Errorf("List ETag %q, Head ETag %q (err %v)", page.Objects[0].ETag, hd.ETag, err)
	}
	last, err := b.List(ctx, "", ListOptions{StartAfter: want[len(want)-2], Limit: 1})
	if err != nil || len(last.Objects) != 1 || last.Next != "" {
		t.Errorf("last page = %+v (err %v), want one object and no Next", last, err)
	}
}

func testListPrefix(t *testing.T, b Bucket, lim backendLimits) {
	keys := lim.forBackend(listingKeys)
	putAll(t, b, keys)
	for _, prefix := range []string{"a/b", "a/b/", "a/b/c", "q/site/new/", "q/site/new", "q/site/new/2025-11-26T08:00:01", "a", "nothing", "a/b/c/d/", "a//"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		if got := listKeys(t, b, prefix, "", 2); !slices.Equal(got, want) {
			t.Errorf("List prefix %q =\n%q\nwant\n%q", prefix, got, want)
		}
	}
}

func testUnicodeKeys(t *testing.T, b Bucket, lim backendLimits) {
	keys := lim.forBackend([]string{
		"documents/é/titre de séjour.pdf", "documents/日本/パスポート.jpg",
		"documents/emoji/😀 smile.png", "documents/sp ace/a b", "documents/pct/100%.txt",
		"documents/pct/%41~tilde~", "documents/.hidden/.dotfile", "documents/e/x",
		"documents/plus+and=equals&amp;?q", "documents/long/" + strings.Repeat("é", 200) + "/" + strings.Repeat("x", 400),
	})
	putAll(t, b, keys)
	for _, k := range keys {
		if body, inf := get(t, b, k); body != k || inf.Key != k {
			t.Errorf("Get(%q) = body %q key %q", k, body, inf.Key)
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := listKeys(t, b, "documents/", "", 3); !slices.Equal(got, want) {
		t.Errorf("List =\n%q\nwant\n%q", got, want)
	}
	if lim.maxSegment == 0 {
		if got := listKeys(t, b, "documents/long/"+strings.Repeat("é", 200), "", 0); len(got) != 1 {
			t.Errorf("List of a long-segment prefix = %q, want one key", got)
		}
	}
}

func testInvalidKeys(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/../b", "./a", "a/.", "..", "a\x00b", "a//b", "a/", "bad\xffutf8", strings.Repeat("k", 1025)} {
		if _, err := b.Put(ctx, k, strings.NewReader("x"), PutOptions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q): err = %v, want ErrInvalidKey", k, err)
		}
		if _, _, err := b.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q): err = %v, want ErrInvalidKey", k, err)
		}
	}
	long := lim.longKey(maxKeyLen)
	if len(long) != maxKeyLen {
		t.Fatalf("longKey made %d bytes", len(long))
	}
	put(t, b, long, "1024 bytes is allowed", PutOptions{})
	if body, _ := get(t, b, long); body != "1024 bytes is allowed" {
		t.Errorf("1024-byte key read back %q", body)
	}
}

func testInvalidMetadata(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	for _, md := range []map[string]string{{"Upper": "x"}, {"k": "é"}, {"k": " padded "}, {"": "x"}, {"k": "line\nbreak"}} {
		if _, err := b.Put(ctx, "m", strings.NewReader("x"), PutOptions{Metadata: md}); err == nil {
			t.Errorf("Put with metadata %q succeeded", md)
		}
	}
	if _, err := b.Head(ctx, "m"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rejected Puts stored something: Head err = %v", err)
	}
}

// testSHA256Option: a body that does not match PutOptions.SHA256 is refused
// with ErrIntegrity and leaves nothing behind, whatever way the backend
// sends it (seekable or not, size known or not, one part or several).
func testSHA256Option(t *testing.T, b Bucket, lim backendLimits) {
	ctx := context.Background()
	const big = s3MinPartSize + 1 // more than one part of the S3 tests' uploader
	bigSHA := genSHA256(big, 9)
	bigWant := hex.EncodeToString(bigSHA[:])
	for _, tc := range []struct {
		name string
		body func() io.Reader
		size int64
		sha  string // the option; the body's own hash is the "match" case
	}{
		{"seekable, known size", func() io.Reader { return strings.NewReader("abc") }, 3, shaOf("abd")},
		{"stream, known size", func() io.Reader { return struct{ io.Reader }{strings.NewReader("abc")} }, 3, shaOf("abd")},
		{"stream, unknown size", func() io.Reader { return struct{ io.Reader }{strings.NewReader("abc")} }, -1, shaOf("abd")},
		{"stream, several parts", func() io.Reader { return struct{ io.Reader }{newGenReader(big, 10)} }, big, bigWant},
	} {
		key := "sha/" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
		_, err := b.Put(ctx, key, tc.body(), PutOptions{Size: tc.size, SHA256: tc.sha, IfAbsent: true})
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: Put with another SHA256: err = %v, want ErrIntegrity", tc.name, err)
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: after a refused Put: Head err = %v, want ErrNotFound", tc.name, err)
		}
	}
	// The same bodies with their own hash are stored.
	if _, err := b.Put(ctx, "sha/ok", struct{ io.Reader }{strings.NewReader("abc")}, PutOptions{Size: 3, SHA256: shaOf("abc")}); err != nil {
		t.Errorf("Put with the body's SHA256: %v", err)
	} else if body, _ := get(t, b, "sha/ok"); body != "abc" {
		t.Errorf("read back %q", body)
	}
	if _, err := b.Put(ctx, "sha/big", struct{ io.Reader }{newGenReader(big, 9)}, PutOptions{SHA256: bigWant}); err != nil {
		t.Errorf("Put of several parts with the body's SHA256: %v", err)
	}
	if _, err := b.Put(ctx, "sha/bad", strings.NewReader("abc"), PutOptions{SHA256: "ABC"}); !errors.Is(err, ErrBadSHA256) {
		t.Errorf("Put with SHA256 %q: err = %v, want ErrBadSHA256", "ABC", err)
	}
}
