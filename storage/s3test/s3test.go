// Package s3test gives tests a real S3 server: the one named by
// RECEVABLE_TEST_S3_ENDPOINT, or a versitygw started on loopback with its
// posix backend in a temporary directory. It owns nothing else; it does not
// import storage, so storage's own tests can use it.
//
// Where the server comes from, in order:
//
//  1. RECEVABLE_TEST_S3_ENDPOINT (+ RECEVABLE_TEST_S3_ACCESS_KEY,
//     RECEVABLE_TEST_S3_SECRET_KEY, optional RECEVABLE_TEST_S3_REGION): an
//     existing server; each test gets its own fresh bucket there. Set
//     RECEVABLE_TEST_S3_KIND=versitygw when it is a versitygw (as .ci/run
//     does), so that the tests expect its known limitations.
//  2. the versitygw binary named by RECEVABLE_VERSITYGW, found on $PATH, or
//     built in ~/.cache/recevable/versitygw-v1.8.0/versitygw by
//     GOBIN=~/.cache/recevable/versitygw-v1.8.0 go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
//
// With neither, the test fails when CI=true and is skipped otherwise.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersitygwVersion is the versitygw release the tests are written against.
const VersitygwVersion = "v1.8.0"

// Server is an S3 endpoint ready for a test, with one fresh bucket.
type Server struct {
	Endpoint  string // base URL, path-style addressing
	Region    string
	AccessKey string
	SecretKey string
	// Bucket is empty and belongs to the test that called Start.
	Bucket string
	// Versitygw is true when the server is a versitygw, started by Start
	// or named so by RECEVABLE_TEST_S3_KIND (tests use it to expect that
	// server's known limitations).
	Versitygw bool

	client *s3.Client
}

// Start returns a server for t and a fresh bucket on it. Everything it
// started or created is removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	var s *Server
	if ep := os.Getenv("RECEVABLE_TEST_S3_ENDPOINT"); ep != "" {
		s = &Server{
			Endpoint:  ep,
			Region:    envOr("RECEVABLE_TEST_S3_REGION", "us-east-1"),
			AccessKey: os.Getenv("RECEVABLE_TEST_S3_ACCESS_KEY"),
			SecretKey: os.Getenv("RECEVABLE_TEST_S3_SECRET_KEY"),
			Versitygw: os.Getenv("RECEVABLE_TEST_S3_KIND") == "versitygw",
		}
	} else {
		s = startVersitygw(t)
	}
	s.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	s.Bucket = s.NewBucket(t, false)
	return s
}

// NewBucket creates another empty bucket for t, with S3 Object Lock enabled
// when objectLock is true, and removes it (and what it holds) when t ends.
func (s *Server) NewBucket(t testing.TB, objectLock bool) string {
	t.Helper()
	name := "recevable-test-" + randomHex(8)
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("s3test: create bucket %s on %s: %v", name, s.Endpoint, err)
	}
	t.Cleanup(func() { s.removeBucket(name) })
	return name
}

// removeBucket empties and deletes a bucket, best effort: objects under a
// retention cannot be deleted, and a versitygw's directory goes anyway.
func (s *Server) removeBucket(name string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, o := range page.Contents {
			s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key})
		}
	}
	s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
}

// Binary returns the path of the versitygw binary, or "" if there is none.
func Binary() string {
	if p := os.Getenv("RECEVABLE_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "recevable", "versitygw-"+VersitygwVersion, "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func startVersitygw(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "s3test: no S3 server: set RECEVABLE_TEST_S3_ENDPOINT, or install versitygw with " +
			"GOBIN=~/.cache/recevable/versitygw-" + VersitygwVersion +
			" go install github.com/versity/versitygw/cmd/versitygw@" + VersitygwVersion
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{Region: "us-east-1", AccessKey: "recevable-" + randomHex(4), SecretKey: randomHex(16), Versitygw: true}
	root := t.TempDir()
	// The port is chosen free then handed over, so another process may take
	// it in between: try again on a new port when the server dies at start.
	var lastErr error
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("s3test: %v", err)
		}
		if err := s.run(t, bin, addr, root); err != nil {
			lastErr = err
			continue
		}
		s.Endpoint = "http://" + addr
		return s
	}
	t.Fatalf("s3test: start versitygw: %v", lastErr)
	return nil
}

// run starts versitygw on addr and waits until it answers HTTP.
func (s *Server) run(t testing.TB, bin, addr, root string) error {
	var out syncBuffer
	// --keep-alive: without it versitygw v1.8.0 answers every request with
	// "Connection: close", and each of the many small record writes pays a
	// new TCP connection (AWS S3 and production deployments keep them).
	cmd := exec.Command(bin, "--port", addr, "--quiet", "--keep-alive", "posix", root)
	// Credentials through the environment rather than argv, which any local
	// user can read in the process list.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = &out, &out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited at start (%v): %s", err, out.String())
		default:
		}
		// Any HTTP answer (403 for an unsigned request) means it serves.
		if resp, err := client.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw on %s did not answer within 30s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("s3test: no randomness")) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects the server's output from two pipes at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
