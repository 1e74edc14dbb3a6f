package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// Crash recovery. A raw object with neither a done marker nor a quarantine
// entry (storage.Raws.Pending) is an item whose processing stopped between
// "raw stored" and "dossier written": a crash, a shutdown deadline, or a
// message moved away at its source before it was acknowledged. The scan runs
// at start and every RecoverEvery, under a lease so that one replica at a
// time does it, and only takes objects older than RecoverGrace, so that it
// does not redo what a poller is doing right now (redoing would be safe,
// only wasted).

// recoveryLease is the lease name of the recovery scan; source ids have a
// "kind:" prefix of their own, so they cannot collide with it.
const recoveryLease = "workers:recovery"

// maxRecoverBatch bounds the shas one scan collects before processing them.
const maxRecoverBatch = 1000

// processRaw processes a stored raw item read back from the bucket.
func (p *Pipeline) processRaw(ctx context.Context, stop <-chan struct{}, sha string, reprocess bool) (Result, error) {
	meta, err := p.raws.Head(ctx, sha)
	if err != nil {
		return Result{}, err
	}
	open := func() (io.ReadCloser, error) {
		rc, _, err := p.raws.Open(ctx, sha)
		return rc, err
	}
	log := p.log.With().Str("source", meta.Source).Str("site", meta.Coordinates[CoordSite]).Logger()
	j, err := p.newJob(meta, open, stop, log)
	if err != nil {
		return p.quarantine(ctx, stop, &job{sha: sha, source: meta.Source, log: log.With().Str("raw", sha).Logger()}, err)
	}
	j.reprocess = reprocess
	return p.runJob(ctx, j)
}

// Reprocess processes a raw item again on a supervisor's request, in the
// caller's goroutine. An item in quarantine (typically after a fix) is
// processed as new: its entry is removed if dossiers result, updated (one
// more attempt) if it fails again. An item already registered is
// re-evaluated: the evidence search and the proposed decision of its
// dossiers run again (reevaluate.go); they keep their numbers. A duplicate
// is reported as such.
func (p *Pipeline) Reprocess(ctx context.Context, sha string) (Result, error) {
	if err := storage.CheckSHA256(sha); err != nil {
		return Result{}, fmt.Errorf("reprocess: %w", err)
	}
	d, err := p.raws.GetDone(ctx, sha)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Result{}, fmt.Errorf("reprocess %s: %w", sha, err)
	}
	var res Result
	if err == nil && reevaluable(d) {
		res, err = p.reevaluateRaw(ctx, sha)
	} else {
		res, err = p.processRaw(ctx, ctx.Done(), sha, true)
	}
	if err != nil {
		return Result{}, fmt.Errorf("reprocess %s: %w", sha, err)
	}
	return res, nil
}

// reevaluateRaw re-evaluates the dossiers of a stored raw item, with the
// retries of any item (but no quarantine: the dossiers stay as they were).
func (p *Pipeline) reevaluateRaw(ctx context.Context, sha string) (Result, error) {
	meta, err := p.raws.Head(ctx, sha)
	if err != nil {
		return Result{}, err
	}
	open := func() (io.ReadCloser, error) {
		rc, _, err := p.raws.Open(ctx, sha)
		return rc, err
	}
	j, err := p.newJob(meta, open, ctx.Done(), p.log.With().Str("source", meta.Source).Logger())
	if err != nil {
		return Result{}, err
	}
	if err := p.busy.lock(ctx, sha); err != nil {
		return Result{}, err
	}
	defer p.busy.unlock(sha)
	var res Result
	err = p.withRetry(ctx, ctx.Done(), j.source, j.log, func(ctx context.Context) error {
		var err error
		res, err = p.reevaluate(ctx, j)
		return err
	})
	return res, err
}

// ReprocessLater is Reprocess in the background, for the staff interface
// (web.Reprocessor): it checks that the raw item exists and returns; the
// work runs on its own context, at most PoolSize at a time. Asking again
// for an item already queued does nothing more.
func (p *Pipeline) ReprocessLater(ctx context.Context, sha string) error {
	if err := storage.CheckSHA256(sha); err != nil {
		return fmt.Errorf("reprocess: %w", err)
	}
	if _, err := p.raws.Head(ctx, sha); err != nil {
		return fmt.Errorf("reprocess %s: %w", sha, err)
	}
	p.mu.Lock()
	if p.queued == nil {
		p.queued = map[string]bool{}
		p.later = make(chan struct{}, p.o.PoolSize)
	}
	if p.queued[sha] {
		p.mu.Unlock()
		return nil
	}
	p.queued[sha] = true
	p.mu.Unlock()
	go func() {
		p.later <- struct{}{}
		defer func() {
			<-p.later
			p.mu.Lock()
			delete(p.queued, sha)
			p.mu.Unlock()
		}()
		res, err := p.Reprocess(context.Background(), sha)
		if err != nil {
			p.log.Warn().Err(err).Str("raw", sha).Msg("reprocess failed")
			return
		}
		p.log.Info().Str("raw", sha).Str("result", res.Result).Strs("dossiers", res.Numbers).Msg("reprocessed")
	}()
	return nil
}

// RecoverOnce runs one recovery scan in the caller's goroutine: every
// pending raw item stored before RecoverGrace ago is processed. It returns
// how many it processed. Run does this by itself; RecoverOnce is for tools
// and tests.
func (p *Pipeline) RecoverOnce(ctx context.Context) (int, error) {
	shas, err := p.pending(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sha := range shas {
		res, err := p.processRaw(ctx, ctx.Done(), sha, false)
		if err != nil {
			return n, fmt.Errorf("recover %s: %w", sha, err)
		}
		p.metrics.item(res.Source, res.Result)
		n++
	}
	return n, nil
}

// pending lists up to maxRecoverBatch pending raw items older than the grace.
func (p *Pipeline) pending(ctx context.Context) ([]string, error) {
	before := p.o.Now().Add(-p.o.RecoverGrace)
	var shas []string
	errFull := errors.New("batch full")
	err := p.raws.Pending(ctx, before, func(m storage.RawMeta) error {
		shas = append(shas, m.SHA256)
		if len(shas) >= maxRecoverBatch {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, fmt.Errorf("recovery scan: %w", err)
	}
	return shas, nil
}

// recoverLoop runs the recovery scan at start and every RecoverEvery, and
// counts the quarantine entries, until ctx ends.
func (p *Pipeline) recoverLoop(ctx context.Context, pool *pool) {
	for {
		if err := p.recoverPass(ctx, pool); err != nil && ctx.Err() == nil {
			p.log.Warn().Err(err).Msg("recovery scan failed, will try again")
		}
		if err := p.countQuarantine(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn().Err(err).Msg("cannot count the quarantine")
		}
		if p.o.RecoverEvery < 0 || !sleep(ctx, p.o.RecoverEvery) {
			return
		}
	}
}

// recoverPass scans once, if no other replica is scanning, and hands the
// pending items to the pool; it returns once they are processed.
func (p *Pipeline) recoverPass(ctx context.Context, pool *pool) error {
	l, err := p.leases.Acquire(ctx, recoveryLease, p.o.Holder, p.o.LeaseTTL)
	if errors.Is(err, storage.ErrLeaseHeld) {
		return nil // another replica is at it
	}
	if err != nil {
		return err
	}
	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	kept := make(chan keptLease, 1)
	go func() {
		l, ok := p.keepLease(l, done, cancel, p.log.With().Str("source", recoveryLease).Logger())
		kept <- keptLease{l, ok}
	}()
	defer func() {
		close(done)
		if k := <-kept; k.ok {
			p.releaseLease(k.lease, p.log.With().Str("source", recoveryLease).Logger(), zerolog.DebugLevel)
		}
	}()

	shas, err := p.pending(scanCtx)
	if err != nil {
		return err
	}
	if len(shas) > 0 {
		p.log.Info().Int("items", len(shas)).Msg("recovery: unfinished raw items found")
	}
	var wg sync.WaitGroup
	for _, sha := range shas {
		if !p.busy.tryLock(sha) {
			continue // being processed here right now
		}
		p.busy.unlock(sha)
		wg.Add(1)
		err := pool.submit(scanCtx, func(ctx context.Context, stop <-chan struct{}) {
			defer wg.Done()
			res, err := p.processRaw(ctx, stop, sha, false)
			if err != nil {
				p.log.Warn().Err(err).Str("raw", sha).Msg("recovery: item left for later")
				return
			}
			p.metrics.item(res.Source, res.Result)
		})
		if err != nil {
			wg.Done()
			break
		}
	}
	wg.Wait()
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
