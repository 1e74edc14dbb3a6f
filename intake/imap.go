package intake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// The IMAP source: one mailbox folder of one account, read by UID against a
// stored cursor, each message spooled to disk and yielded with an ack that
// moves it (or flags it) at the server once its raw bytes are stored.
// arrêté 2023-08-01 art. 4: the prefecture's dedicated email address is one
// of the two substitute filing routes.
//
// Files: imap.go (Next, Close), imap_options.go (options and defaults),
// imap_dial.go (TLS, authentication),
// imap_cursor.go (cursor, scan), imap_fetch.go (streaming fetch to the
// spool), imap_ack.go (acks coalesced into batches), imap_ackconn.go (the
// acks' own connection), imap_postaction.go
// (the batch's commands: move or keyword), imap_idle.go (IDLE, polling,
// watchdog, backoff), imap_cursorstore.go (cursors in the bucket, written
// outside the connection's lock),
// imap_metrics.go (connection and IDLE gauges, reconnects, readiness),
// xoauth2.go (the XOAUTH2 SASL client). Tests run against imapmemserver and
// a real Dovecot (package imaptest).

// Errors of the IMAP source.
var (
	// ErrOversize: the message is over MaxMessageSize and was not
	// downloaded. An oversize item's Open returns a *PermanentError with
	// Limit "message_size" wrapping ErrOversize; the worker quarantines it
	// and acks it Quarantined, which moves it to the quarantine folder.
	ErrOversize = errors.New("message over the size limit")
	// ErrUIDValidityChanged: the folder's UIDVALIDITY changed after the item
	// was taken, so its UID may now name another message; the ack did
	// nothing. The message is offered again under the new UIDVALIDITY (the
	// pipeline deduplicates it).
	ErrUIDValidityChanged = errors.New("imap: UIDVALIDITY changed")
	// ErrSourceClosed is returned by Next after Close.
	ErrSourceClosed = errors.New("intake: source closed")
)

// IMAPSource reads one IMAP folder. Next is called by one goroutine at a
// time; acks and releases may come from other goroutines. It implements
// Source.
type IMAPSource struct {
	opts    IMAPOptions
	id      string
	cursors CursorStore
	log     zerolog.Logger

	wake      chan struct{} // new mail, or an ack ended IDLE: look again
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex // the connection and the book; held for every command
	conn     *imapConn  // nil when disconnected
	book     uidBook
	meta     metaCache  // metadata fetched ahead (imap_fetch.go)
	failures int        // consecutive failed attempts, for the backoff (Next only)
	health   imapHealth // for metrics and readiness (imap_metrics.go)

	cw   cursorWriter // the book's cursor on its way to the store
	acks ackQueue     // acks waiting for the ack connection (imap_ack.go)

	// The ack connection (imap_ackconn.go). Lock order: ackMu, then mu.
	ackMu   sync.Mutex // held for every command on ackConn
	ackConn *imapConn  // nil until the first ack, or after a failure
	acked   ackedQueue // acked at the server, not yet in the book
	// validity mirrors book.cursor.UIDValidity for the ack flusher, which
	// does not take mu.
	validity atomic.Uint32

	// wrapConn, when set (tests), wraps the TCP connection of each dial:
	// the tests count the commands on the wire.
	wrapConn func(net.Conn) net.Conn
}

var _ Source = (*IMAPSource)(nil)

// NewIMAP checks opts and returns a source; it does not connect (the first
// Next does). cursors keeps the {UIDVALIDITY, last UID} cursor between runs.
func NewIMAP(opts IMAPOptions, cursors CursorStore) (*IMAPSource, error) {
	if cursors == nil {
		return nil, errors.New("imap: no cursor store")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &IMAPSource{
		opts:    opts,
		id:      "imap:" + opts.Name + "/" + opts.Folder,
		cursors: cursors,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	s.log = opts.Logger.With().Str("source", s.id).Logger()
	s.book.init()
	s.acks.max = ackBatchMax
	s.metricOpened()
	return s, nil
}

// ID is the source id carried by every item: "imap:<Name>/<Folder>".
func (s *IMAPSource) ID() string { return s.id }

// Next returns the next message of the folder, waiting for one (IDLE or
// polling) as long as ctx allows. Connection failures are retried here
// with capped exponential backoff and logged; Next returns an error only
// when ctx is done or the source is closed.
//
// The item's Open reads the spooled copy; Release deletes it and, if the
// item was not acked, lets the message be offered again after the next
// wait. The Ack moves (or flags) the message; see IMAPSource.ack.
func (s *IMAPSource) Next(ctx context.Context) (Item, Ack, error) {
	for {
		select {
		case <-s.closing:
			return Item{}, nil, ErrSourceClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return Item{}, nil, err
		}
		item, ack, ok, err := s.take(ctx)
		if err == nil {
			s.notePolled()
		}
		if err == nil && ok {
			s.failures = 0
			return item, ack, nil
		}
		if err == nil {
			s.failures = 0
			err = s.wait(ctx)
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return Item{}, nil, ctx.Err()
		}
		if errors.Is(err, ErrSourceClosed) {
			return Item{}, nil, err
		}
		if err := s.backoff(ctx, err); err != nil {
			return Item{}, nil, err
		}
	}
}

// take connects if needed, scans when nothing is queued, and downloads the
// first queued message. ok is false when the folder has nothing new. A
// cursor moved by the scan is written once the connection is free.
func (s *IMAPSource) take(ctx context.Context) (Item, Ack, bool, error) {
	s.mu.Lock()
	s.applyAckedLocked()
	item, ack, ok, err := s.takeLocked(ctx)
	s.unlock()
	s.persist(ctx, false)
	return item, ack, ok, err
}

func (s *IMAPSource) takeLocked(ctx context.Context) (Item, Ack, bool, error) {
	conn, err := s.connLocked(ctx)
	if err != nil {
		return Item{}, nil, false, err
	}
	scanned := false
	for {
		if len(s.book.queue) == 0 {
			if scanned {
				return Item{}, nil, false, nil
			}
			if err := s.scanLocked(ctx, conn); err != nil {
				if conn.broken {
					s.dropLocked(err)
				}
				return Item{}, nil, false, err
			}
			scanned = true
			continue
		}
		// The queue was built under the book's UIDVALIDITY: after a
		// reconnection, make sure the folder still has it.
		if err := s.selectLocked(ctx, conn); err != nil {
			if conn.broken {
				s.dropLocked(err)
			}
			return Item{}, nil, false, err
		}
		if conn.validity != s.book.cursor.UIDValidity {
			if scanned {
				return Item{}, nil, false, fmt.Errorf("imap: UIDVALIDITY changing under us (%d, then %d)", s.book.cursor.UIDValidity, conn.validity)
			}
			s.book.queue = nil // the scan will reset the book
			continue
		}
		uid := s.book.queue[0]
		s.book.queue = s.book.queue[1:]
		item, ack, found, err := s.fetchLocked(ctx, conn, uid)
		switch {
		case err != nil && conn.broken:
			s.dropLocked(err)
			return Item{}, nil, false, err
		case err != nil:
			// The server refused this one message (NO): try the others,
			// and this one again after the next wait.
			s.book.abandoned[uid] = struct{}{}
			s.log.Warn().Err(err).Uint32("uid", uint32(uid)).Msg("imap: message not fetched, will retry")
			continue
		case !found:
			s.book.gone(uid) // expunged by someone else meanwhile
			s.noteCursorLocked()
			continue
		}
		return item, ack, true, nil
	}
}

// Close ends the source: a Next waiting in IDLE returns ErrSourceClosed, the
// connection is logged out, and the cursor is written if it moved. Items
// already yielded may still be acked (on a new connection).
func (s *IMAPSource) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.ackMu.Lock()
	s.closeAckConnLocked()
	s.ackMu.Unlock()
	s.mu.Lock()
	defer s.unlock()
	s.applyAckedLocked()
	s.stopIdleLocked()
	// Not an else: ending IDLE on a broken connection drops it.
	if s.conn != nil {
		s.conn.logout(s.opts.CommandTimeout)
		s.conn = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
	defer cancel()
	s.noteCursorLocked()
	s.persist(ctx, true)
	s.metricClosed()
	return nil
}

// poke wakes a Next waiting for mail, without blocking.
func (s *IMAPSource) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
