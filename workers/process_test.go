//go:build linux

package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// Real processes for the crash, shutdown and replica tests: the test binary
// runs itself again as a child (TestHelperProcess) with a configuration in
// the environment; the child runs a pipeline against the parent's IMAP
// server and a shared filesystem bucket until SIGTERM, or kills itself with
// SIGKILL at a FaultPoint.

const helperEnv = "RECEVABLE_WORKERS_HELPER"

// helperConfig is what a child runs.
type helperConfig struct {
	Bucket   string
	Host     string
	Port     int
	User     string
	Password string
	Spool    string
	TTL      time.Duration
	Pool     int
	// Fault and FaultAt: SIGKILL at the FaultAt-th time Fault is reached.
	Fault   FaultPoint
	FaultAt int
}

// TestHelperProcess is the child's body, not a test of its own: without the
// environment variable it returns at once.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		return
	}
	var c helperConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		os.Exit(2)
	}
	os.Exit(runHelper(c))
}

func runHelper(c helperConfig) int {
	log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger()
	b, err := storage.NewFS(c.Bucket)
	if err != nil {
		log.Error().Err(err).Msg("bucket")
		return 2
	}
	srv := &imaptest.Server{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password}
	src, err := IMAPSource(imapOptions(srv, c.Spool), b, "75")
	if err != nil {
		log.Error().Err(err).Msg("source")
		return 2
	}
	var seen atomic.Int32
	o := Options{
		Bucket: b, Sites: []Site{{ID: "75"}}, Sources: []Source{src},
		PoolSize: c.Pool, LeaseTTL: c.TTL, ShutdownTimeout: 20 * time.Second,
		Retry:    RetryPolicy{Attempts: 5, Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		SpoolDir: c.Spool, RecoverGrace: time.Millisecond, RecoverEvery: time.Second,
		Logger: log,
		Fault: func(point FaultPoint, raw string) {
			if point == c.Fault && int(seen.Add(1)) == c.FaultAt {
				log.Warn().Str("point", string(point)).Str("raw", raw).Msg("fault: SIGKILL")
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		},
	}
	p, err := New(o)
	if err != nil {
		log.Error().Err(err).Msg("pipeline")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := p.Run(ctx); err != nil {
		log.Error().Err(err).Msg("run")
		return 3
	}
	return 0
}

// child is a running helper process.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

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

// startChild runs a helper; it is killed at the end of the test if still
// running, and its log is shown when the test failed.
func startChild(t testing.TB, c helperConfig) *child {
	t.Helper()
	cfg, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(cfg))
	ch := &child{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = ch.out, ch.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { ch.err = cmd.Wait(); close(ch.done) }()
	t.Cleanup(func() {
		select {
		case <-ch.done:
		default:
			cmd.Process.Kill()
			<-ch.done
		}
		if t.Failed() || os.Getenv("RECEVABLE_TEST_CHILD_LOGS") != "" {
			t.Logf("child %d log:\n%s", cmd.Process.Pid, lastLines(ch.out.String(), 60))
		}
	})
	return ch
}

// wait waits for the child to exit; limit guards against a hang.
func (c *child) wait(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(limit):
		t.Fatalf("child %d still running after %v", c.cmd.Process.Pid, limit)
	}
}

// killedBySIGKILL reports whether the child died of SIGKILL.
func (c *child) killedBySIGKILL() bool {
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// terminate sends SIGTERM and checks the child shuts down cleanly.
func (c *child) terminate(t testing.TB) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.wait(t, time.Minute)
	if c.err != nil {
		t.Errorf("child %d after SIGTERM: %v, want a clean exit", c.cmd.Process.Pid, c.err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// helperFor is the configuration of a child on srv and the bucket dir.
func helperFor(t testing.TB, srv *imaptest.Server, dir string) helperConfig {
	return helperConfig{
		Bucket: dir, Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password,
		Spool: t.TempDir(), TTL: 2 * time.Second, Pool: 2,
	}
}

// appendSubmissions appends n distinct messages of three attachments each
// and returns their Message-IDs.
func appendSubmissions(t testing.TB, srv *imaptest.Server, tag string, n int) []string {
	t.Helper()
	c := srv.Dial(t)
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%d@example.org", tag, i)
		raw := message(id, fmt.Sprintf("demandeur%d@example.org", i), "Dépôt de dossier", "Bonjour, voici mon dossier.",
			[2]string{"passeport.txt", "PASSEPORT " + id}, [2]string{"justificatif.txt", "DOMICILE " + id}, [2]string{"photo.txt", "PHOTO " + id})
		if _, err := imaptest.AppendWith(c, "INBOX", raw); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkExactlyOnce checks that each Message-ID has exactly one dossier, with
// every document stored intact, numbers without gap, nothing in quarantine
// and no raw item left unfinished.
func checkExactlyOnce(t testing.TB, b storage.Bucket, ids []string) {
	t.Helper()
	ctx := context.Background()
	ms := dossiers(t, b)
	byID := map[string][]string{}
	for n, m := range ms {
		id := strings.Trim(m.MessageID, "<>")
		byID[id] = append(byID[id], n)
		checkDocuments(t, b, m)
	}
	for _, id := range ids {
		if len(byID[id]) != 1 {
			t.Errorf("message %s: dossiers %v, want exactly one", id, byID[id])
		}
	}
	if len(ms) != len(ids) {
		t.Errorf("%d dossiers for %d messages", len(ms), len(ids))
	}
	checkNumbers(t, b, ms, "75", thisYear())
	if qs := quarantined(t, b); len(qs) != 0 {
		t.Errorf("quarantine: %+v", qs)
	}
	var pending []string
	storage.Raws{Bucket: b}.Pending(ctx, time.Time{}, func(m storage.RawMeta) error {
		pending = append(pending, m.SHA256)
		return nil
	})
	if len(pending) != 0 {
		t.Errorf("raw items left unfinished: %v", pending)
	}
}

// checkDocuments checks that dossier m has its four documents (three
// attachments and the body), each stored intact.
func checkDocuments(t testing.TB, b storage.Bucket, m *storage.Manifest) {
	t.Helper()
	d := storage.Dossiers{Bucket: b}
	for _, doc := range m.Documents {
		rc, _, err := d.OpenDocument(context.Background(), m, doc.SafeName)
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			t.Errorf("dossier %s document %s: %v", m.Number, doc.SafeName, err)
		}
	}
	if len(m.Documents) != 4 {
		t.Errorf("dossier %s has %d documents, want 4", m.Number, len(m.Documents))
	}
}

// TestCrash kills a real pipeline process with SIGKILL between two steps
// (at each FaultPoint, on the third item, with another item in flight),
// restarts it without the fault and checks that every submission became
// exactly one dossier, with registration numbers without gap.
func TestCrash(t *testing.T) {
	for _, point := range FaultPoints {
		t.Run(string(point), func(t *testing.T) {
			t.Parallel()
			srv := imaptest.StartMem(t, nil)
			dir := t.TempDir()
			ids := appendSubmissions(t, srv, "crash-"+string(point), 6)

			c := helperFor(t, srv, dir)
			c.Fault, c.FaultAt = point, 3
			first := startChild(t, c)
			first.wait(t, time.Minute)
			if !first.killedBySIGKILL() {
				t.Fatalf("first run ended with %v, want SIGKILL at %s", first.err, point)
			}

			second := startChild(t, helperFor(t, srv, dir))
			b, err := storage.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, time.Minute, inboxEmpty(t, srv, len(ids)))
			second.terminate(t)
			checkExactlyOnce(t, b, ids)
		})
	}
}

// TestSIGTERM stops a real pipeline process with SIGTERM while it works
// through a backlog: it exits cleanly, leaves no item half-done (every
// stored raw item is finished, the others are still in INBOX), releases its
// lease (another holder takes it at once), and a restart finishes the rest
// exactly once.
func TestSIGTERM(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	dir := t.TempDir()
	ids := appendSubmissions(t, srv, "term", 20)
	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := startChild(t, helperFor(t, srv, dir))
	waitFor(t, time.Minute, func() (bool, string) {
		n := len(dossiers(t, b))
		return n >= 3, fmt.Sprintf("%d dossiers", n)
	})
	first.terminate(t)

	var pending []string
	storage.Raws{Bucket: b}.Pending(context.Background(), time.Time{}, func(m storage.RawMeta) error {
		pending = append(pending, m.SHA256)
		return nil
	})
	if len(pending) != 0 {
		t.Errorf("after SIGTERM, raw items stored and not finished: %v", pending)
	}
	in, _ := srv.Look(t, "INBOX")
	n := len(dossiers(t, b))
	if n+len(in.Messages) != len(ids) || n == len(ids) {
		t.Errorf("after SIGTERM: %d dossiers, %d messages in INBOX; want %d in all, some left", n, len(in.Messages), len(ids))
	}
	l, err := storage.Leases{Bucket: b}.Acquire(context.Background(), "imap:pref-75/INBOX", "test-successor", time.Second)
	if err != nil {
		t.Errorf("lease not released at shutdown: %v", err)
	} else {
		storage.Leases{Bucket: b}.Release(context.Background(), l)
	}

	second := startChild(t, helperFor(t, srv, dir))
	waitFor(t, time.Minute, inboxEmpty(t, srv, len(ids)))
	second.terminate(t)
	checkExactlyOnce(t, b, ids)
}

// leaseHolder reads the lease record of source as stored: holder and expiry.
func leaseHolder(t testing.TB, b storage.Bucket, source string) (holder string, expires time.Time) {
	t.Helper()
	var rec struct {
		Holder  string    `json:"holder"`
		Expires time.Time `json:"expires"`
	}
	err := storage.ListAll(context.Background(), b, "state/leases/", func(o storage.Info) error {
		rc, _, err := b.Get(context.Background(), o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		var r struct {
			Source string `json:"source"`
		}
		data, _ := io.ReadAll(rc)
		if json.Unmarshal(data, &r) == nil && r.Source == source {
			return json.Unmarshal(data, &rec)
		}
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return rec.Holder, rec.Expires
}

// holderPid is the pid in a holder id (hostname-pid-random).
func holderPid(holder string) int {
	parts := strings.Split(holder, "-")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}
