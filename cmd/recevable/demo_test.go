package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recevable/storage"
)

// TestDemo runs `recevable demo -once` twice in one directory, in process.
// The first run registers the five emails and the two letters of the batch
// scan, with each of the three outcomes, the postal letter bearing the
// invitation's QR code admissible; its summary names every dossier; the
// staff interface answered on the listen address while it ran. The second
// run delivers the same samples again and registers nothing new.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)

	out := runDemoOnce(t, dir, addr)
	first := demoDossiers(t, dir)
	if len(first) != 7 {
		t.Fatalf("first run: %d dossiers, want 7 (5 emails, 2 letters)\n%s", len(first), out)
	}
	byChannel := map[storage.Channel][]*storage.Manifest{}
	outcomes := map[storage.Outcome]int{}
	for _, m := range first {
		byChannel[m.Channel] = append(byChannel[m.Channel], m)
		outcomes[m.Decision.Outcome]++
	}
	if len(byChannel[storage.ChannelEmail]) != 5 || len(byChannel[storage.ChannelPostal]) != 2 {
		t.Errorf("first run: %d email and %d postal dossiers, want 5 and 2", len(byChannel[storage.ChannelEmail]), len(byChannel[storage.ChannelPostal]))
	}
	for _, o := range []storage.Outcome{storage.OutcomeRecevable, storage.OutcomeAVerifier, storage.OutcomeIrrecevablePropose} {
		if outcomes[o] == 0 {
			t.Errorf("first run: no dossier proposed %s (outcomes %v)", o, outcomes)
		}
	}
	// The postal letter with the invitation is admissible by its QR code,
	// read on the scanned page.
	qrAdmissible := 0
	for _, m := range byChannel[storage.ChannelPostal] {
		for _, e := range m.Evidence {
			if m.Decision.Outcome == storage.OutcomeRecevable && e.Kind == storage.EvidenceInvitation && e.Verdict == "valid" &&
				strings.Contains(strings.ToLower(e.Where), "qr") {
				qrAdmissible++
			}
		}
	}
	if qrAdmissible != 1 {
		t.Errorf("first run: %d postal dossier(s) admissible by an invitation QR code, want 1", qrAdmissible)
	}
	// Each sample got the outcome the demo made it for.
	checkDemoWants(t, dir)

	for n := range first {
		if !strings.Contains(out, n) {
			t.Errorf("the summary does not name dossier %s:\n%s", n, out)
		}
	}
	for _, want := range []string{"http://" + addr + "/", "log in as agent, superviseur or courrier, password ", "7 new in this run"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary does not say %q:\n%s", want, out)
		}
	}
	letters, _ := filepath.Glob(filepath.Join(dir, "letters", "invitation-INV-DEMO-*.pdf"))
	if len(letters) != 3 {
		t.Errorf("%d invitation letters in letters/, want 3: %v", len(letters), letters)
	}

	// Again: the same samples, a fresh mailbox, nothing new.
	again := runDemoOnce(t, dir, addr)
	second := demoDossiers(t, dir)
	if len(second) != len(first) {
		t.Errorf("second run: %d dossiers, want the %d of the first run\n%s", len(second), len(first), again)
	}
	for n, m := range first {
		if m2, ok := second[n]; !ok || m2.Raw != m.Raw {
			t.Errorf("second run: dossier %s changed or vanished", n)
		}
	}
	if !strings.Contains(again, "0 new in this run") || strings.Count(again, "(from an earlier run)") != 7 {
		t.Errorf("second run: the summary does not say that nothing is new:\n%s", again)
	}
}

// runDemoOnce runs the demo with -once, checks its exit status, and that
// GET /connexion answered 200 on addr while it ran; it returns stdout.
func runDemoOnce(t *testing.T, dir, addr string) string {
	t.Helper()
	var answered atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		for !answered.Load() {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := client.Get("http://" + addr + "/connexion")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				answered.Store(true)
			}
		}
	}()
	var stdout bytes.Buffer
	var stderr lockedBuffer
	code := run([]string{"demo", "-dir", dir, "-listen", addr, "-once"}, &stdout, &stderr)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("recevable demo -once: exit status %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", code, stdout.String(), stderr.String(), tailFile(filepath.Join(dir, "demo.log"), 4000))
	}
	if !answered.Load() {
		t.Errorf("GET http://%s/connexion never answered 200 during the run", addr)
	}
	return stdout.String()
}

// checkDemoWants holds each sample to the outcomes it was made for.
func checkDemoWants(t *testing.T, dir string) {
	t.Helper()
	b, err := storage.NewFS(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string][]byte{}
	for _, s := range demoSamples {
		if samples[s.File], err = os.ReadFile(filepath.Join(dir, "samples", s.File)); err != nil {
			t.Fatal(err)
		}
	}
	digests, err := demoDigests(samples)
	if err != nil {
		t.Fatal(err)
	}
	res, pending, err := collectDemo(context.Background(), b, digests, time.Time{})
	if err != nil || len(pending) > 0 {
		t.Fatalf("collect: %v, pending %v", err, pending)
	}
	for _, r := range res {
		var got []storage.Outcome
		for _, m := range r.Dossiers {
			got = append(got, m.Decision.Outcome)
		}
		if strings.Join(outcomeStrings(got), ",") != strings.Join(outcomeStrings(r.Sample.Want), ",") {
			t.Errorf("sample %s: outcomes %v, want %v", r.Sample.File, got, r.Sample.Want)
		}
	}
}

func outcomeStrings(os []storage.Outcome) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = string(o)
	}
	return out
}

// demoDossiers reads every manifest of the demo's bucket, by number.
func demoDossiers(t *testing.T, dir string) map[string]*storage.Manifest {
	t.Helper()
	b, err := storage.NewFS(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*storage.Manifest{}
	for _, m := range manifests(t, b) {
		out[m.Number] = m
	}
	return out
}

// TestDemoListen: a port in use and a non-loopback address are refused at
// once, saying what to do, before anything is written.
func TestDemoListen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct{ addr, want string }{
		{ln.Addr().String(), "is another demo or service using it? Choose another port with -listen 127.0.0.1:"},
		{"0.0.0.0:8080", "loopback address only"},
		{"192.0.2.1:8080", "loopback address only"},
	} {
		dir := filepath.Join(t.TempDir(), "demo")
		var stdout, stderr bytes.Buffer
		code := run([]string{"demo", "-dir", dir, "-listen", tc.addr, "-once"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("demo -listen %s: status %d, stderr %q; want 1 and %q", tc.addr, code, stderr.String(), tc.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("demo -listen %s: %s was created (%v)", tc.addr, dir, err)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the goroutines of the demo.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
