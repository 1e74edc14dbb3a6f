package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"recevable/storage"
)

// opsGet requests path from the ops handler and returns status and body.
func opsGet(t *testing.T, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestOpsMetricsAndHealth(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recevable_test_things_total", Help: "Things."}, []string{"kind"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(3)
	srv := httptest.NewServer(NewOps(OpsOptions{Gatherer: reg}))
	defer srv.Close()

	code, h, body := opsGet(t, srv, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics: %d %s", code, h.Get("Content-Type"))
	}
	if !strings.Contains(body, `recevable_test_things_total{kind="a"} 3`) {
		t.Errorf("/metrics does not carry the registry's counter:\n%s", body)
	}
	if code, _, body := opsGet(t, srv, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	resp, err := http.Post(srv.URL+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
	if code, _, _ := opsGet(t, srv, "/dossiers"); code != http.StatusNotFound {
		t.Errorf("/dossiers on the ops listener: %d, want 404 (the interface is elsewhere)", code)
	}
}

// TestOpsReadyz: a real FS bucket is ready; an S3 endpoint where nothing
// listens, a failing check, a check that never answers and one that panics
// are each named in the 503 body, and only they; so are the failing
// entries of a group of checks.
func TestOpsReadyz(t *testing.T) {
	t.Parallel()
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ops := NewOps(OpsOptions{CheckTimeout: 200 * time.Millisecond, CacheFor: time.Nanosecond, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	srv := httptest.NewServer(ops)
	defer srv.Close()
	ops.AddCheck("bucket", BucketCheck(fs))
	ops.AddCheck("config", func(context.Context) error { return nil })

	code, h, body := opsGet(t, srv, "/readyz")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" || strings.TrimSpace(body) != `{"ready":true}` {
		t.Fatalf("/readyz with a healthy bucket: %d %s %s", code, h.Get("Content-Type"), body)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s3, err := storage.NewS3(context.Background(), storage.S3Options{
		Endpoint: dead, Bucket: "recevable", PathStyle: true, AccessKey: "k", SecretKey: "s", MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ops.AddCheck("bucket", BucketCheck(s3))
	ops.AddCheck("sources", func(context.Context) error { return errors.New("imap:pref/INBOX failing for 12m") })
	ops.AddCheck("slow", func(ctx context.Context) error { <-ctx.Done(); return nil })
	ops.AddCheck("broken", func(context.Context) error { panic("bug") })
	ops.AddGroup(func(context.Context) map[string]string { return map[string]string{"pipeline": "not running"} })
	ops.AddGroup(func(context.Context) map[string]string { return nil })

	code, _, body = opsGet(t, srv, "/readyz")
	var got ReadyStatus
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if code != http.StatusServiceUnavailable || got.Ready {
		t.Errorf("/readyz with failures: %d ready=%v", code, got.Ready)
	}
	want := map[string]string{
		"bucket":  "bucket: ",
		"sources": "imap:pref/INBOX failing for 12m",
		"slow":    "no answer within 200ms",
		"broken":  "check panicked: bug",
		// The entries of a group are checks of their own.
		"pipeline": "not running",
	}
	if len(got.Failing) != len(want) {
		t.Errorf("failing = %v, want exactly %v", got.Failing, want)
	}
	for name, prefix := range want {
		if !strings.HasPrefix(got.Failing[name], prefix) {
			t.Errorf("failing[%q] = %q, want it to start with %q", name, got.Failing[name], prefix)
		}
	}
}

// TestOpsReadyzCache: probes within CacheFor share one round of checks;
// adding a check starts a new round.
func TestOpsReadyzCache(t *testing.T) {
	t.Parallel()
	ops := NewOps(OpsOptions{CacheFor: time.Hour})
	var runs atomic.Int32
	ops.AddCheck("counted", func(context.Context) error { runs.Add(1); return nil })
	for range 3 {
		if r := ops.Readiness(context.Background()); !r.Ready {
			t.Fatalf("not ready: %v", r.Failing)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("check ran %d times for 3 probes within CacheFor, want 1", n)
	}
	ops.AddCheck("failing", func(context.Context) error { return errors.New("down") })
	if r := ops.Readiness(context.Background()); r.Ready || r.Failing["failing"] != "down" {
		t.Errorf("after AddCheck: %+v, want the new check's failure", r)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("check ran %d times, want 2 (AddCheck starts a new round)", n)
	}
}
