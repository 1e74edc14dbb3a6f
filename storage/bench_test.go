package storage

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"recevable/storage/s3test"
)

// BenchmarkFSPut50MB streams a 50 MB body into the filesystem bucket. The
// allocated bytes per op must stay far below 50 MB: the body is never held.
func BenchmarkFSPut50MB(b *testing.B) {
	const size = 50 << 20
	bk, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		_, err := bk.Put(ctx, fmt.Sprintf("raw/%d", i%2), struct{ io.Reader }{newGenReader(size, uint64(i))}, PutOptions{Size: size})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFSListQueuePage lists one page of 50 out of a queue of 50,000
// markers, from the middle (the web UI paging through a queue).
func BenchmarkFSListQueuePage(b *testing.B) {
	const n = 50000
	bk, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bk.noSync = true
	ctx := context.Background()
	key := func(i int) string { return fmt.Sprintf("queue/site/recu/2025-11-26T08:%06d-%05d", i, i) }
	for i := range n {
		if _, err := bk.Put(ctx, key(i), strings.NewReader(""), PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		page, err := bk.List(ctx, "queue/site/recu/", ListOptions{StartAfter: key(n / 2), Limit: 50})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Objects) != 50 || page.Objects[0].Key != key(n/2+1) {
			b.Fatalf("page starts at %q, %d objects", page.Objects[0].Key, len(page.Objects))
		}
	}
}

// BenchmarkS3Put50MB streams 50 MB of unknown size to versitygw as a
// multipart upload. Memory held is bounded by PartSize × (Concurrency+2);
// allocated bytes per op are about that much more, because the SDK's
// uploader releases its part buffers at the end of each upload.
func BenchmarkS3Put50MB(b *testing.B) {
	const size = 50 << 20
	srv := s3test.Start(b)
	bk, err := NewS3(context.Background(), S3Options{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		if _, err := bk.Put(ctx, fmt.Sprintf("raw/%d", i%2), struct{ io.Reader }{newGenReader(size, uint64(i))}, PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
