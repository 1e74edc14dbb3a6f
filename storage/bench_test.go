package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

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

// newBenchS3 opens bucket on srv the way production does (default part
// size and concurrency).
func newBenchS3(b *testing.B, srv *s3test.Server, bucket string) *S3 {
	b.Helper()
	bk, err := NewS3(context.Background(), S3Options{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		b.Fatal(err)
	}
	return bk
}

// putPaths runs fn once sending bodies of known size directly, once through
// the uploader as every Put did before, so that the two compare.
func putPaths(b *testing.B, fn func(b *testing.B, bk *S3)) {
	srv := s3test.Start(b)
	for _, path := range []struct {
		name     string
		uploader bool
	}{{"direct", false}, {"uploader", true}} {
		b.Run(path.name, func(b *testing.B) {
			// A fresh bucket per run: the keys are created IfAbsent.
			bk := newBenchS3(b, srv, srv.NewBucket(b, false))
			bk.uploadAlways = path.uploader
			fn(b, bk)
		})
	}
}

// processCPU returns the CPU time (user and system) this process has used.
// It leaves out the S3 server's time: the two share the machine, and wall
// time mixes them.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs put in a b.Loop and reports this process's CPU per Put as
// cpu-ns/op.
func loopCPU(b *testing.B, put func(i int)) {
	start := processCPU()
	n := 0
	for ; b.Loop(); n++ {
		put(n)
	}
	b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
}

// BenchmarkS3PutSmall creates 1 KiB JSON records with IfAbsent, as the
// pipeline writes markers, index entries and manifests (PutJSON: a
// bytes.Reader of known size).
func BenchmarkS3PutSmall(b *testing.B) {
	rec, err := encodeJSON(map[string]string{"raw": strings.Repeat("0123456789abcdef", 60)})
	if err != nil {
		b.Fatal(err)
	}
	rec = rec[:1024]
	putPaths(b, func(b *testing.B, bk *S3) {
		ctx := context.Background()
		b.ReportAllocs()
		b.SetBytes(int64(len(rec)))
		loopCPU(b, func(i int) {
			o := PutOptions{IfAbsent: true, Size: int64(len(rec)), ContentType: "application/json"}
			if _, err := bk.Put(ctx, fmt.Sprintf("index/%d", i), bytes.NewReader(rec), o); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkS3PutKnownSize puts 1 MiB bodies of known size, with their
// SHA-256 given (raw originals and documents) and without.
func BenchmarkS3PutKnownSize(b *testing.B) {
	const size = 1 << 20
	body, err := io.ReadAll(newGenReader(size, 5))
	if err != nil {
		b.Fatal(err)
	}
	sha := shaOf(string(body))
	for _, tc := range []struct {
		name string
		sha  string
	}{{"sha256", sha}, {"no-sha256", ""}} {
		b.Run(tc.name, func(b *testing.B) {
			putPaths(b, func(b *testing.B, bk *S3) {
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(size)
				loopCPU(b, func(i int) {
					o := PutOptions{IfAbsent: true, Size: size, SHA256: tc.sha}
					if _, err := bk.Put(ctx, fmt.Sprintf("raw/%d", i), bytes.NewReader(body), o); err != nil {
						b.Fatal(err)
					}
				})
			})
		})
	}
}
