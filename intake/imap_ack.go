package intake

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
)

// Acks are coalesced (group commit). Workers ack concurrently while the
// source has one connection for acks (imap_ackconn.go): one UID MOVE and
// one cursor write per message made it the pipeline's serial bottleneck,
// and the server's cost of a MOVE grows with the folder, not with the
// number of UIDs moved. So an ack queues its request and waits; a flusher
// takes the ack connection, takes everything queued by then (what came
// while the previous command ran), sends one command per disposition for
// the whole batch, hands the connection over and releases the batch's
// callers, each with its own outcome. The cursor follows in the background
// (persistLater): a caller need not wait for the bucket, since the cursor
// only ever covers acked UIDs and a cursor lost in a crash costs a rescan
// that deduplication makes harmless.

// ackBatchMax caps the UIDs of one batch: the command line stays short
// even for scattered UIDs, and one refused command sends back at most this
// many messages to be offered again.
const ackBatchMax = 64

// ackQueue holds the acks waiting for the connection.
type ackQueue struct {
	max     int // UIDs per batch: ackBatchMax (tests and benchmarks lower it)
	mu      sync.Mutex
	pending []*ackReq
	// flushing: a flusher goroutine owns the next batch (it waits for the
	// connection or runs its commands); a new ack then only queues.
	flushing bool
}

// ackReq is one caller's ack, answered by closing done once err is set.
type ackReq struct {
	ctx  context.Context
	fl   *imapFlight
	d    Disposition
	err  error
	done chan struct{}
}

// ack is the Ack of an IMAP item. It must be called only once the raw bytes
// are stored (DESIGN.md, "Raw first"). Processed moves the message to
// ProcessedFolder (or sets Keyword), Quarantined to QuarantineFolder (or
// sets QuarantineKeyword); then the cursor advances. Never a plain delete:
// the message always survives in some folder of the account. It returns
// once this message's command is done, whatever other acks share the batch;
// the cursor is written after (Close writes the last one).
//
// An error means the message is still in the folder as it was (or, at
// worst, also copied to the target folder): it is offered again later and
// the pipeline deduplicates it. Acking twice is harmless. When ctx ends
// before the batch is sent the ack is withdrawn; once sent, the batch's
// outcome is awaited, so that an error keeps that meaning, and the batch
// gives up (dropping the connection) only when all its callers have.
func (s *IMAPSource) ack(ctx context.Context, fl *imapFlight, d Disposition) error {
	if d != Processed && d != Quarantined {
		return fmt.Errorf("imap ack uid %d: unknown disposition %v", fl.uid, d)
	}
	r := &ackReq{ctx: ctx, fl: fl, d: d, done: make(chan struct{})}
	q := &s.acks
	q.mu.Lock()
	q.pending = append(q.pending, r)
	start := !q.flushing
	q.flushing = true
	q.mu.Unlock()
	if start {
		go s.flushAcks()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
	}
	if q.withdraw(r) {
		return fmt.Errorf("imap ack uid %d: %w", fl.uid, ctx.Err())
	}
	<-r.done
	return r.err
}

// withdraw takes r out of the queue; false when a batch already has it.
func (q *ackQueue) withdraw(r *ackReq) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.pending, r)
	if i < 0 {
		return false
	}
	q.pending = slices.Delete(q.pending, i, i+1)
	return true
}

// take removes the next batch from the queue: up to q.max requests,
// one per UID (a second ack of a UID waits for the next batch, where the
// first one's outcome answers it). Requests whose caller already gave up
// are answered at once. An empty batch ends the flushing.
func (q *ackQueue) take() (batch, gaveUp []*ackReq) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uids := make(map[imap.UID]bool)
	rest := q.pending[:0]
	for _, r := range q.pending {
		switch {
		case r.ctx.Err() != nil:
			gaveUp = append(gaveUp, r)
		case len(batch) < q.max && !uids[r.fl.uid]:
			uids[r.fl.uid] = true
			batch = append(batch, r)
		default:
			rest = append(rest, r)
		}
	}
	clear(q.pending[len(rest):])
	q.pending = rest
	if len(batch) == 0 {
		q.flushing = false
	}
	return batch, gaveUp
}

// handOver lets the next batch start as soon as the connection is free:
// a new flusher if acks are queued, else the next ack starts one.
func (q *ackQueue) handOver(s *IMAPSource) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 {
		go s.flushAcks()
		return
	}
	q.flushing = false
}

// flushAcks runs one batch on the ack connection. The batch is taken once
// that connection's lock is held, so it holds everything that queued while
// the previous batch ran. The main connection is not needed: a download
// goes on meanwhile. The callers are released as soon as the commands are
// done; the book takes the result when the main lock is free, and the
// cursor is written in the background.
func (s *IMAPSource) flushAcks() {
	// The coalescing window, no timer: let the goroutines already runnable
	// queue first. Callers released together by the previous batch ack
	// again together; without this the first one would take an idle
	// connection alone (with four workers on Dovecot: 1.3 UIDs per MOVE
	// without, 2 with).
	runtime.Gosched()
	s.ackMu.Lock()
	batch, gaveUp := s.acks.take()
	for _, r := range gaveUp {
		r.err = fmt.Errorf("imap ack uid %d: %w", r.fl.uid, r.ctx.Err())
		close(r.done)
	}
	if len(batch) == 0 {
		s.ackMu.Unlock()
		return
	}
	ctx, cancel := batchContext(batch)
	defer cancel()
	acked := s.ackBatchLocked(ctx, batch)
	if s.closed() {
		// An ack after Close: do not leave the connection behind.
		s.closeAckConnLocked()
	}
	s.acks.handOver(s)
	s.ackMu.Unlock()
	s.recordAcked(acked) // whoever puts them into the book writes the cursor (unlock)
	s.poke()             // let a Next waiting for mail look again (released items)
	for _, r := range batch {
		close(r.done)
	}
}

// batchContext is the context of a batch's commands: it ends when every
// caller of the batch has given up, not before (one caller's deadline must
// not fail the others). The commands have their own timeouts.
func batchContext(batch []*ackReq) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, 0, len(batch))
	for _, r := range batch {
		stops = append(stops, context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// ackBatchLocked sends the batch's commands on the ack connection, sets
// each request's err and returns the flights acked. Called with ackMu held.
// The book records only the UIDs whose command succeeded: the cursor never
// passes a message that is neither acked nor gone.
func (s *IMAPSource) ackBatchLocked(ctx context.Context, batch []*ackReq) []*imapFlight {
	bookValidity := s.validity.Load()
	var live []*ackReq
	for _, r := range batch {
		fl := r.fl
		if fl.acked.Load() {
			continue
		}
		if fl.validity != bookValidity {
			r.err = fmt.Errorf("imap ack uid %d: taken under UIDVALIDITY %d, now %d: %w", fl.uid, fl.validity, bookValidity, ErrUIDValidityChanged)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return nil
	}
	fail := func(rs []*ackReq, err error) {
		for _, r := range rs {
			r.err = fmt.Errorf("imap ack uid %d (%v): %w", r.fl.uid, r.d, err)
		}
	}
	conn, err := s.ackConnLocked(ctx)
	if err != nil {
		fail(live, err)
		return nil
	}
	if conn.selected && conn.validity != bookValidity {
		conn.selected = false // the folder changed under it: select it again
	}
	if err := s.selectLocked(ctx, conn); err != nil {
		if conn.broken {
			s.dropAckLocked(err)
		}
		fail(live, err)
		return nil
	}
	if err := s.syncViewLocked(ctx, conn, live); err != nil {
		if conn.broken {
			s.dropAckLocked(err)
		}
		fail(live, err)
		return nil
	}
	// The server's UIDVALIDITY decides: under another one, the UID may name
	// another message (RFC 9051 §2.3.1.1).
	groups := map[Disposition][]*ackReq{}
	for _, r := range live {
		if conn.validity != r.fl.validity {
			r.err = fmt.Errorf("imap ack uid %d: taken under UIDVALIDITY %d, folder now %d: %w", r.fl.uid, r.fl.validity, conn.validity, ErrUIDValidityChanged)
			continue
		}
		groups[r.d] = append(groups[r.d], r)
	}
	var acked []*imapFlight
	var broken error
	for _, d := range []Disposition{Processed, Quarantined} {
		rs := groups[d]
		if len(rs) == 0 {
			continue
		}
		if broken != nil {
			fail(rs, broken)
			continue
		}
		uids := make([]imap.UID, len(rs))
		for i, r := range rs {
			uids[i] = r.fl.uid
		}
		done, err := s.postActionLocked(ctx, conn, uids, d)
		for _, r := range rs {
			if !done.Contains(r.fl.uid) {
				fail([]*ackReq{r}, err)
				continue
			}
			r.fl.acked.Store(true)
			acked = append(acked, r.fl)
			s.log.Info().Uint32("uid", uint32(r.fl.uid)).Uint32("uidvalidity", r.fl.validity).Str("disposition", d.String()).Msg("imap: message acked")
		}
		if err != nil && conn.broken {
			s.dropAckLocked(err)
			broken = err
		}
	}
	return acked
}
