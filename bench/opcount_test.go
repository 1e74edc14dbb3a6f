package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"recevable/storage"
)

// countingBucket counts the calls made to a bucket by operation and key
// family (the first two segments of the key, sha256 and numbers left out:
// "put raw", "get index/done", "put dossiers/<site>"), so that the
// diagnostic run can say which records cost the requests of one item.
type countingBucket struct {
	storage.Bucket
	mu sync.Mutex
	n  map[string]int
}

func newCountingBucket(b storage.Bucket) *countingBucket {
	return &countingBucket{Bucket: b, n: map[string]int{}}
}

// family reduces a key to its kind: "raw", "index/done", "dossiers/…/manifest.json".
func family(key string) string {
	parts := strings.Split(key, "/")
	switch parts[0] {
	case "dossiers":
		if len(parts) > 0 && strings.HasSuffix(key, "manifest.json") {
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

func (c *countingBucket) count(op, key string) {
	c.mu.Lock()
	c.n[op+" "+family(key)]++
	c.mu.Unlock()
}

func (c *countingBucket) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.ETag, error) {
	c.count("put", key)
	return c.Bucket.Put(ctx, key, r, o)
}

func (c *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	c.count("get", key)
	return c.Bucket.Get(ctx, key)
}

func (c *countingBucket) Head(ctx context.Context, key string) (storage.Info, error) {
	c.count("head", key)
	return c.Bucket.Head(ctx, key)
}

func (c *countingBucket) List(ctx context.Context, prefix string, o storage.ListOptions) (storage.ListPage, error) {
	c.count("list", prefix)
	return c.Bucket.List(ctx, prefix, o)
}

func (c *countingBucket) Delete(ctx context.Context, key string) error {
	c.count("delete", key)
	return c.Bucket.Delete(ctx, key)
}

func (c *countingBucket) Copy(ctx context.Context, src, dst string, o storage.PutOptions) (storage.ETag, error) {
	c.count("copy", dst)
	return c.Bucket.Copy(ctx, src, dst, o)
}

// report lists the counts per item, most frequent first.
func (c *countingBucket) report(items int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	total := 0
	for k, n := range c.n {
		all = append(all, kv{k, n})
		total += n
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var b strings.Builder
	fmt.Fprintf(&b, "bucket requests per item: %.1f in all\n", float64(total)/float64(items))
	for _, e := range all {
		fmt.Fprintf(&b, "  %-36s %5.2f\n", e.k, float64(e.n)/float64(items))
	}
	return b.String()
}
