// Package buckettest holds what tests and benchmarks of several packages
// need around a storage.Bucket.
package buckettest

import (
	"context"
	"io"
	"maps"
	"strings"
	"sync"

	"recevable/storage"
)

// Counting wraps a Bucket and counts its requests by operation and key
// family ("put raw", "get index/done", "put dossiers/…/documents"), so that
// a test can say which records an item costs, and a benchmark report it.
type Counting struct {
	storage.Bucket
	mu sync.Mutex
	n  map[string]int
}

// NewCounting wraps b.
func NewCounting(b storage.Bucket) *Counting { return &Counting{Bucket: b} }

// Family reduces a key to its kind, with hashes, numbers and dates left
// out: "raw", "index/done", "state/counters", "queue/75",
// "dossiers/…/manifest.json", "dossiers/…/documents".
func Family(key string) string {
	parts := strings.Split(key, "/")
	switch parts[0] {
	case "dossiers":
		if strings.HasSuffix(key, "/manifest.json") {
			return "dossiers/…/manifest.json"
		}
		return "dossiers/…/documents"
	case "index", "state", "queue":
		if len(parts) > 1 {
			return parts[0] + "/" + parts[1]
		}
	}
	return parts[0]
}

func (c *Counting) count(op, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op+" "+Family(key)]++
}

// Counts returns the counts so far.
func (c *Counting) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// Take returns the counts so far and starts again from zero.
func (c *Counting) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// Put implements storage.Bucket.
func (c *Counting) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.ETag, error) {
	c.count("put", key)
	return c.Bucket.Put(ctx, key, r, o)
}

// Get implements storage.Bucket.
func (c *Counting) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	c.count("get", key)
	return c.Bucket.Get(ctx, key)
}

// Head implements storage.Bucket.
func (c *Counting) Head(ctx context.Context, key string) (storage.Info, error) {
	c.count("head", key)
	return c.Bucket.Head(ctx, key)
}

// List implements storage.Bucket.
func (c *Counting) List(ctx context.Context, prefix string, o storage.ListOptions) (storage.ListPage, error) {
	c.count("list", prefix)
	return c.Bucket.List(ctx, prefix, o)
}

// Delete implements storage.Bucket.
func (c *Counting) Delete(ctx context.Context, key string) error {
	c.count("delete", key)
	return c.Bucket.Delete(ctx, key)
}

// Copy implements storage.Bucket.
func (c *Counting) Copy(ctx context.Context, src, dst string, o storage.PutOptions) (storage.ETag, error) {
	c.count("copy", dst)
	return c.Bucket.Copy(ctx, src, dst, o)
}
