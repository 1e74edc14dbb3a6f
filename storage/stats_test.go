package storage

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestQueueStats fills the queues of two sites on the FS bucket, with a
// stale marker in front of one queue, and reads the exported gauges back
// from a registry: counts per site and status, age of the oldest waiting
// dossier (moving with the clock between refreshes), the quarantine count,
// nothing before the first Refresh, old values kept after a failed one.
func TestQueueStats(t *testing.T) {
	ctx := context.Background()
	b := newTestFS(t)
	d := Dossiers{Bucket: b}
	t0 := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }

	type dossier struct {
		site   string
		status Status
		age    time.Duration // before t0
	}
	fixtures := []dossier{
		{"75", StatusRecevable, 10 * 24 * time.Hour},
		{"75", StatusRecevable, 2 * 24 * time.Hour},
		{"75", StatusRecevable, time.Hour},
		{"75", StatusAVerifier, 3 * 24 * time.Hour},
		{"75", StatusEnInstruction, 30 * 24 * time.Hour},
		{"75", StatusEnInstruction, 40 * 24 * time.Hour},
		{"92", StatusAVerifier, 6 * time.Hour},
		{"92", StatusClos, 90 * 24 * time.Hour},
	}
	counts := map[string]map[Status]int{"75": {}, "92": {}}
	oldest := map[string]map[Status]time.Duration{"75": {}, "92": {}}
	for i, f := range fixtures {
		createDossier(t, d, f.site, i+1, f.status, t0.Add(-f.age))
		counts[f.site][f.status]++
		oldest[f.site][f.status] = max(oldest[f.site][f.status], f.age)
	}
	// A marker a crash left behind: the oldest of 75/recevable, but its
	// dossier has moved on to en_instruction. It counts (it is a marker) but
	// must not set the age.
	stale := createDossier(t, d, "75", 100, StatusEnInstruction, t0.Add(-20*24*time.Hour))
	if err := (Queue{Bucket: b}).Add(ctx, "75", StatusRecevable, stale.ReceivedAt, stale.Number); err != nil {
		t.Fatal(err)
	}
	counts["75"][StatusEnInstruction]++
	counts["75"][StatusRecevable]++

	quarantine := func(name string) {
		t.Helper()
		if _, err := (Quarantine{Bucket: b}).Record(ctx, shaOf(name), "imap:pref-75/INBOX", "over a limit", "mime_depth"); err != nil {
			t.Fatal(err)
		}
	}
	quarantine("q1")
	quarantine("q2")
	quarantined := prometheus.NewGauge(prometheus.GaugeOpts{Name: "recevable_quarantine_items"})
	s := NewQueueStats(b, []string{"75", "92"}, QueueStatsOptions{Now: now, Quarantine: quarantined})
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	if n := testutil.CollectAndCount(s); n != 0 {
		t.Fatalf("%d series before the first Refresh, want 0", n)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(step string, shift time.Duration) {
		t.Helper()
		for _, site := range []string{"75", "92"} {
			for _, st := range Statuses {
				got := gaugeValue(t, reg, "recevable_queue_dossiers", site, st)
				if want := float64(counts[site][st]); got != want {
					t.Errorf("%s: recevable_queue_dossiers{site=%q,status=%q} = %v, want %v", step, site, st, got, want)
				}
			}
			for _, st := range WaitingStatuses {
				want := 0.0
				if a, ok := oldest[site][st]; ok {
					want = (a + shift).Seconds()
				}
				if got := gaugeValue(t, reg, "recevable_queue_oldest_age_seconds", site, st); got != want {
					t.Errorf("%s: recevable_queue_oldest_age_seconds{site=%q,status=%q} = %v, want %v", step, site, st, got, want)
				}
			}
		}
		// 7 statuses and 2 waiting queues per site, and no more.
		if n := testutil.CollectAndCount(s); n != 2*(len(Statuses)+len(WaitingStatuses)) {
			t.Errorf("%s: %d series exported", step, n)
		}
	}
	check("first refresh", 0)
	if got := testutil.ToFloat64(quarantined); got != 2 {
		t.Errorf("recevable_quarantine_items = %v, want 2", got)
	}

	// The age counts up to the scrape; the counts wait for the next Refresh.
	clock = t0.Add(time.Hour)
	createDossier(t, d, "92", 200, StatusRecevable, clock.Add(-5*time.Minute))
	quarantine("q3")
	check("an hour later, not refreshed", time.Hour)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Refresh(canceled); err == nil {
		t.Fatal("Refresh with a canceled context succeeded")
	}
	check("after a failed refresh", time.Hour)

	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	counts["92"][StatusRecevable]++
	oldest["92"][StatusRecevable] = 5*time.Minute - time.Hour // shifted by the hour below
	check("refreshed", time.Hour)
	if got := testutil.ToFloat64(quarantined); got != 3 {
		t.Errorf("recevable_quarantine_items after the refresh = %v, want 3", got)
	}
}

// TestQueueStatsRun: Run reads at once, then at each tick, and stops with
// its context; a failing bucket is reported to onError and exports nothing.
func TestQueueStatsRun(t *testing.T) {
	b := newTestFS(t)
	createDossier(t, Dossiers{Bucket: b}, "75", 1, StatusRecevable, time.Now().Add(-time.Hour))
	s := NewQueueStats(b, []string{"75"}, QueueStatsOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		s.Run(ctx, time.Hour, func(err error) { t.Errorf("onError(%v) on a healthy bucket", err) })
		close(ran)
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	for end := time.Now().Add(20 * time.Second); testutil.CollectAndCount(s) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("Run did not read the bucket at once")
		}
	}
	if got := gaugeValue(t, reg, "recevable_queue_dossiers", "75", StatusRecevable); got != 1 {
		t.Errorf("after the first reading: %v dossiers, want 1", got)
	}
	cancel()
	<-ran

	// Nothing listens on this S3 endpoint: the reading fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s3, err := NewS3(context.Background(), S3Options{Endpoint: dead, Bucket: "recevable", PathStyle: true, AccessKey: "k", SecretKey: "s", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	failing := NewQueueStats(s3, []string{"75"}, QueueStatsOptions{})
	ctx, cancel = context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go failing.Run(ctx, time.Hour, func(err error) { errs <- err; cancel() })
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "queue stats") {
		t.Errorf("onError(%v), want the failed reading", err)
	}
	if n := testutil.CollectAndCount(failing); n != 0 {
		t.Errorf("%d series exported after a failed first reading, want 0", n)
	}
}

// createDossier registers a dossier without documents.
func createDossier(t *testing.T, d Dossiers, site string, n int, st Status, received time.Time) *Manifest {
	t.Helper()
	m := &Manifest{
		Number: fmt.Sprintf("%s-%04d-%06d", site, received.Year(), n), Site: site, Channel: ChannelEmail,
		ReceivedAt: received, Raw: shaOf(fmt.Sprint("raw ", site, n)), Status: st,
		Decision: Decision{Outcome: OutcomeAVerifier, Rule: "arrêté 2023-08-01 art. 4", At: received},
	}
	if _, err := d.Create(context.Background(), m); err != nil {
		t.Fatalf("create %s: %v", m.Number, err)
	}
	return m
}

// gaugeValue reads the gauge name{site,status} from what reg exports; a
// missing series fails the test.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name, site string, st Status) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["site"] == site && labels["status"] == string(st) {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("%s{site=%q,status=%q} not exported", name, site, st)
	return 0
}
