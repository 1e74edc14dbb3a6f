package intake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// IMAPMetrics are the IMAP sources' series, named and labelled as in the
// metric catalogue (deploy/metrics.txt), and the sources' health for the
// readiness probe. One IMAPMetrics serves every IMAP source of the process:
// build it with NewIMAPMetrics on the process's registry (or a fresh one in
// a test) and set it in each IMAPOptions.Metrics.
//
// The gauges of a source exist while the source is open, that is on the
// replica holding its lease; Close removes them, so that a dashboard's
// max by (source) shows the holder's view only.
type IMAPMetrics struct {
	// Connected is 1 while the source has an authenticated connection, 0
	// while it is (re)connecting.
	// source: imap:<account>/<folder>
	Connected *prometheus.GaugeVec
	// Idle is 1 while the source waits for new mail in IDLE (RFC 2177), 0
	// otherwise (fetching, polling, or a server without IDLE).
	// source: imap:<account>/<folder>
	Idle *prometheus.GaugeVec
	// Reconnects counts connections opened to replace one that was dropped
	// (server restart, network failure, watchdog); the first connection of
	// a source is not counted.
	// source: imap:<account>/<folder>
	Reconnects *prometheus.CounterVec

	mu      sync.Mutex
	sources map[*IMAPSource]struct{} // open sources, for Ready
	now     func() time.Time         // tests move the clock
}

// NewIMAPMetrics creates the IMAP metrics and registers them on reg (nil:
// not registered).
func NewIMAPMetrics(reg prometheus.Registerer) *IMAPMetrics {
	m := &IMAPMetrics{
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recevable_imap_connected",
			Help: "1 while the IMAP source has an authenticated connection, 0 while it reconnects.",
		}, []string{"source"}),
		Idle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recevable_imap_idle",
			Help: "1 while the IMAP source waits for new mail in IDLE.",
		}, []string{"source"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recevable_imap_reconnects_total",
			Help: "Connections the IMAP source opened to replace a dropped one.",
		}, []string{"source"}),
		sources: map[*IMAPSource]struct{}{},
		now:     time.Now,
	}
	if reg != nil {
		reg.MustRegister(m.Connected, m.Idle, m.Reconnects)
	}
	return m
}

// Ready returns a readiness check over the open IMAP sources: it fails,
// naming them, when one has been failing (connecting, logging in, reading
// the folder) for longer than budget without a successful poll in between.
// A source that fails for less than budget is retrying, which is normal
// (a server restart, a network blip).
func (m *IMAPMetrics) Ready(budget time.Duration) func(context.Context) error {
	return func(context.Context) error {
		m.mu.Lock()
		now := m.now()
		var failing []string
		for s := range m.sources {
			if since, cause := s.health.failing(); !since.IsZero() && now.Sub(since) > budget {
				failing = append(failing, fmt.Sprintf("%s failing for %s: %s", s.id, now.Sub(since).Round(time.Second), cause))
			}
		}
		m.mu.Unlock()
		if len(failing) == 0 {
			return nil
		}
		sort.Strings(failing)
		return errors.New(strings.Join(failing, "; "))
	}
}

// imapHealth is what one IMAP source knows of its own state, for the
// metrics, the readiness check and the poller's last-poll gauge. It has its
// own lock: Next, the acks and the workers' gauge loop all report to it.
type imapHealth struct {
	mu            sync.Mutex
	everConnected bool
	lastPoll      time.Time // last successful take (scan or fetch)
	failingSince  time.Time // first failure since lastPoll; zero when none
	lastErr       string
}

func (h *imapHealth) failing() (time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failingSince, h.lastErr
}

// LastPollSuccess is when the source last looked at its folder without an
// error (zero before the first time). The workers' poller reports it as
// recevable_source_last_poll_success_timestamp_seconds: Next itself does
// not return while the folder is empty.
func (s *IMAPSource) LastPollSuccess() time.Time {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.lastPoll
}

// metricOpened registers a new source: its series start at 0.
func (s *IMAPSource) metricOpened() {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	m.Connected.WithLabelValues(s.id).Set(0)
	m.Idle.WithLabelValues(s.id).Set(0)
	m.Reconnects.WithLabelValues(s.id)
	m.mu.Lock()
	m.sources[s] = struct{}{}
	m.mu.Unlock()
}

// metricClosed removes the source's gauges (the counter stays: it only
// grows, and the next holder in this process continues it).
func (s *IMAPSource) metricClosed() {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.sources, s)
	m.mu.Unlock()
	m.Connected.DeleteLabelValues(s.id)
	m.Idle.DeleteLabelValues(s.id)
}

// metricConnected records an authenticated connection.
func (s *IMAPSource) metricConnected() {
	s.health.mu.Lock()
	again := s.health.everConnected
	s.health.everConnected = true
	s.health.mu.Unlock()
	if m := s.opts.Metrics; m != nil {
		m.Connected.WithLabelValues(s.id).Set(1)
		m.Idle.WithLabelValues(s.id).Set(0)
		if again {
			m.Reconnects.WithLabelValues(s.id).Inc()
		}
	}
}

// metricDropped records the loss of the connection.
func (s *IMAPSource) metricDropped() {
	if m := s.opts.Metrics; m != nil {
		m.Connected.WithLabelValues(s.id).Set(0)
		m.Idle.WithLabelValues(s.id).Set(0)
	}
}

// metricIdle records entering (on) or leaving IDLE.
func (s *IMAPSource) metricIdle(on bool) {
	if m := s.opts.Metrics; m != nil {
		v := 0.0
		if on {
			v = 1
		}
		m.Idle.WithLabelValues(s.id).Set(v)
	}
}

// notePolled records a successful look at the folder.
func (s *IMAPSource) notePolled() {
	now := time.Now()
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	s.health.lastPoll = now
	s.health.failingSince, s.health.lastErr = time.Time{}, ""
}

// notePollFailed records a failure that Next is about to retry. The cause
// is an IMAP or network error: server texts and addresses, no mail content.
func (s *IMAPSource) notePollFailed(cause error) {
	now := time.Now()
	if m := s.opts.Metrics; m != nil {
		now = m.now()
	}
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	if s.health.failingSince.IsZero() {
		s.health.failingSince = now
	}
	s.health.lastErr = cause.Error()
}
