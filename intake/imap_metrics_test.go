package intake

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"recevable/intake/imaptest"
)

// TestIMAPMetrics follows one source on the memserver through a first
// connection, a dropped connection, IDLE and Close, reading the series
// after each step.
func TestIMAPMetrics(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	reg := prometheus.NewRegistry()
	m := NewIMAPMetrics(reg)
	o := testOptions(t, srv)
	o.IDLE = true
	o.Metrics = m
	s := newSource(t, o, newMemCursors())
	id := s.ID()
	gauges := func(step string, connected, idle, reconnects float64) {
		t.Helper()
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"recevable_imap_connected", testutil.ToFloat64(m.Connected.WithLabelValues(id)), connected},
			{"recevable_imap_idle", testutil.ToFloat64(m.Idle.WithLabelValues(id)), idle},
			{"recevable_imap_reconnects_total", testutil.ToFloat64(m.Reconnects.WithLabelValues(id)), reconnects},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s{source=%q} = %v, want %v", step, c.name, id, c.got, c.want)
			}
		}
	}
	gauges("before Next", 0, 0, 0)
	if !s.LastPollSuccess().IsZero() {
		t.Errorf("LastPollSuccess before any poll = %v", s.LastPollSuccess())
	}

	srv.Append(t, "INBOX", msg(1))
	tk := next(t, s)
	gauges("first message", 1, 0, 0)
	if s.LastPollSuccess().IsZero() {
		t.Error("LastPollSuccess still zero after a poll")
	}

	s.mu.Lock()
	closed := s.conn.c.Closed()
	s.mu.Unlock()
	srv.DropConnections(t)
	<-closed
	ack(t, tk, Processed) // on the ack connection: the main one is redialed by the next Next

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := nextAsync(ctx, s)
	waitFor(t, "recevable_imap_idle 1", func() bool { return testutil.ToFloat64(m.Idle.WithLabelValues(id)) == 1 })
	gauges("waiting in IDLE", 1, 1, 1)
	srv.Append(t, "INBOX", msg(2))
	r := <-res
	if r.err != nil {
		t.Fatalf("Next: %v", r.err)
	}
	r.item.Release()
	gauges("IDLE ended by new mail", 1, 0, 1)
	if err := m.Ready(time.Minute)(ctx); err != nil {
		t.Errorf("Ready with a healthy source: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Connected) + testutil.CollectAndCount(m.Idle); n != 0 {
		t.Errorf("%d connection/IDLE series left after Close, want 0", n)
	}
	if got := testutil.ToFloat64(m.Reconnects.WithLabelValues(id)); got != 1 {
		t.Errorf("reconnects after Close = %v, want 1 (the counter stays)", got)
	}
}

// TestIMAPReady: of two sources sharing the metrics, the one whose server
// does not answer is named by Ready once it has failed for longer than the
// budget, and not before; the healthy one never is.
func TestIMAPReady(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	m := NewIMAPMetrics(prometheus.NewRegistry())
	m.now = func() time.Time { return time.Unix(0, clock.Load()) }

	srv := imaptest.StartMem(t, nil)
	good := testOptions(t, srv)
	good.Name, good.Metrics = "good", m
	healthy := newSource(t, good, newMemCursors())
	srv.Append(t, "INBOX", msg(1))
	next(t, healthy).item.Release()

	// A port where nothing listens: every dial is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	bad := testOptions(t, srv)
	bad.Name, bad.Port, bad.Metrics = "down", dead, m
	down := newSource(t, bad, newMemCursors())
	ctx, cancel := context.WithCancel(context.Background())
	res := nextAsync(ctx, down)
	waitFor(t, "a failed poll", func() bool { since, _ := down.health.failing(); return !since.IsZero() })

	ready := m.Ready(10 * time.Minute)
	if err := ready(ctx); err != nil {
		t.Errorf("Ready right after the first failure: %v, want nil (retrying within budget)", err)
	}
	clock.Add(int64(11 * time.Minute))
	err = ready(ctx)
	if err == nil || !strings.Contains(err.Error(), down.ID()) || strings.Contains(err.Error(), healthy.ID()) {
		t.Errorf("Ready after 11 min of failures = %v, want an error naming %s only", err, down.ID())
	}
	if got := testutil.ToFloat64(m.Connected.WithLabelValues(down.ID())); got != 0 {
		t.Errorf("connected{%s} = %v, want 0", down.ID(), got)
	}
	if got := testutil.ToFloat64(m.Connected.WithLabelValues(healthy.ID())); got != 1 {
		t.Errorf("connected{%s} = %v, want 1", healthy.ID(), got)
	}
	cancel()
	<-res
	down.Close()
	if err := ready(context.Background()); err != nil {
		t.Errorf("Ready once the failing source is closed: %v", err)
	}
}
