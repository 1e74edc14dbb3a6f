package intake

import (
	"context"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// Acks run on a connection of their own: a download (or a scan) holds the
// main connection for as long as a body takes to arrive, and a UID MOVE
// waiting behind it made every worker wait too. On its own connection the
// batch's commands run while Next downloads, and acks queue meanwhile, so
// batches grow. The main connection's view then receives EXPUNGEs for the
// moved messages: harmless, since the source names messages by UID only
// (stable under one UIDVALIDITY), never by sequence number.
//
// The ack connection has the folder selected (UID MOVE, UID STORE and UID
// EXPUNGE act on the selected mailbox); it is dialed on the first ack,
// dialed again after a failure, and logged out by Close.
//
// The book stays under the main lock (IMAPSource.mu), which a download
// holds: a batch does not wait for it. Its acked flights are handed over
// (ackedQueue) and put into the book by whoever holds the main lock when
// it next lets go (IMAPSource.unlock), or at once by the flusher when the
// lock is free.

// ackedQueue holds flights acked at the server, not yet in the book.
type ackedQueue struct {
	mu  sync.Mutex
	fls []*imapFlight
}

func (q *ackedQueue) add(fls []*imapFlight) {
	q.mu.Lock()
	q.fls = append(q.fls, fls...)
	q.mu.Unlock()
}

func (q *ackedQueue) takeAll() []*imapFlight {
	q.mu.Lock()
	defer q.mu.Unlock()
	fls := q.fls
	q.fls = nil
	return fls
}

func (q *ackedQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.fls) == 0
}

// recordAcked hands a batch's acked flights to the book: now if the main
// lock is free, else its holder does it as it lets go.
func (s *IMAPSource) recordAcked(fls []*imapFlight) {
	if len(fls) == 0 {
		return
	}
	s.acked.add(fls)
	if s.mu.TryLock() {
		s.unlock()
	}
}

// applyAckedLocked puts the acked flights into the book and notes the
// cursor; false when there were none. A flight from before a UIDVALIDITY
// change is left out: its UID means nothing in the new book.
func (s *IMAPSource) applyAckedLocked() bool {
	fls := s.acked.takeAll()
	var uids []imap.UID
	for _, fl := range fls {
		if fl.validity == s.book.cursor.UIDValidity {
			uids = append(uids, fl.uid)
		}
	}
	if len(uids) > 0 {
		s.book.done(uids...)
		s.noteCursorLocked()
	}
	return len(fls) > 0
}

// unlock releases the main lock, first putting into the book the acks
// that finished while it was held (their flusher could not take it). An
// ack recorded just as the lock was let go is applied here too, unless
// someone else took the lock: then that one applies it. The cursor moved
// by those acks is written in the background.
func (s *IMAPSource) unlock() {
	for {
		applied := s.applyAckedLocked()
		s.mu.Unlock()
		if applied {
			s.persistLater()
		}
		if s.acked.empty() || !s.mu.TryLock() {
			return
		}
	}
}

// ackConnLocked returns the live ack connection, or dials a new one.
// Called with ackMu held.
func (s *IMAPSource) ackConnLocked(ctx context.Context) (*imapConn, error) {
	if c := s.ackConn; c != nil {
		cause := c.deadCause()
		if cause == nil {
			return c, nil
		}
		s.dropAckLocked(cause)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.ackConn = conn
	s.log.Debug().Msg("imap: ack connection opened")
	return conn, nil
}

// dropAckLocked forgets the ack connection after a failure.
func (s *IMAPSource) dropAckLocked(cause error) {
	if s.ackConn == nil {
		return
	}
	s.ackConn.c.Close()
	s.ackConn = nil
	s.log.Warn().Err(cause).Msg("imap: ack connection dropped")
}

// closeAckConnLocked logs the ack connection out.
func (s *IMAPSource) closeAckConnLocked() {
	if s.ackConn == nil {
		return
	}
	s.ackConn.logout(s.opts.CommandTimeout)
	s.ackConn = nil
}

// syncViewLocked makes sure the ack connection's view of the folder holds
// every message of the batch. A session learns of messages delivered after
// its SELECT only when the server next reports changes to it, and a UID
// beyond its view is, for the server, no message at all: Dovecot answers
// "OK" to a UID MOVE or UID STORE of it and does nothing (RFC 9051 §6.4.9:
// a UID set naming no message is not an error). Every message of the batch
// was fetched by the main connection, so it existed before this NOOP,
// after which the view holds it (or it was expunged meanwhile).
func (s *IMAPSource) syncViewLocked(ctx context.Context, conn *imapConn, rs []*ackReq) error {
	var top imap.UID
	for _, r := range rs {
		top = max(top, r.fl.uid)
	}
	if top < conn.uidNext {
		return nil
	}
	if err := conn.await(ctx, "NOOP", s.opts.CommandTimeout, func() error { return conn.c.Noop().Wait() }); err != nil {
		return err
	}
	conn.uidNext = top + 1
	return nil
}

// closed reports whether Close was called.
func (s *IMAPSource) closed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}
