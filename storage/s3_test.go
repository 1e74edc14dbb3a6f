package storage

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"recevable/storage/s3test"
)

// newTestS3 opens bucket on srv through endpoint (srv's own, or a proxy's).
func newTestS3(t *testing.T, srv *s3test.Server, endpoint, bucket string, edit func(*S3Options)) *S3 {
	t.Helper()
	o := S3Options{
		Endpoint: endpoint, Region: srv.Region, Bucket: bucket, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		PartSize: s3MinPartSize, MaxBackoff: 10 * time.Millisecond,
	}
	if edit != nil {
		edit(&o)
	}
	b, err := NewS3(context.Background(), o)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return b
}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	lim := backendLimits{}
	if srv.Versitygw {
		lim = backendLimits{noParentObjects: true, maxSegment: 255}
	}
	runConformance(t, lim, func(t *testing.T) Bucket {
		return newTestS3(t, srv, srv.Endpoint, srv.NewBucket(t, false), nil)
	})
}

// TestS3CABundle: CI sets AWS_CA_BUNDLE, with which LoadDefaultConfig rejects
// a plain *http.Client. NewS3 must work with it set.
func TestS3CABundle(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("AWS_CA_BUNDLE", writeTestCA(t))
	// The trap exists: a plain client is refused with this variable set.
	if _, err := config.LoadDefaultConfig(context.Background(), config.WithHTTPClient(&http.Client{})); err == nil {
		t.Logf("note: this SDK version accepts a plain *http.Client with AWS_CA_BUNDLE set")
	}
	b := newTestS3(t, srv, srv.Endpoint, srv.Bucket, nil)
	put(t, b, "k", "with a CA bundle", PutOptions{})
	if body, _ := get(t, b, "k"); body != "with a CA bundle" {
		t.Errorf("read back %q", body)
	}
}

// writeTestCA writes a self-signed CA certificate (PEM) for AWS_CA_BUNDLE.
func writeTestCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "recevable test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// proxy sits between the client and the real server: it records request
// headers and can answer in the server's place to inject faults.
type proxy struct {
	URL string
	mu  sync.Mutex
	// fault, if set, may answer a request instead of the server.
	fault func(r *http.Request) (status int, code string, inject bool)
	seen  []recorded
}

type recorded struct {
	method, query string
	header        http.Header
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the Host header is signed
	}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, recorded{r.Method, r.URL.RawQuery, r.Header.Clone()})
		fault := p.fault
		p.mu.Unlock()
		if fault != nil {
			if status, code, inject := fault(r); inject {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

func (p *proxy) requests() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.seen...)
}

func (p *proxy) setFault(f func(r *http.Request) (int, string, bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.seen = f, nil
}

// failFirst injects status/code on the first n requests.
func failFirst(n int, status int, code string) func(*http.Request) (int, string, bool) {
	var mu sync.Mutex
	return func(*http.Request) (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		n--
		return status, code, n >= 0
	}
}

func TestS3Retries(t *testing.T) {
	srv := s3test.Start(t)
	px := newProxy(t, srv.Endpoint)
	ctx := context.Background()

	b := newTestS3(t, srv, px.URL, srv.Bucket, func(o *S3Options) { o.MaxRetries = 3 })
	px.setFault(failFirst(2, http.StatusServiceUnavailable, "SlowDown"))
	put(t, b, "k", "after two 503s", PutOptions{})
	if n := len(px.requests()); n != 3 {
		t.Errorf("Put took %d requests, want 3 (two throttled, one served)", n)
	}
	// The same, sent directly rather than through the uploader.
	px.setFault(failFirst(2, http.StatusServiceUnavailable, "SlowDown"))
	put(t, b, "k-direct", "after two 503s", PutOptions{Size: 14})
	if n := len(px.requests()); n != 3 {
		t.Errorf("direct Put took %d requests, want 3 (two throttled, one served)", n)
	}
	if body, _ := get(t, b, "k-direct"); body != "after two 503s" {
		t.Errorf("direct Put after two 503s stored %q", body)
	}
	px.setFault(failFirst(3, http.StatusInternalServerError, "InternalError"))
	if body, _ := get(t, b, "k"); body != "after two 503s" {
		t.Errorf("Get after three 500s read %q", body)
	}

	// Retries are capped: with none allowed, the first 503 is the answer.
	nb := newTestS3(t, srv, px.URL, srv.Bucket, func(o *S3Options) { o.MaxRetries = -1 })
	px.setFault(failFirst(1, http.StatusServiceUnavailable, "SlowDown"))
	if _, err := nb.Put(ctx, "k2", strings.NewReader("x"), PutOptions{}); err == nil {
		t.Errorf("Put with retries disabled survived a 503")
	}
	if n := len(px.requests()); n != 1 {
		t.Errorf("Put with retries disabled sent %d requests, want 1", n)
	}
	// A conflict is an answer, not a fault: never retried.
	for _, size := range []int64{0, 1} { // the uploader, then directly
		px.setFault(failFirst(1, http.StatusPreconditionFailed, "PreconditionFailed"))
		if _, err := b.Put(ctx, "k3", strings.NewReader("x"), PutOptions{IfAbsent: true, Size: size}); !errors.Is(err, ErrExists) {
			t.Errorf("412 on IfAbsent (Size %d): err = %v, want ErrExists", size, err)
		}
		if n := len(px.requests()); n != 1 {
			t.Errorf("412 was retried (Size %d): %d requests", size, n)
		}
	}
}

// TestS3ConditionalConflict: AWS answers 409 ConditionalRequestConflict when
// conditional writes on one key overlap; callers must see a conflict.
func TestS3ConditionalConflict(t *testing.T) {
	srv := s3test.Start(t)
	px := newProxy(t, srv.Endpoint)
	b := newTestS3(t, srv, px.URL, srv.Bucket, func(o *S3Options) { o.MaxRetries = -1 })
	etag := put(t, b, "k", "v1", PutOptions{})
	px.setFault(failFirst(1, http.StatusConflict, "ConditionalRequestConflict"))
	_, err := b.Put(context.Background(), "k", strings.NewReader("v2"), PutOptions{IfMatch: etag})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("409 on IfMatch: err = %v, want ErrPreconditionFailed", err)
	}
	for _, size := range []int64{0, 1} { // the uploader, then directly
		px.setFault(failFirst(1, http.StatusConflict, "ConditionalRequestConflict"))
		_, err = b.Put(context.Background(), "new", strings.NewReader("v"), PutOptions{IfAbsent: true, Size: size})
		if !errors.Is(err, ErrExists) {
			t.Errorf("409 on IfAbsent (Size %d): err = %v, want ErrExists", size, err)
		}
	}
	px.setFault(failFirst(1, http.StatusConflict, "ConditionalRequestConflict"))
	_, err = b.Put(context.Background(), "k", strings.NewReader("v3"), PutOptions{IfMatch: etag, Size: 2})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("409 on IfMatch, sent directly: err = %v, want ErrPreconditionFailed", err)
	}
}

// TestS3SSEHeaders checks the encryption headers on the wire. versitygw
// v1.8.0 accepts and ignores them, so the round trip proves only that the
// requests are well formed; a server with SSE would encrypt.
func TestS3SSEHeaders(t *testing.T) {
	srv := s3test.Start(t)
	px := newProxy(t, srv.Endpoint)
	ctx := context.Background()

	t.Run("AES256", func(t *testing.T) {
		b := newTestS3(t, srv, px.URL, srv.Bucket, func(o *S3Options) { o.SSE = "AES256" })
		for _, o := range []PutOptions{{}, {Size: 1}} { // the uploader, then directly
			px.setFault(nil)
			put(t, b, "sse-s3", "x", o)
			reqs := px.requests()
			if len(reqs) != 1 || reqs[0].header.Get("X-Amz-Server-Side-Encryption") != "AES256" {
				t.Errorf("PutObject headers (Size %d): %v", o.Size, reqs)
			}
		}
	})

	t.Run("SSE-C", func(t *testing.T) {
		key := []byte("0123456789abcdef0123456789abcdef")
		b := newTestS3(t, srv, px.URL, srv.Bucket, func(o *S3Options) { o.SSE, o.SSECustomerKey = "SSE-C", key })
		px.setFault(nil)
		put(t, b, "sse-c", "small", PutOptions{})
		put(t, b, "sse-c-direct", "sent directly", PutOptions{Size: 13})
		put(t, b, "sse-c-hashed", "sent directly", PutOptions{Size: 13, SHA256: shaOf("sent directly")})
		if _, err := b.Put(ctx, "sse-c-big", struct{ io.Reader }{newGenReader(s3MinPartSize+1, 7)}, PutOptions{}); err != nil {
			t.Fatalf("multipart Put: %v", err)
		}
		get(t, b, "sse-c")
		if _, err := b.Head(ctx, "sse-c"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Copy(ctx, "sse-c", "sse-c-copy", PutOptions{}); err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, r := range px.requests() {
			op := r.method + " " + r.query
			ops = append(ops, op)
			if r.method == http.MethodPost && !strings.HasPrefix(r.query, "uploads") {
				continue // CompleteMultipartUpload: SSE-C headers optional
			}
			if r.header.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "AES256" ||
				r.header.Get("X-Amz-Server-Side-Encryption-Customer-Key") == "" ||
				r.header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") == "" {
				t.Errorf("%s without SSE-C headers", op)
			}
			if r.header.Get("X-Amz-Copy-Source") != "" && r.header.Get("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key") == "" {
				t.Errorf("CopyObject without the source's SSE-C key")
			}
		}
		if len(ops) < 9 { // 3 puts, create+2 parts+complete, get, head, copy
			t.Errorf("requests seen: %q", ops)
		}
	})

	if _, err := NewS3(ctx, S3Options{Bucket: "b", SSE: "SSE-C", SSECustomerKey: []byte("short")}); err == nil {
		t.Errorf("NewS3 accepted a 5-byte SSE-C key")
	}
}

func TestS3ObjectLock(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t, true)
	b := newTestS3(t, srv, srv.Endpoint, bucket, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	put(t, b, "raw/locked", "evidence", PutOptions{RetainUntil: until})
	if _, err := b.Put(ctx, "raw/locked-big", struct{ io.Reader }{newGenReader(s3MinPartSize+10, 3)}, PutOptions{RetainUntil: until}); err != nil {
		t.Fatalf("multipart Put with retention: %v", err)
	}
	for _, k := range []string{"raw/locked", "raw/locked-big"} {
		out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if out.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(out.ObjectLockRetainUntilDate).Equal(until) {
			t.Errorf("%s: lock %q until %v, want COMPLIANCE until %v", k, out.ObjectLockMode, aws.ToTime(out.ObjectLockRetainUntilDate), until)
		}
		if err := b.Delete(ctx, k); err == nil {
			t.Errorf("%s: Delete of an object under retention succeeded", k)
		}
	}
}

// TestS3CopyConditionsOnServer records what the server does with
// If-None-Match on CopyObject, which decides S3Options.ConditionalCopy:
// versitygw v1.8.0 ignores it (the copy overwrites), AWS S3 honours it.
func TestS3CopyConditionsOnServer(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	b := newTestS3(t, srv, srv.Endpoint, srv.Bucket, func(o *S3Options) { o.ConditionalCopy = true })
	put(t, b, "src", "new", PutOptions{})
	put(t, b, "dst", "old", PutOptions{})
	_, err := b.Copy(ctx, "src", "dst", PutOptions{IfAbsent: true})
	body, _ := get(t, b, "dst")
	switch {
	case srv.Versitygw && (err != nil || body != "new"):
		t.Errorf("versitygw now honours If-None-Match on CopyObject (err %v): ConditionalCopy can be set for it", err)
	case !srv.Versitygw && (!errors.Is(err, ErrExists) || body != "old"):
		t.Errorf("server ignores If-None-Match on CopyObject (err %v, dst %q): leave ConditionalCopy false", err, body)
	}
	// The default streams through a conditional Put and is always right.
	fb := newTestS3(t, srv, srv.Endpoint, srv.Bucket, nil)
	put(t, fb, "dst", "old", PutOptions{})
	if _, err := fb.Copy(ctx, "src", "dst", PutOptions{IfAbsent: true}); !errors.Is(err, ErrExists) {
		t.Errorf("fallback Copy IfAbsent onto a taken key: err = %v, want ErrExists", err)
	}
	if body, _ := get(t, fb, "dst"); body != "old" {
		t.Errorf("fallback Copy IfAbsent overwrote: %q", body)
	}
}
