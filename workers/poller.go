package workers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
)

// PollReporter is implemented by sources that poll by themselves inside
// Next (the IMAP source waits in IDLE or polls without returning while the
// folder is empty). The poller then reports their last successful poll as
// recevable_source_last_poll_success_timestamp_seconds; for other sources
// it reports when Next last returned an item.
type PollReporter interface {
	LastPollSuccess() time.Time
}

// poll runs one source for as long as ctx lasts: wait for its lease, poll
// while holding it, and start over when it is lost.
func (p *Pipeline) poll(ctx context.Context, src Source, pool *pool) {
	log := p.log.With().Str("source", src.ID).Str("site", src.Site).Logger()
	for {
		l, err := p.acquireLease(ctx, src.ID, log)
		if err != nil {
			return
		}
		log.Info().Msg("lease acquired, polling")
		p.pollLeased(ctx, src, l, pool, log)
		if ctx.Err() != nil {
			return
		}
	}
}

// pollLeased polls src while the lease l is held, then, in the shutdown
// order: stops taking items, waits for those in flight (acknowledged or
// released), closes the source (which writes its cursor), releases the
// lease. The source is closed before the lease is released so that the
// next holder reads the cursor this one wrote.
func (p *Pipeline) pollLeased(ctx context.Context, src Source, l storage.Lease, pool *pool, log zerolog.Logger) {
	p.metrics.LeaseHeld.WithLabelValues(src.ID, p.o.Holder).Set(1)
	defer p.metrics.LeaseHeld.DeleteLabelValues(src.ID, p.o.Holder)
	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	done := make(chan struct{})
	kept := make(chan keptLease, 1)
	go func() {
		l, ok := p.keepLease(l, done, cancelPoll, log)
		kept <- keptLease{l, ok}
	}()

	s, err := src.Open()
	if err != nil {
		p.metrics.SourcePollFailures.WithLabelValues(src.ID).Inc()
		log.Error().Err(err).Msg("cannot open the source")
	} else {
		p.watch(src.ID, s)
		var inflight sync.WaitGroup
		p.pollSource(pollCtx, src, s, pool, &inflight, log)
		inflight.Wait()
		p.unwatch(src.ID)
		if cerr := s.Close(); cerr != nil {
			log.Warn().Err(cerr).Msg("closing the source")
		}
	}
	close(done)
	if k := <-kept; k.ok {
		p.releaseLease(k.lease, log, zerolog.InfoLevel)
	}
	if err != nil {
		sleep(ctx, p.o.LeaseTTL) // do not spin on a source that cannot open
	}
}

// pollSource takes items from s and hands them to the pool until ctx ends.
func (p *Pipeline) pollSource(ctx context.Context, src Source, s intake.Source, pool *pool, inflight *sync.WaitGroup, log zerolog.Logger) {
	backoff := time.Second
	for {
		item, ack, err := s.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, intake.ErrSourceClosed) {
				return
			}
			p.metrics.SourcePollFailures.WithLabelValues(src.ID).Inc()
			log.Warn().Err(err).Dur("wait", backoff).Msg("poll failed")
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
		p.metrics.SourceLastPollSuccess.WithLabelValues(src.ID).SetToCurrentTime()
		it := &item
		p.track(src.ID, it)
		inflight.Add(1)
		err = pool.submit(ctx, func(wctx context.Context, stop <-chan struct{}) {
			defer inflight.Done()
			defer p.untrack(src.ID, it)
			defer release(item)
			p.handleItem(wctx, stop, src, item, ack)
		})
		if err != nil {
			// Lease lost or shutdown while waiting for a free worker: the
			// item was not stored, it stays at its source.
			release(item)
			p.untrack(src.ID, it)
			inflight.Done()
			return
		}
	}
}

func release(item intake.Item) {
	if item.Release != nil {
		item.Release()
	}
}

// track records an item taken and not yet acknowledged, for
// recevable_source_oldest_item_age_seconds.
func (p *Pipeline) track(source string, it *intake.Item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.oldest[source]
	if m == nil {
		m = map[*intake.Item]time.Time{}
		p.oldest[source] = m
	}
	at := it.ReceivedAt
	if at.IsZero() {
		at = p.o.Now()
	}
	m[it] = at
	p.updateAgeLocked(source)
}

func (p *Pipeline) untrack(source string, it *intake.Item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.oldest[source], it)
	p.updateAgeLocked(source)
}

func (p *Pipeline) updateAgeLocked(source string) {
	var oldest time.Time
	for _, at := range p.oldest[source] {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(p.o.Now().Sub(oldest).Seconds(), 0)
	}
	p.metrics.SourceOldestAge.WithLabelValues(source).Set(age)
}

// watch and unwatch keep the open sources, for the gauges refreshed by
// gaugeLoop.
func (p *Pipeline) watch(id string, s intake.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open = map[string]intake.Source{}
	}
	p.open[id] = s
	p.updateAgeLocked(id)
}

func (p *Pipeline) unwatch(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, id)
	p.metrics.SourceOldestAge.DeleteLabelValues(id)
}

// gaugeInterval is how often the time-based gauges are refreshed.
const gaugeInterval = 5 * time.Second

// gaugeLoop refreshes the ages of items waiting and the last poll times of
// sources that report them, until ctx ends.
func (p *Pipeline) gaugeLoop(ctx context.Context) {
	for sleep(ctx, gaugeInterval) {
		p.mu.Lock()
		for id, s := range p.open {
			p.updateAgeLocked(id)
			if r, ok := s.(PollReporter); ok {
				if t := r.LastPollSuccess(); !t.IsZero() {
					p.metrics.SourceLastPollSuccess.WithLabelValues(id).Set(float64(t.UnixNano()) / 1e9)
				}
			}
		}
		p.mu.Unlock()
	}
}
