package storage

// Helpers shared by the tests of the records built on the Bucket (raw,
// dossier, queue, counter, quarantine, audit, lease, cursor).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"recevable/storage/s3test"
)

// recBackend is a Bucket implementation the record tests run on.
type recBackend struct {
	name string
	new  func(t *testing.T) Bucket
}

// recBackends lists the backends for the tests whose guarantees rest on
// conditional writes (counter, lease, dossier update, quarantine attempts):
// the filesystem always, S3 when a server is available (see s3Backend).
func recBackends(t *testing.T) []recBackend {
	bs := []recBackend{{"fs", func(t *testing.T) Bucket { return newRecFS(t) }}}
	if s3 := s3Backend(t); s3 != nil {
		bs = append(bs, *s3)
	}
	return bs
}

// forEachBackend runs fn as a subtest on every backend of recBackends.
func forEachBackend(t *testing.T, fn func(t *testing.T, b Bucket)) {
	for _, be := range recBackends(t) {
		t.Run(be.name, func(t *testing.T) { fn(t, be.new(t)) })
	}
}

func newRecFS(t *testing.T) Bucket {
	t.Helper()
	b, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	return b
}

// together runs fn(0..n-1) in n goroutines released at the same moment and
// returns their errors.
func together(n int, fn func(i int) error) []error {
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

// shaOf is the hex SHA-256 of s.
func shaOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fakeClock is a settable clock for the records that take a Now func.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// faultBucket fails the Puts that failPut picks, after the fact or before:
// with after set, the object is stored and the error returned anyway (a
// reply lost on the way back); without, nothing is stored (a process that
// died before the write).
type faultBucket struct {
	Bucket
	failPut func(key string) bool
	after   bool
}

var errInjected = fmt.Errorf("injected fault")

func (f *faultBucket) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	if f.failPut != nil && f.failPut(key) {
		if f.after {
			if _, err := f.Bucket.Put(ctx, key, r, o); err != nil {
				return "", err
			}
		}
		return "", fmt.Errorf("put %s: %w", key, errInjected)
	}
	return f.Bucket.Put(ctx, key, r, o)
}

// smallPages forces every List to return at most n keys, so that the
// merges and pagers are exercised across page boundaries with few objects.
type smallPages struct {
	Bucket
	n int
}

func (s smallPages) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	if o.Limit == 0 || o.Limit > s.n {
		o.Limit = s.n
	}
	return s.Bucket.List(ctx, prefix, o)
}

// keysUnder lists every key under prefix.
func keysUnder(t *testing.T, b Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	if err := ListAll(context.Background(), b, prefix, func(i Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return keys
}

// readAllString reads r to the end.
func readAllString(r io.Reader) (string, error) {
	var sb strings.Builder
	_, err := io.Copy(&sb, r)
	return sb.String(), err
}

// s3Backend returns the S3 backend (a versitygw on loopback, or the server
// named by RECEVABLE_TEST_S3_ENDPOINT) with one fresh bucket per subtest.
// Without a server it returns nil outside CI, so the test runs on the
// filesystem only; in CI s3test.Start fails the test.
func s3Backend(t *testing.T) *recBackend {
	t.Helper()
	if os.Getenv("RECEVABLE_TEST_S3_ENDPOINT") == "" && s3test.Binary() == "" && os.Getenv("CI") != "true" {
		t.Log("no S3 server (see package s3test): testing on the filesystem only")
		return nil
	}
	srv := s3test.Start(t)
	return &recBackend{"s3", func(t *testing.T) Bucket {
		b, err := NewS3(context.Background(), S3Options{
			Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t, false), PathStyle: true,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, MaxBackoff: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("NewS3: %v", err)
		}
		return b
	}}
}
