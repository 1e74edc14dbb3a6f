package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"recevable/intake/imaptest"
	"recevable/storage"
	"recevable/storage/s3test"
)

// The pipeline under measure is the real binary: `recevable serve` in a
// child process, configured like a production node on one mailbox and one
// S3 bucket. Its peak RSS is then its own, not the harness's buffers.

// recevableBinary returns RECEVABLE_BENCH_BINARY, or builds
// ./cmd/recevable into a temporary directory. It is built before any
// phase, so that the compiler's load is not measured.
func recevableBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RECEVABLE_BENCH_BINARY"); p != "" {
		return p
	}
	root := moduleRoot(t)
	out := filepath.Join(t.TempDir(), "recevable")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/recevable")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/recevable: %v\n%s", err, b)
	}
	return out
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("bench: no go.mod above the working directory")
		}
	}
}

// serveConfig is the configuration of the measured node: site 75, the
// test user's INBOX with IDLE, the bucket on the S3 server, pool workers,
// production defaults elsewhere (limits, retries, part size); no metrics
// or web listener, which would only add ports to clash.
func serveConfig(imap *imaptest.Server, s3 *s3test.Server, bucket string, pool int) string {
	return fmt.Sprintf(`# Written by recevable/bench for one run.
log: {format: json, level: info}
storage:
  backend: s3
  s3:
    endpoint: %s
    region: %s
    bucket: %s
    path_style: true
    access_key: {env: RECEVABLE_BENCH_S3_ACCESS_KEY}
    secret_key: {env: RECEVABLE_BENCH_S3_SECRET_KEY}
sites:
  - id: "75"
    name: Préfecture de police
    departments: ["75"]
    postal_address: [Préfecture de police, Bureau des étrangers, 75000 Paris]
    email: titres-sejour@prefecture.example
    phone: 01 00 00 00 00
imap:
  accounts:
    - name: bench
      site: "75"
      host: %s
      port: %d
      tls: none
      username: %s
      password: {env: RECEVABLE_BENCH_IMAP_PASSWORD}
      idle: true
      poll_interval: 1m
      timeout: 1m
workers:
  pool_size: %d
metrics:
  listen: ""
`, s3.Endpoint, s3.Region, bucket, imap.Host, imap.Port, imap.User, pool)
}

// serveChild is a running `recevable serve`.
type serveChild struct {
	cmd     *exec.Cmd
	log     string // its stderr and stdout
	exited  chan error
	started time.Time
}

// startServe starts bin serve on imap and bucket of s3, with its spool
// (TMPDIR) in a private temporary directory. It is stopped at the end of
// the test if the test did not stop it.
func startServe(t testing.TB, bin string, imap *imaptest.Server, s3 *s3test.Server, bucket string, pool int) *serveChild {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "recevable.yaml")
	if err := os.WriteFile(conf, []byte(serveConfig(imap, s3, bucket, pool)), 0o600); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &serveChild{log: filepath.Join(dir, "serve.log"), exited: make(chan error, 1)}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "serve", "-config", conf)
	// Secrets through the environment, as in production.
	c.cmd.Env = append(os.Environ(), "TMPDIR="+spool,
		"RECEVABLE_BENCH_S3_ACCESS_KEY="+s3.AccessKey, "RECEVABLE_BENCH_S3_SECRET_KEY="+s3.SecretKey,
		"RECEVABLE_BENCH_IMAP_PASSWORD="+imap.Password)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// The child dies with the harness rather than polling on alone.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s serve: %v", bin, err)
	}
	logf.Close()
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("serve log (tail):\n%s", c.tail(40))
		}
	})
	return c
}

// alive fails the test if the child has exited.
func (c *serveChild) alive(t testing.TB) {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err
		t.Fatalf("recevable serve exited: %v\n%s", err, c.tail(40))
	default:
	}
}

// stop sends SIGTERM (the orderly shutdown) and checks that serve exits 0.
func (c *serveChild) stop(t testing.TB) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			t.Errorf("recevable serve after SIGTERM: %v\n%s", err, c.tail(40))
		}
	case <-time.After(2 * time.Minute):
		c.cmd.Process.Kill()
		<-c.exited
		t.Errorf("recevable serve did not stop within 2 min of SIGTERM\n%s", c.tail(40))
	}
}

// tail is the end of the child's log.
func (c *serveChild) tail(lines int) string {
	data, err := os.ReadFile(c.log)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// countLog counts the child's log lines holding substr (e.g. a level).
func (c *serveChild) countLog(substr string) int {
	data, _ := os.ReadFile(c.log)
	return bytes.Count(data, []byte(substr))
}

// bucketFor opens bucket of s3 as the service does, for the harness to
// look at what the pipeline wrote.
func bucketFor(t testing.TB, s3 *s3test.Server, bucket string) *storage.S3 {
	t.Helper()
	b, err := storage.NewS3(context.Background(), storage.S3Options{
		Endpoint: s3.Endpoint, Region: s3.Region, Bucket: bucket, PathStyle: true,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bucketCounts counts what the pipeline left in the bucket: manifests,
// done markers and quarantine entries.
type bucketCounts struct{ manifests, done, quarantined int }

func countBucket(t testing.TB, b storage.Bucket) bucketCounts {
	t.Helper()
	ctx := context.Background()
	var c bucketCounts
	count := func(prefix string, f func(key string)) {
		if err := storage.ListAll(ctx, b, prefix, func(o storage.Info) error { f(o.Key); return nil }); err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
	}
	count("dossiers/", func(k string) {
		if strings.HasSuffix(k, "/manifest.json") {
			c.manifests++
		}
	})
	count("index/done/", func(string) { c.done++ })
	count("quarantine/", func(string) { c.quarantined++ })
	return c
}
