package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats exports the size of the review queues and the age of the
// oldest dossier waiting for staff, read from the queue markers:
//
//	recevable_queue_dossiers{site,status}
//	  status: recevable | a_verifier | irrecevable_propose | en_instruction |
//	          pieces_manquantes | irrecevable | clos (every Status)
//	recevable_queue_oldest_age_seconds{site,status}
//	  status: recevable | a_verifier (the queues waiting for an agent;
//	          0 when the queue is empty)
//
// Counting costs one List call per 1,000 markers (50,000 dossiers: 50
// calls, 100 ms and more), so a scrape never reads the bucket: Run reads it
// every 30 s (or Refresh when called) and Collect serves the last reading,
// the age counted up to the moment of the scrape. (Reading during a scrape
// would also make the scrape inconsistent: the bucket operations it counts
// and the gauges it sets would change while other collectors are read.)
// Nothing is exported until a reading succeeds; after a failed one the
// previous values stay.
//
// The counts are marker counts (Queue.Count): a dossier caught mid-move, or
// a marker a crash left behind, counts in two queues until the web
// interface's listing repairs it. The oldest marker is confirmed against its
// manifest (up to oldestProbe markers), so a stale marker does not hold
// the age alert up.
//
// It is a prometheus.Collector: register it on the process's registry.
type QueueStats struct {
	b     Bucket
	sites []string
	o     QueueStatsOptions

	dossiers, oldest *prometheus.Desc

	reading sync.Mutex // one reading at a time
	mu      sync.Mutex // guards snap
	snap    *queueSnapshot
}

// QueueStatsOptions configure NewQueueStats.
type QueueStatsOptions struct {
	// Quarantine, when set, is set to the number of quarantine entries at
	// each reading. It is recevable_quarantine_items, which the workers own
	// and also count once a minute; counting here too keeps it as fresh as
	// the queue gauges.
	Quarantine prometheus.Gauge
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// queueSnapshot is what one Refresh read.
type queueSnapshot struct {
	counts map[string]map[Status]int
	// oldestAt is the receipt time of the oldest dossier per site and
	// waiting status; zero for an empty queue.
	oldestAt map[string]map[Status]time.Time
}

// WaitingStatuses are the queues whose oldest dossier is reported: those
// where a dossier waits for an agent.
var WaitingStatuses = []Status{StatusRecevable, StatusAVerifier}

// oldestProbe bounds the manifests read to confirm the oldest marker.
const oldestProbe = 20

// NewQueueStats reads the queues of sites in b.
func NewQueueStats(b Bucket, sites []string, o QueueStatsOptions) *QueueStats {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &QueueStats{
		b: b, sites: sites, o: o,
		dossiers: prometheus.NewDesc("recevable_queue_dossiers",
			"Dossiers in each review queue (queue markers), by site and status.",
			[]string{"site", "status"}, nil),
		oldest: prometheus.NewDesc("recevable_queue_oldest_age_seconds",
			"Age since receipt of the oldest dossier waiting in the recevable or a_verifier queue (0 when empty).",
			[]string{"site", "status"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (s *QueueStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.dossiers
	ch <- s.oldest
}

// Collect implements prometheus.Collector from the last reading.
func (s *QueueStats) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	if snap == nil {
		return
	}
	now := s.o.Now()
	for _, site := range s.sites {
		for _, st := range Statuses {
			ch <- prometheus.MustNewConstMetric(s.dossiers, prometheus.GaugeValue, float64(snap.counts[site][st]), site, string(st))
		}
		for _, st := range WaitingStatuses {
			age := 0.0
			if at := snap.oldestAt[site][st]; !at.IsZero() {
				age = max(now.Sub(at).Seconds(), 0)
			}
			ch <- prometheus.MustNewConstMetric(s.oldest, prometheus.GaugeValue, age, site, string(st))
		}
	}
}

// Refresh reads every queue of every site now. On error the previous
// values are kept.
func (s *QueueStats) Refresh(ctx context.Context) error {
	s.reading.Lock()
	defer s.reading.Unlock()
	q := Queue{Bucket: s.b}
	snap := &queueSnapshot{counts: map[string]map[Status]int{}, oldestAt: map[string]map[Status]time.Time{}}
	quarantined := 0
	if s.o.Quarantine != nil {
		n, err := Quarantine{Bucket: s.b}.Count(ctx)
		if err != nil {
			return fmt.Errorf("queue stats: %w", err)
		}
		quarantined = n
	}
	for _, site := range s.sites {
		counts, err := q.Counts(ctx, site)
		if err != nil {
			return fmt.Errorf("queue stats: %w", err)
		}
		snap.counts[site] = counts
		snap.oldestAt[site] = map[Status]time.Time{}
		for _, st := range WaitingStatuses {
			at, err := s.oldestWaiting(ctx, site, st)
			if err != nil {
				return fmt.Errorf("queue stats: %w", err)
			}
			snap.oldestAt[site][st] = at
		}
	}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
	if s.o.Quarantine != nil {
		s.o.Quarantine.Set(float64(quarantined))
	}
	return nil
}

// oldestWaiting is the receipt time of the first dossier of a queue whose
// manifest says it is in that queue. When the first oldestProbe markers are
// all stale, the first marker's time is returned: an age too high is
// noticed and repaired, one too low would hide a dossier.
func (s *QueueStats) oldestWaiting(ctx context.Context, site string, st Status) (time.Time, error) {
	entries, _, err := Queue{Bucket: s.b}.Page(ctx, site, st, "", oldestProbe)
	if err != nil || len(entries) == 0 {
		return time.Time{}, err
	}
	d := Dossiers{Bucket: s.b}
	for _, e := range entries {
		m, _, err := d.Get(ctx, e.Number)
		switch {
		case err == nil && m.Status == st && m.Site == site,
			errors.Is(err, ErrIntegrity), errors.Is(err, ErrSchema):
			// A dossier is there, even if this code cannot read it.
			return e.ReceivedAt, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return time.Time{}, fmt.Errorf("oldest of %s/%s: %w", site, st, err)
		}
	}
	return entries[0].ReceivedAt, nil
}

// Run reads at once and then every interval (30 s when not positive) until
// ctx ends. A failed reading is passed to onError (which may be nil) and
// tried again at the next tick.
func (s *QueueStats) Run(ctx context.Context, every time.Duration, onError func(error)) {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
