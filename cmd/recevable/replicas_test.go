//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// TestReplicasTakeover runs two replicas of the real binary (go build),
// `recevable serve -config …` as two processes on one filesystem bucket
// and one Dovecot mailbox. Submissions arrive in three batches: the first
// while A holds the lease; during the second A is killed with SIGKILL
// (nothing orderly: no release, items in flight); the third after. B must
// hold the lease within one lease period of A's last renewal, as its own
// /metrics shows (recevable_lease_held{source,holder}), and every
// submission must end in exactly one dossier, numbered without a gap.
func TestReplicasTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two processes")
	}
	srv := imaptest.StartDovecot(t, nil)
	bin := filepath.Join(t.TempDir(), "recevable")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	const (
		source = "imap:pp/INBOX"
		ttl    = 6 * time.Second
	)

	a := startReplica(t, bin, srv, dir, "a", ttl)
	waitUntil(t, "A holding the lease", time.Minute, func() bool { return a.holds(source) != "" })
	holderA := a.holds(source)
	b2 := startReplica(t, bin, srv, dir, "b", ttl)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("at the failure: %d messages in INBOX, %d in the processed folder, %d dossiers; replica B's log:\n%s",
				folderSize(t, srv, "INBOX"), folderSize(t, srv, "Recevable-Traités"), len(manifests(t, b)), b2.output())
		}
	})
	waitUntil(t, "B up", time.Minute, func() bool { _, err := tryScrape(b2.metrics); return err == nil })
	if h := b2.holds(source); h != "" {
		t.Fatalf("B claims the lease (%s) while A (%s) holds it", h, holderA)
	}

	var sent []string // Message-IDs
	batch := func(from, n int) {
		c := srv.Dial(t)
		for i := from; i < from+n; i++ {
			id := fmt.Sprintf("replica-%03d", i)
			raw := submission(id, fmt.Sprintf("demandeur.%03d@example.org", i), fmt.Sprintf("Dépôt %d", i),
				"Bonjour, voici mon dossier.", fmt.Sprintf("piece-%03d.txt", i))
			if _, err := imaptest.AppendWith(c, "INBOX", raw); err != nil {
				t.Fatalf("append %s: %v", id, err)
			}
			sent = append(sent, "<"+id+"@example.org>")
		}
		c.Logout().Wait()
	}
	batch(0, 10)
	waitUntil(t, "A registering the first batch", 2*time.Minute, func() bool { return len(manifests(t, b)) >= 10 })
	batch(10, 10)
	waitUntil(t, "A starting on the second batch", time.Minute, func() bool { return len(manifests(t, b)) > 10 })
	killed := time.Now()
	a.kill()
	before := len(manifests(t, b))
	expires := leaseExpiry(t, b, source, holderA)

	waitUntil(t, "B taking the lease over", 3*ttl, func() bool { return b2.holds(source) != "" })
	took := time.Now()
	if h := b2.holds(source); h == holderA {
		t.Fatalf("B's metrics name the dead holder %s", h)
	}
	if limit := expires.Add(ttl); took.After(limit) {
		t.Errorf("B took the lease %v after A's lease expired, want within one lease period (%v)", took.Sub(expires), ttl)
	}
	t.Logf("A killed after %d of 20 dossiers; its lease expired %v after the kill; B held it %v after the kill",
		before, expires.Sub(killed).Round(time.Millisecond), took.Sub(killed).Round(time.Millisecond))

	batch(20, 10)
	waitUntil(t, "every submission registered", 3*time.Minute, func() bool {
		return folderSize(t, srv, "INBOX") == 0 && len(manifests(t, b)) >= len(sent)
	})

	// Exactly one dossier per submission, numbers 1..n of the year.
	ms := manifests(t, b)
	byID := map[string][]string{}
	var numbers []string
	for _, m := range ms {
		byID[m.MessageID] = append(byID[m.MessageID], m.Number)
		numbers = append(numbers, m.Number)
	}
	for _, id := range sent {
		if got := byID[id]; len(got) != 1 {
			t.Errorf("%s: dossiers %v, want exactly one", id, got)
		}
	}
	if len(ms) != len(sent) {
		t.Errorf("%d dossiers for %d submissions", len(ms), len(sent))
	}
	sort.Strings(numbers)
	for i, n := range numbers {
		_, _, seq, err := storage.ParseNumber(n)
		if err != nil || seq != i+1 {
			t.Errorf("dossier numbers %v: %s at position %d (gap or duplicate)", numbers, n, i+1)
			break
		}
	}
	q := 0
	storage.ListAll(context.Background(), b, "quarantine/", func(storage.Info) error { q++; return nil })
	if q != 0 {
		t.Errorf("%d items in quarantine, want 0", q)
	}
	if got := folderSize(t, srv, "Recevable-Traités"); got != len(sent) {
		t.Errorf("%d messages in the processed folder, want %d", got, len(sent))
	}

	// B stops in order and gives the lease up.
	if err := b2.stop(); err != nil {
		t.Errorf("B after SIGTERM: %v\n%s", err, b2.output())
	}
	if l, err := (storage.Leases{Bucket: b}).Acquire(context.Background(), source, "test", time.Second); err != nil {
		t.Errorf("lease not released by B: %v", err)
	} else {
		storage.Leases{Bucket: b}.Release(context.Background(), l)
	}
	if t.Failed() {
		t.Logf("replica A:\n%s\nreplica B:\n%s", a.output(), b2.output())
	}
}

// replica is one `recevable serve` process.
type replica struct {
	t       *testing.T
	cmd     *exec.Cmd
	metrics string // host:port of metrics.listen
	out     *syncWriter
	buf     *strings.Builder
	exited  chan error
}

// startReplica starts the binary with a configuration on srv and the FS
// bucket dir, its own listeners, and lease TTL ttl.
func startReplica(t *testing.T, bin string, srv *imaptest.Server, dir, name string, ttl time.Duration) *replica {
	t.Helper()
	r := &replica{t: t, metrics: freeAddr(t), buf: &strings.Builder{}, exited: make(chan error, 1)}
	r.out = &syncWriter{w: r.buf}
	text := strings.Replace(serveConfig(srv, dir, r.metrics, freeAddr(t)), "lease_ttl: 3s", "lease_ttl: "+ttl.String(), 1)
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve", "-config", file, "--log-format", "json")
	r.cmd.Env = append(os.Environ(), "RECEVABLE_TEST_IMAP_PASSWORD="+srv.Password)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	// The replica dies with the test, whatever happens to it.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.exited
	})
	return r
}

// holds returns the holder named by the replica's recevable_lease_held for
// source, "" when it reports none (or does not answer).
func (r *replica) holds(source string) string {
	f, err := tryScrape(r.metrics)
	if err != nil {
		return ""
	}
	for _, m := range f.series("recevable_lease_held", map[string]string{"source": source}) {
		if m.GetGauge().GetValue() == 1 {
			return labelsOf(m)["holder"]
		}
	}
	return ""
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-r.exited
	r.exited <- nil // for the cleanup
}

// stop sends SIGTERM and returns how the process ended.
func (r *replica) stop() error {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		r.exited <- err
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("still running a minute after SIGTERM")
	}
}

func (r *replica) output() string {
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	return r.buf.String()
}

// leaseExpiry reads the expiry of source's lease from the bucket, checking
// that holder holds it.
func leaseExpiry(t *testing.T, b storage.Bucket, source, holder string) time.Time {
	t.Helper()
	var found *time.Time
	err := storage.ListAll(context.Background(), b, "state/leases/", func(o storage.Info) error {
		rc, _, err := b.Get(context.Background(), o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		var rec struct {
			Source  string    `json:"source"`
			Holder  string    `json:"holder"`
			Expires time.Time `json:"expires"`
		}
		data, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &rec); err != nil {
			return fmt.Errorf("%s: %w", o.Key, err)
		}
		if rec.Source == source {
			if rec.Holder != holder {
				return fmt.Errorf("lease of %s held by %q, want %q", source, rec.Holder, holder)
			}
			found = &rec.Expires
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == nil {
		t.Fatalf("no lease record for %s", source)
	}
	return *found
}
