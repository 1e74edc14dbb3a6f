package workers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// ErrShutdownTimeout: the orderly shutdown did not finish within
// ShutdownTimeout. Steps still running were cancelled; their items were not
// acknowledged and will be taken again (from the source, or by recovery).
var ErrShutdownTimeout = errors.New("workers: shutdown deadline passed, items in flight left for later")

// releaseGrace is how long Run still waits, once the deadline cancelled the
// steps in flight, for the pollers to close their sources and release their
// leases (each release has its own short deadline).
const releaseGrace = 3 * time.Second

// Run starts the pollers (one per source, each under its lease), the
// processing pool and the recovery scan, and blocks until ctx ends. It then
// shuts down in the order of STYLE.md:
//
//  1. stop polling: every Next is cancelled (a message being downloaded is
//     dropped from the spool, not acknowledged: it stays at the source);
//  2. finish the items in flight: their steps run to the end with their
//     acknowledgment, on a context that outlives ctx; an item waiting to
//     retry gives up instead and is not acknowledged;
//  3. flush: each source is closed once its items are acknowledged, which
//     writes its cursor;
//  4. release the leases, so that another replica takes over at once;
//  5. return, letting the caller close its clients.
//
// ShutdownTimeout caps steps 2 to 4: past it, the steps still running are
// cancelled and Run returns ErrShutdownTimeout. A second signal is the
// caller's business (serve exits at once).
func (p *Pipeline) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := make(chan struct{})
	pool := startPool(p.o.PoolSize, workCtx, stop)

	var pollers sync.WaitGroup
	ids := make([]string, 0, len(p.sources))
	for id := range p.sources {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			p.poll(ctx, p.sources[id], pool)
		}()
	}
	pollers.Add(1)
	go func() {
		defer pollers.Done()
		p.recoverLoop(ctx, pool)
	}()
	go p.gaugeLoop(ctx)
	p.log.Info().Int("sources", len(ids)).Int("pool", p.o.PoolSize).Msg("pipeline started")

	<-ctx.Done()
	p.log.Info().Msg("shutdown: polling stopped, finishing items in flight")
	close(stop)
	finished := make(chan struct{})
	go func() {
		pollers.Wait() // each poller: items acked, source closed, lease released
		pool.close()
		pool.wait()
		close(finished)
	}()
	deadline := time.NewTimer(p.o.ShutdownTimeout)
	defer deadline.Stop()
	select {
	case <-finished:
		p.log.Info().Msg("shutdown complete")
		return nil
	case <-deadline.C:
	}
	p.log.Warn().Dur("timeout", p.o.ShutdownTimeout).Msg("shutdown deadline passed, cancelling items in flight")
	cancelWork()
	select {
	case <-finished:
	case <-time.After(releaseGrace):
	}
	return ErrShutdownTimeout
}
