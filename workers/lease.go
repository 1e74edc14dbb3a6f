package workers

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// Leases: one replica at a time polls a source (storage.Leases,
// state/leases/<source>). The holder renews every third of the TTL and
// stops polling as soon as a renewal says the lease is lost, or when it
// could not renew before the lease would expire; a waiting replica looks
// every eighth of the TTL, so it takes over within one lease period of the
// holder's last renewal when the holder dies.

// keptLease is what keepLease hands back: the lease to release, and whether
// it was still held.
type keptLease struct {
	lease storage.Lease
	ok    bool
}

// acquireLease waits until this replica holds the lease of source, or ctx
// ends.
func (p *Pipeline) acquireLease(ctx context.Context, source string, log zerolog.Logger) (storage.Lease, error) {
	ttl := p.o.LeaseTTL
	for {
		l, err := p.leases.Acquire(ctx, source, p.o.Holder, ttl)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return storage.Lease{}, ctx.Err()
		}
		if !errors.Is(err, storage.ErrLeaseHeld) {
			log.Warn().Err(err).Msg("lease: bucket error, will try again")
		}
		if !sleep(ctx, ttl/8+rand.N(ttl/16+1)) {
			return storage.Lease{}, ctx.Err()
		}
	}
}

// keepLease renews l every third of the TTL until done is closed, and returns
// the lease to release (ok false when it was lost). lost is called once, as
// soon as the lease is lost: taken over, released by someone else, or not
// renewed before the last tenth of its life.
func (p *Pipeline) keepLease(l storage.Lease, done <-chan struct{}, lost func(), log zerolog.Logger) (storage.Lease, bool) {
	ttl := p.o.LeaseTTL
	next := ttl / 3
	for {
		t := time.NewTimer(next)
		select {
		case <-done:
			t.Stop()
			return l, true
		case <-t.C:
		}
		// A renewal answered after the lease expired proves nothing.
		ctx, cancel := context.WithDeadline(context.Background(), l.Expires)
		nl, err := p.leases.Renew(ctx, l, ttl)
		cancel()
		switch {
		case err == nil:
			l, next = nl, ttl/3
		case errors.Is(err, storage.ErrLeaseLost) || !p.o.Now().Before(l.Expires.Add(-ttl/10)):
			log.Warn().Err(err).Msg("lease lost, polling stops")
			lost()
			return l, false
		default:
			log.Warn().Err(err).Msg("lease renewal failed, trying again")
			next = ttl / 10
		}
	}
}

// releaseLease gives a held lease up, so another replica takes over at once.
// It has its own short deadline: it runs during shutdown.
// level is that of the success message (the recovery lease, taken every
// minute, is not worth an info line).
func (p *Pipeline) releaseLease(l storage.Lease, log zerolog.Logger, level zerolog.Level) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.leases.Release(ctx, l); err != nil {
		log.Warn().Err(err).Msg("lease not released; it will expire")
		return
	}
	log.WithLevel(level).Msg("lease released")
}
