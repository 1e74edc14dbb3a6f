package storage

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"recevable/storage/s3test"
)

// viaUploader reports whether a request was sent by the SDK's uploader: it
// marks its requests with the S3 transfer feature ("G") in the User-Agent's
// m/ list (aws/middleware.UserAgentFeatureS3Transfer).
func viaUploader(h http.Header) bool {
	for _, f := range strings.Fields(h.Get("User-Agent")) {
		if list, ok := strings.CutPrefix(f, "m/"); ok {
			return slices.Contains(strings.Split(list, ","), "G")
		}
	}
	return false
}

// TestS3PutPath checks which way each kind of body is sent: one PutObject
// straight from the caller's reader, or the uploader (which copies the body
// into a part buffer first).
func TestS3PutPath(t *testing.T) {
	srv := s3test.Start(t)
	px := newProxy(t, srv.Endpoint)
	b := newTestS3(t, srv, px.URL, srv.Bucket, nil)
	lb := newTestS3(t, srv, px.URL, srv.NewBucket(t, true), nil)
	ctx := context.Background()
	small := strings.Repeat("{}", 512)
	until := time.Now().Add(time.Hour)
	stream := func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }
	for _, tc := range []struct {
		name     string
		bucket   *S3
		body     io.Reader
		o        PutOptions
		direct   bool
		sentHash string // x-amz-content-sha256 of the PutObject
	}{
		{"seekable, known size", b, strings.NewReader(small), PutOptions{Size: 1024}, true, shaOf(small)},
		{"stream with SHA256, known size", b, stream(small), PutOptions{Size: 1024, SHA256: shaOf(small)}, true, shaOf(small)},
		{"seekable with SHA256, IfAbsent", b, strings.NewReader(small), PutOptions{Size: 1024, SHA256: shaOf(small), IfAbsent: true}, true, shaOf(small)},
		{"stream without SHA256", b, stream(small), PutOptions{Size: 1024}, false, shaOf(small)},
		{"unknown size", b, strings.NewReader(small), PutOptions{}, false, shaOf(small)},
		{"larger than a part", b, bytes.NewReader(make([]byte, s3MinPartSize+1)), PutOptions{Size: s3MinPartSize + 1}, false, ""},
		{"retention, seekable", lb, strings.NewReader(small), PutOptions{Size: 1024, RetainUntil: until}, true, shaOf(small)},
		{"retention, stream with SHA256", lb, stream(small), PutOptions{Size: 1024, SHA256: shaOf(small), RetainUntil: until}, false, shaOf(small)},
	} {
		px.setFault(nil)
		key := "path/" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
		if _, err := tc.bucket.Put(ctx, key, tc.body, tc.o); err != nil {
			t.Errorf("%s: Put: %v", tc.name, err)
			continue
		}
		reqs := px.requests()
		if got := viaUploader(reqs[0].header); got == tc.direct {
			t.Errorf("%s: sent by the uploader = %v, want %v", tc.name, got, !tc.direct)
		}
		if tc.sentHash != "" {
			if len(reqs) != 1 || reqs[0].header.Get("X-Amz-Content-Sha256") != tc.sentHash {
				t.Errorf("%s: %d requests, x-amz-content-sha256 %q; want 1, %q", tc.name, len(reqs), reqs[0].header.Get("X-Amz-Content-Sha256"), tc.sentHash)
			}
		}
		if !tc.o.RetainUntil.IsZero() {
			out, err := tc.bucket.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(tc.bucket.bucket), Key: aws.String(key)})
			if err != nil || out.ObjectLockMode != types.ObjectLockModeCompliance {
				t.Errorf("%s: lock %v, err %v; want COMPLIANCE", tc.name, out, err)
			}
		}
	}
}

// TestS3PutDirectAllocates: the point of the direct path is not to copy
// the body: the uploader reads it whole into a buffer it grows as it goes
// (about 2 MiB allocated for a 1 MiB body).
func TestS3PutDirectAllocates(t *testing.T) {
	srv := s3test.Start(t)
	b := newTestS3(t, srv, srv.Endpoint, srv.Bucket, nil)
	ctx := context.Background()
	body := bytes.Repeat([]byte("{}"), 512<<10)
	sha, size := shaOf(string(body)), int64(len(body))
	const n = 5
	putAll := func() {
		for range n {
			for _, o := range []PutOptions{{Size: size, SHA256: sha}, {Size: size}} {
				if _, err := b.Put(ctx, "alloc", bytes.NewReader(body), o); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	putAll() // warm the connection pool, the SDK's caches and the buffer pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	putAll()
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / (2 * n); per > uint64(size/4) {
		t.Errorf("a 1 MiB Put allocates %d bytes, want < %d (the body is not copied)", per, size/4)
	}
}

// TestS3PutServerChecksSHA256: with o.SHA256 and a body sent directly, the
// server compares the body with the signed x-amz-content-sha256 and refuses
// it. The bodies here are plain readers: nothing in this process checks
// them, only the server can (AWS does; versitygw v1.8.0 does too).
func TestS3PutServerChecksSHA256(t *testing.T) {
	srv := s3test.Start(t)
	b := newTestS3(t, srv, srv.Endpoint, srv.Bucket, nil)
	ctx := context.Background()
	big := bytes.Repeat([]byte("recevable "), 100<<10)
	for _, tc := range []struct {
		name string
		body []byte
	}{{"small", []byte("abc")}, {"1 MB", big}} {
		other := shaOf(string(tc.body) + "x")
		key := "server-sha/" + strings.ReplaceAll(tc.name, " ", "")
		_, err := b.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(tc.body)}, PutOptions{Size: int64(len(tc.body)), SHA256: other})
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: Put with another SHA256: err = %v, want ErrIntegrity", tc.name, err)
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: after a refused Put: Head err = %v, want ErrNotFound", tc.name, err)
		}
	}
}

// TestS3PutVerifiedStoresNothing streams a body whose hash is not the
// recorded one through a VerifyingReader, as putVerified does, into one
// PutObject with a Content-Length.
//
// Without o.SHA256 and with the request signed UNSIGNED-PAYLOAD (the SDK's
// default over HTTPS), only the reader stands in the way: it must withhold
// the last chunk, or the server receives every announced byte and commits
// the object. The server is fronted by one that forwards a request only when
// its whole body arrived, the rule of AWS S3 (versitygw v1.8.0 does not
// wait for Content-Length: it commits an unsigned body cut short, which is
// why the direct path always signs the payload hash).
//
// With o.SHA256 the server also compares the body with it.
func TestS3PutVerifiedStoresNothing(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	good := bytes.Repeat([]byte("dossier "), 64<<10) // 512 KiB
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1 // only the last chunk shows it
	sha, size := shaOf(string(good)), int64(len(good))

	t.Run("without SHA256", func(t *testing.T) {
		front, puts := newCompleteOnly(t, srv.Endpoint)
		b := newTestS3(t, srv, front, srv.Bucket, func(o *S3Options) { o.MaxRetries = -1 })
		_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(b.bucket), Key: aws.String("unsigned"),
			Body: NewVerifyingReader(bytes.NewReader(bad), sha, size), ContentLength: aws.Int64(size),
		}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("PutObject of a corrupted body: err = %v, want ErrIntegrity", err)
		}
		// The client returns as soon as its body fails; the front may still
		// be forwarding what it received.
		if whole := <-puts; whole {
			t.Errorf("the server received every announced byte of a corrupted body")
		}
		if _, err := b.Head(ctx, "unsigned"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after a corrupted PutObject: Head err = %v, want ErrNotFound", err)
		}
	})

	t.Run("with SHA256", func(t *testing.T) {
		px := newProxy(t, srv.Endpoint)
		b := newTestS3(t, srv, px.URL, srv.Bucket, nil)
		for _, tc := range []struct {
			name string
			body io.Reader
		}{{"stream", struct{ io.Reader }{bytes.NewReader(bad)}}, {"seekable", bytes.NewReader(bad)}} {
			px.setFault(nil)
			_, err := putVerified(ctx, b, "verified-"+tc.name, tc.body, sha, size, PutOptions{Size: size, IfAbsent: true})
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("%s: putVerified of a corrupted body: err = %v, want ErrIntegrity", tc.name, err)
			}
			if _, err := b.Head(ctx, "verified-"+tc.name); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: after a corrupted putVerified: Head err = %v, want ErrNotFound", tc.name, err)
			}
			// A corrupted body is not the network's fault: not retried.
			if n := len(px.requests()); n != 2 { // the PUT, then the Head above
				t.Errorf("%s: %d requests, want the PUT once and the Head", tc.name, n)
			}
		}
	})
}

// newCompleteOnly starts an HTTP front for the S3 server at target that
// forwards a request only once its whole body arrived. For each PUT it has
// dealt with, forwarded or not, it sends on the channel whether the body
// arrived whole. It forwards a whole body even when the client hangs up
// right after sending it, as a server commits it.
func newCompleteOnly(t *testing.T, target string) (string, <-chan bool) {
	t.Helper()
	puts := make(chan bool, 10)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if r.Method == http.MethodPut {
			defer func() { puts <- err == nil }()
		}
		if err != nil {
			http.Error(w, "body cut short", http.StatusBadRequest)
			return
		}
		out, err := http.NewRequestWithContext(context.Background(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		out.Host = r.Host // the Host header is signed
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(hs.Close)
	return hs.URL, puts
}

// TestS3PutHTTPSSignsPayload: over HTTPS the SDK signs PutObject with
// UNSIGNED-PAYLOAD; a body sent directly is signed with its hash all the
// same, so that the server refuses one that is cut short or not the
// announced one. The S3 server sits behind a TLS front trusted through
// AWS_CA_BUNDLE, the way CI configures the SDK.
func TestS3PutHTTPSSignsPayload(t *testing.T) {
	srv := s3test.Start(t)
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sent []string // x-amz-content-sha256 of each PUT
	front := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if r.In.Method == http.MethodPut {
			mu.Lock()
			sent = append(sent, r.In.Header.Get("X-Amz-Content-Sha256"))
			mu.Unlock()
		}
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(front.Close)
	ca := filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", ca)
	b := newTestS3(t, srv, front.URL, srv.Bucket, nil)
	ctx := context.Background()
	body := strings.Repeat("{}", 512)
	for _, tc := range []struct {
		name string
		r    io.Reader
		o    PutOptions
	}{
		{"seekable", strings.NewReader(body), PutOptions{Size: 1024}},
		{"stream with SHA256", struct{ io.Reader }{strings.NewReader(body)}, PutOptions{Size: 1024, SHA256: shaOf(body)}},
	} {
		mu.Lock()
		sent = nil
		mu.Unlock()
		if _, err := b.Put(ctx, "https", tc.r, tc.o); err != nil {
			t.Fatalf("%s: Put over HTTPS: %v", tc.name, err)
		}
		mu.Lock()
		if len(sent) != 1 || sent[0] != shaOf(body) {
			t.Errorf("%s: x-amz-content-sha256 %q, want [%s]", tc.name, sent, shaOf(body))
		}
		mu.Unlock()
	}
	_, err = b.Put(ctx, "https-bad", struct{ io.Reader }{strings.NewReader(body)}, PutOptions{Size: 1024, SHA256: shaOf(body + "x")})
	if !errors.Is(err, ErrIntegrity) {
		t.Errorf("Put over HTTPS with another SHA256: err = %v, want ErrIntegrity", err)
	}
	if _, err := b.Head(ctx, "https-bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a refused Put: Head err = %v, want ErrNotFound", err)
	}
}

// TestS3PutVerifiedRetries: a seekable body sent directly is rewound and
// sent again after a 503, and verified again on that second pass.
func TestS3PutVerifiedRetries(t *testing.T) {
	srv := s3test.Start(t)
	px := newProxy(t, srv.Endpoint)
	b := newTestS3(t, srv, px.URL, srv.Bucket, nil)
	ctx := context.Background()
	body := bytes.Repeat([]byte("pièce "), 10<<10)
	sha, size := shaOf(string(body)), int64(len(body))
	px.setFault(failFirst(1, http.StatusServiceUnavailable, "SlowDown"))
	if _, err := putVerified(ctx, b, "retried", bytes.NewReader(body), sha, size, PutOptions{Size: size, IfAbsent: true}); err != nil {
		t.Fatalf("putVerified after a 503: %v", err)
	}
	if n := len(px.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one throttled, one served)", n)
	}
	if got, _ := get(t, b, "retried"); got != string(body) {
		t.Errorf("read back %d bytes, want %d", len(got), len(body))
	}
}

// TestS3PutSizeChecked: a body longer or shorter than o.Size is refused
// before the server has every announced byte, on both paths.
func TestS3PutSizeChecked(t *testing.T) {
	srv := s3test.Start(t)
	b := newTestS3(t, srv, srv.Endpoint, srv.Bucket, nil)
	ctx := context.Background()
	body := strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		name string
		body io.Reader
		size int64
		sha  string
	}{
		{"seekable, one byte more", strings.NewReader(body + "y"), int64(len(body)), ""},
		{"seekable, one byte less", strings.NewReader(body[1:]), int64(len(body)), ""},
		// The hash of the announced bytes is right: only the size check can
		// tell that the body goes on.
		{"stream with SHA256, one byte more", struct{ io.Reader }{strings.NewReader(body + "y")}, int64(len(body)), shaOf(body)},
		{"seekable with SHA256, one byte more", strings.NewReader(body + "y"), int64(len(body)), shaOf(body)},
		{"stream, one byte more", struct{ io.Reader }{strings.NewReader(body + "y")}, int64(len(body)), ""},
	} {
		key := "size/" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
		if _, err := b.Put(ctx, key, tc.body, PutOptions{Size: tc.size, SHA256: tc.sha}); err == nil {
			t.Errorf("%s: Put succeeded", tc.name)
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: after a refused Put: Head err = %v, want ErrNotFound", tc.name, err)
		}
	}
}

// TestSizedReaderWithholds: net/http sends exactly Content-Length bytes of
// a body, then reads on to check that it ended. The sizedReader must fail
// before the last announced byte is handed over when the body goes on, or
// when it ends in a way only the end of the stream shows (a VerifyingReader
// of unknown size compares the hash at EOF).
func TestSizedReaderWithholds(t *testing.T) {
	body := strings.Repeat("recevable ", 100)
	size := int64(len(body))
	corrupt := []byte(body)
	corrupt[0] ^= 1
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"one byte more", func() io.Reader { return strings.NewReader(body + "x") }},
		{"hash checked at EOF", func() io.Reader { return NewVerifyingReader(bytes.NewReader(corrupt), shaOf(body), -1) }},
		{"source fails at the end", func() io.Reader {
			return io.MultiReader(strings.NewReader(body), iotest.ErrReader(errInjected))
		}},
	} {
		for _, chunk := range []int{1, 7, 4096} {
			var sent bytes.Buffer
			_, err := io.CopyBuffer(&sent, io.LimitReader(&sizedReader{r: tc.r(), want: size}, size), make([]byte, chunk))
			var be *bodyError
			if !errors.As(err, &be) || sent.Len() >= int(size) {
				t.Errorf("%s, %d-byte reads: handed over %d of %d bytes, err %v; want fewer and a body error", tc.name, chunk, sent.Len(), size, err)
			}
		}
	}
	// An intact body of the announced size ends with io.EOF with its bytes.
	var sent bytes.Buffer
	if _, err := io.Copy(&sent, &sizedReader{r: strings.NewReader(body), want: size}); err != nil || sent.String() != body {
		t.Errorf("intact body: handed over %d bytes, err %v", sent.Len(), err)
	}
}

// TestS3ReusesConnections: concurrent requests of every kind, including
// the answers that are errors (404, 412), leave their connection in the
// pool for the next request: new connections stay near the concurrency.
// The client talks to a Go HTTP server in front of the S3 server, which
// keeps connections alive whatever the S3 server does.
func TestS3ReusesConnections(t *testing.T) {
	srv := s3test.Start(t)
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	front := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}})
	front.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	front.Start()
	t.Cleanup(front.Close)
	b := newTestS3(t, srv, front.URL, srv.Bucket, nil)
	ctx := context.Background()
	put(t, b, "taken", "{}", PutOptions{})
	const workers, rounds = 32, 5
	ops := []func(w int) error{
		func(w int) error { // new record
			_, err := b.Put(ctx, "rec/"+string(rune('a'+w)), strings.NewReader("{}"), PutOptions{Size: 2})
			return err
		},
		func(int) error { // lost create: 412
			_, err := b.Put(ctx, "taken", strings.NewReader("{}"), PutOptions{Size: 2, IfAbsent: true})
			return ignore(err, ErrExists)
		},
		func(int) error { // 404 to a HEAD
			_, err := b.Head(ctx, "missing")
			return ignore(err, ErrNotFound)
		},
		func(int) error { // 404 with an XML body
			_, _, err := b.Get(ctx, "missing")
			return ignore(err, ErrNotFound)
		},
		func(int) error {
			_, err := getJSON(ctx, b, "taken", new(map[string]any))
			return err
		},
		func(int) error {
			_, err := b.List(ctx, "rec/", ListOptions{Limit: 2})
			return err
		},
	}
	// One request per worker first, all in flight together, opens the
	// connections the rest must reuse.
	var start sync.WaitGroup
	start.Add(workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			start.Done()
			start.Wait()
			for range rounds {
				for _, op := range ops {
					if err := op(w); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	// A goroutine may ask for a connection while the one it just used is
	// still on its way back to the pool (net/http returns it after the
	// caller saw the end of the body): a few extra dials are normal. A
	// pool smaller than the concurrency dials several times as many.
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d requests from %d goroutines opened %d connections, want at most %d", workers*rounds*len(ops), workers, n, 2*workers)
	}
}

// ignore returns nil when err is target, err otherwise.
func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}
