//go:build linux

package workers

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"recevable/intake"
	"recevable/intake/imaptest"
	"recevable/storage"
)

// TestReplicasInProcess runs two pipelines (two holders, as two replicas
// would) on one bucket and one mailbox with two folders: each folder is
// polled by one of them at a time, the messages of both folders (some in
// both) make one dossier each, numbers without gap. Then one replica stops
// and the other takes its folder over at once (the lease is released).
func TestReplicasInProcess(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	b := newBucket(t)
	c := srv.Dial(t)
	var ids []string
	add := func(folders []string, id string) {
		raw := message(id, "demandeur@example.org", "Dépôt", "Bonjour", [2]string{"a.txt", "A " + id}, [2]string{"b.txt", "B " + id})
		for _, f := range folders {
			if _, err := imaptest.AppendWith(c, f, raw); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	for i := range 8 {
		add([]string{"INBOX"}, fmt.Sprintf("in-%d@example.org", i))
		add([]string{"Depots2"}, fmt.Sprintf("d2-%d@example.org", i))
		add([]string{"INBOX", "Depots2"}, fmt.Sprintf("both-%d@example.org", i))
	}
	total := 8 * 4

	regs := map[string]*prometheus.Registry{}
	mk := func(holder string) (*Pipeline, Options) {
		o := testOptions(t, b)
		o.Holder = holder
		regs[holder] = prometheus.NewRegistry()
		o.Metrics = NewMetrics(regs[holder])
		for _, folder := range []string{"INBOX", "Depots2"} {
			iopts := imapOptions(srv, t.TempDir())
			iopts.Folder = folder
			src, err := IMAPSource(iopts, b, "75")
			if err != nil {
				t.Fatal(err)
			}
			o.Sources = append(o.Sources, src)
		}
		return newPipeline(t, o), o
	}
	pa, oa := mk("replica-a")
	pb, ob := mk("replica-b")
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range []struct {
		p   *Pipeline
		ctx context.Context
	}{{pa, ctxA}, {pb, ctxB}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.p.Run(r.ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	moved := func() (bool, string) {
		in, _ := srv.Look(t, "INBOX")
		d2, _ := srv.Look(t, "Depots2")
		done, _ := srv.Look(t, intake.DefaultIMAPProcessedFolder)
		return len(in.Messages)+len(d2.Messages) == 0 && len(done.Messages) == total,
			fmt.Sprintf("INBOX %d, Depots2 %d, processed %d of %d", len(in.Messages), len(d2.Messages), len(done.Messages), total)
	}
	waitFor(t, time.Minute, moved)
	// Each source is held by exactly one replica.
	for _, src := range oa.Sources {
		a, bb := heldBy(t, regs["replica-a"], src.ID), heldBy(t, regs["replica-b"], src.ID)
		if len(a)+len(bb) != 1 {
			t.Errorf("source %s: lease_held on A %v, on B %v; want exactly one series in all", src.ID, a, bb)
		}
	}

	// A stops: its leases are released, B takes every folder.
	stopA()
	c2 := srv.Dial(t)
	for _, f := range []string{"INBOX", "Depots2"} {
		id := "after-" + f + "@example.org"
		raw := message(id, "demandeur@example.org", "Dépôt", "Bonjour", [2]string{"a.txt", "A " + id}, [2]string{"b.txt", "B " + id})
		if _, err := imaptest.AppendWith(c2, f, raw); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	total += 2
	waitFor(t, time.Minute, moved)
	for _, src := range ob.Sources {
		if a, bb := heldBy(t, regs["replica-a"], src.ID), heldBy(t, regs["replica-b"], src.ID); len(a) != 0 || len(bb) != 1 {
			t.Errorf("after A stopped, lease_held{%s} on A %v, on B %v; want B only", src.ID, a, bb)
		}
	}
	stopB()
	wg.Wait()

	ms := dossiers(t, b)
	byID := map[string]int{}
	for _, m := range ms {
		byID[m.MessageID]++
	}
	for _, id := range ids {
		if byID["<"+id+">"] != 1 {
			t.Errorf("%s: %d dossiers, want 1", id, byID["<"+id+">"])
		}
	}
	if len(ms) != len(ids) {
		t.Errorf("%d dossiers for %d distinct messages", len(ms), len(ids))
	}
	checkNumbers(t, b, ms, "75", thisYear())
}

// heldBy returns the holders with a recevable_lease_held series for source
// in reg.
func heldBy(t testing.TB, reg *prometheus.Registry, source string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "recevable_lease_held" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source && m.GetGauge().GetValue() == 1 {
				out = append(out, labels["holder"])
			}
		}
	}
	return out
}

// TestLeaseLost: when another holder takes the lease (the bucket says this
// replica's lease expired, e.g. after a long pause), the poller stops at its
// next renewal and does not poll again while the other holds it.
func TestLeaseLost(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	b := newBucket(t)
	p, o := imapPipeline(t, srv, b, func(o *Options, _ *intake.IMAPOptions) { o.LeaseTTL = time.Second })
	src := o.Sources[0].ID
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	held := func() (bool, string) {
		n := testutil.CollectAndCount(o.Metrics.LeaseHeld)
		return n == 1, fmt.Sprintf("%d lease_held series", n)
	}
	waitFor(t, 30*time.Second, held)
	// An intruder whose clock runs a minute ahead sees the lease expired.
	intruder := storage.Leases{Bucket: b, Now: func() time.Time { return time.Now().Add(time.Minute) }}
	if _, err := intruder.Acquire(context.Background(), src, "intruder", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() (bool, string) {
		n := testutil.CollectAndCount(o.Metrics.LeaseHeld)
		return n == 0, fmt.Sprintf("%d lease_held series after the lease was taken", n)
	})
	// A message arriving now is not taken: the intruder holds the source.
	srv.Append(t, "INBOX", message("late@example.org", "a@example.org", "s", "b"))
	if h, _ := leaseHolder(t, b, src); h != "intruder" {
		t.Errorf("lease holder %q, want the intruder still", h)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if in, _ := srv.Look(t, "INBOX"); len(in.Messages) != 1 {
		t.Errorf("INBOX holds %d messages; the message arrived after the lease was lost must stay", len(in.Messages))
	}
}

// TestReplicaProcesses runs two pipeline processes on one mailbox and one
// bucket, on each server, kills the lease holder with SIGKILL in the middle
// of a backlog and checks that the other takes the source over within one
// lease period of the dead holder's lease expiring, and that every message
// made exactly one dossier, numbers without gap.
func TestReplicaProcesses(t *testing.T) {
	for _, s := range imapServers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			dir := t.TempDir()
			b, err := storage.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			ids := appendSubmissions(t, srv, "replica-"+s.name, 30)
			children := map[int]*child{}
			for range 2 {
				ch := startChild(t, helperFor(t, srv, dir))
				children[ch.cmd.Process.Pid] = ch
			}
			const source = "imap:pref-75/INBOX"
			ttl := helperFor(t, srv, dir).TTL
			waitFor(t, time.Minute, func() (bool, string) {
				n := len(dossiers(t, b))
				return n >= 5, fmt.Sprintf("%d dossiers", n)
			})
			holder, _ := leaseHolder(t, b, source)
			victim := children[holderPid(holder)]
			if victim == nil {
				t.Fatalf("lease holder %q is neither child", holder)
			}
			victim.cmd.Process.Signal(syscall.SIGKILL)
			victim.wait(t, time.Minute)
			killed := time.Now()
			_, lastExpiry := leaseHolder(t, b, source) // the dead holder's last renewal + TTL

			var successor string
			var acquired time.Time
			waitFor(t, time.Minute, func() (bool, string) {
				h, exp := leaseHolder(t, b, source)
				successor, acquired = h, exp.Add(-ttl)
				return h != "" && h != holder, "lease still held by " + h
			})
			took := time.Since(killed)
			if late := acquired.Sub(lastExpiry); late > ttl {
				t.Errorf("successor %s took the lease %v after the dead holder's lease expired, want within one lease period (%v)", successor, late, ttl)
			}
			t.Logf("%s: holder killed, %s took over %v later (TTL %v; %v after expiry)", s.name, successor, took.Round(10*time.Millisecond), ttl, acquired.Sub(lastExpiry).Round(10*time.Millisecond))

			waitFor(t, 2*time.Minute, inboxEmpty(t, srv, len(ids)))
			for pid, ch := range children {
				if ch != victim {
					ch.terminate(t)
					if holderPid(successor) != pid {
						t.Errorf("successor %s is not the surviving child %d", successor, pid)
					}
				}
			}
			checkExactlyOnce(t, b, ids)
		})
	}
}
