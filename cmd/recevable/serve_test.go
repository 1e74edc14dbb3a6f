package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// serveConfig is a configuration for serve against srv with a filesystem
// bucket in dir and metrics on metricsAddr.
func serveConfig(srv *imaptest.Server, dir, metricsAddr, webAddr string) string {
	return fmt.Sprintf(`
storage:
  backend: fs
  fs: {dir: %q}
sites:
  - id: pp
    name: Préfecture de police
    departments: ["75"]
    postal_address: [Préfecture de police, 75000 Paris]
    email: titres-sejour@prefecture.example
    phone: 01 00 00 00 00
imap:
  accounts:
    - name: pp
      site: pp
      host: 127.0.0.1
      port: %d
      tls: none
      username: %s
      password: {env: RECEVABLE_TEST_IMAP_PASSWORD}
      poll_interval: 5s
      timeout: 10s
workers:
  pool_size: 2
  lease_ttl: 3s
  retry_backoff_min: 10ms
  retry_backoff_max: 100ms
  shutdown_timeout: 20s
metrics:
  listen: %q
web:
  listen: %q
`, dir, srv.Port, srv.User, metricsAddr, webAddr)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const testSubmission = "From: demandeur@example.org\r\nTo: titres-sejour@prefecture.example\r\nSubject: Dépôt\r\n" +
	"Message-ID: <serve-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici mon dossier.\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"piece.txt\"\r\n\r\nPIECE\r\n--b--\r\n"

// waitDossiers polls the bucket until it holds n manifests; limit guards
// against a hang.
func waitDossiers(t testing.TB, b storage.Bucket, n int, limit time.Duration) {
	t.Helper()
	for end := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		got, _ := countDossiers(context.Background(), b)
		if got >= n {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d dossiers after %v, want %d", got, limit, n)
		}
	}
}

// TestServe runs serve, wired from a configuration file's content with the
// binary's own hooks (the real evidence search) and a metrics hook, against
// an IMAP server: a message becomes a dossier, /metrics and the readiness
// check answer, and cancelling stops it cleanly with the lease released.
func TestServe(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	dir := t.TempDir()
	addr, webAddr := freeAddr(t), freeAddr(t)
	cfg, err := parseConfig([]byte(serveConfig(srv, dir, addr, webAddr)), envMap(map[string]string{"RECEVABLE_TEST_IMAP_PASSWORD": srv.Password}))
	if err != nil {
		t.Fatal(err)
	}
	srv.Append(t, "INBOX", []byte(testSubmission))

	var readyAnswer map[string]string
	hooks := defaultServeHooks()
	hooks.Metrics = func(reg *prometheus.Registry, ready func(context.Context) map[string]string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			readyAnswer = ready(r.Context())
			fmt.Fprint(w, len(readyAnswer))
		})
		return mux
	}
	var logs bytes.Buffer
	log := zerolog.New(&syncWriter{w: &logs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- serve(ctx, cfg, hooks, log) }()

	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitDossiers(t, b, 1, time.Minute)
	// The item is counted when it is acknowledged, just after its dossier
	// is written: read /metrics until it shows or a deadline passes.
	wants := []string{
		`recevable_dossiers_created_total{channel="email",outcome=`,
		`recevable_intake_items_total{result="stored",source="imap:pp/INBOX"} 1`,
		`recevable_lease_held{holder=`,
		`recevable_storage_operations_total{op="put",result="ok"}`,
		`recevable_build_info{version=`,
	}
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		body := httpGet(t, "http://"+addr+"/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
	if got := httpGet(t, "http://"+addr+"/readyz"); got != "0" {
		t.Errorf("readiness: not ready: %v", readyAnswer)
	}
	// The staff interface is part of serve: its login page answers on
	// web.listen.
	if page := httpGet(t, "http://"+webAddr+"/connexion"); !strings.Contains(page, "Connexion") {
		t.Errorf("staff interface on %s: login page lacks \"Connexion\":\n%.300s", webAddr, page)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve = %d, want 0; logs:\n%s", code, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
	l, err := storage.Leases{Bucket: b}.Acquire(context.Background(), "imap:pp/INBOX", "test", time.Second)
	if err != nil {
		t.Errorf("lease not released: %v", err)
	} else {
		storage.Leases{Bucket: b}.Release(context.Background(), l)
	}
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeUsage: missing or unreadable configuration.
func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"-config"}, 2},
		{[]string{"-config", filepath.Join(t.TempDir(), "absent.yaml")}, 1},
		{[]string{"-config", "testdata/config/bad.yaml"}, 1},
	} {
		var out, errs bytes.Buffer
		if got := runServe(tc.args, &out, &errs); got != tc.want {
			t.Errorf("serve %q = %d, want %d (stderr %s)", tc.args, got, tc.want, errs.String())
		}
	}
}
