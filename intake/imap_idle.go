package intake

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/emersion/go-imap/v2"
)

// maxIdle bounds one IDLE: servers may drop a client idle for 30 minutes
// (RFC 2177 §3 asks clients to re-issue IDLE at least every 29), and a
// connection silently dead behind a NAT is only found out by talking.
const maxIdle = 25 * time.Minute

// errConnClosed: the server (or the network) closed the connection while
// we waited.
var errConnClosed = errors.New("imap: connection closed while waiting")

// wait blocks until there may be new mail: an EXISTS during IDLE (or in any
// response), an ack, the poll interval, or ctx. With IDLE the timer is the
// safety net and the watchdog: when it fires the IDLE is ended and a NOOP
// must be answered within CommandTimeout, or the connection is dropped.
func (s *IMAPSource) wait(ctx context.Context) error {
	s.mu.Lock()
	conn := s.conn
	useIdle := conn != nil && s.opts.IDLE && conn.caps.Has(imap.CapIdle) && !conn.noIdle
	if useIdle {
		// IDLE reports on the selected folder only.
		if err := s.selectLocked(ctx, conn); err != nil {
			s.dropLocked(err)
			s.mu.Unlock()
			return err
		}
		// Mail that arrived between the scan's STATUS and this SELECT is
		// reported in the SELECT answer, not during IDLE: look again now.
		if conn.validity != s.book.cursor.UIDValidity || (conn.uidNext > 0 && conn.uidNext-1 > s.book.scannedTo) {
			s.mu.Unlock()
			return nil
		}
		err := s.startIdleLocked(ctx, conn)
		if err != nil && !conn.broken {
			// Refused (NO/BAD) though advertised: poll on this connection.
			s.log.Warn().Err(err).Msg("imap: IDLE refused, polling instead")
			conn.noIdle, useIdle = true, false
		} else if err != nil {
			s.dropLocked(err)
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()

	d := s.opts.PollInterval
	if useIdle && d > maxIdle {
		d = maxIdle
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var closed <-chan struct{}
	if conn != nil {
		closed = conn.c.Closed()
	}
	var err error
	fired := false
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.closing:
		err = ErrSourceClosed
	case <-s.wake:
	case <-timer.C:
		fired = true
	case <-closed:
		err = errConnClosed
	}

	s.mu.Lock()
	defer s.unlock()
	// Items released without an ack may be offered again from now on.
	clear(s.book.abandoned)
	s.book.requeue()
	if s.conn != conn || conn == nil {
		return err // dropped (or replaced by an ack) meanwhile
	}
	if errors.Is(err, errConnClosed) {
		s.dropLocked(err)
		return err
	}
	s.stopIdleLocked()
	if s.conn == nil {
		return errors.Join(err, errors.New("imap: IDLE did not end cleanly"))
	}
	if fired && useIdle && err == nil {
		// Watchdog: after a long silence, prove the connection is alive.
		if nerr := conn.await(ctx, "NOOP", s.opts.CommandTimeout, func() error { return conn.c.Noop().Wait() }); nerr != nil {
			s.dropLocked(nerr)
			return nerr
		}
	}
	return err
}

// startIdleLocked enters IDLE (RFC 2177). go-imap re-issues it every 28
// minutes by itself; our wait ends it sooner anyway.
func (s *IMAPSource) startIdleLocked(ctx context.Context, conn *imapConn) error {
	return conn.await(ctx, "IDLE", s.opts.CommandTimeout, func() error {
		idle, err := conn.c.Idle()
		if err == nil {
			conn.idle = idle
			s.metricIdle(true)
		}
		return err
	})
}

// stopIdleLocked ends a running IDLE (DONE) and waits for the server's OK.
// It does not depend on the caller's ctx: the connection must be left in a
// known state, or dropped.
func (s *IMAPSource) stopIdleLocked() {
	conn := s.conn
	if conn == nil || conn.idle == nil {
		return
	}
	idle := conn.idle
	conn.idle = nil
	s.metricIdle(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
	defer cancel()
	err := conn.await(ctx, "DONE", 0, func() error {
		if err := idle.Close(); err != nil {
			return err
		}
		return idle.Wait()
	})
	if err != nil {
		s.dropLocked(err)
	}
}

// backoff waits before the next attempt after a failure: MinBackoff doubled
// at each consecutive failure up to MaxBackoff, with ±20 % jitter so that
// replicas do not hammer a recovering server in step.
func (s *IMAPSource) backoff(ctx context.Context, cause error) error {
	s.failures++
	s.notePollFailed(cause)
	d := s.opts.MinBackoff
	for i := 1; i < s.failures && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	s.log.Warn().Err(cause).Int("attempt", s.failures).Dur("retry_in", d).Msg("imap: failure, retrying")
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrSourceClosed
	case <-t.C:
		return nil
	}
}
