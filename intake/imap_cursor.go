package intake

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/emersion/go-imap/v2"
)

// Cursor is where an IMAP source stands in its folder: every message with a
// UID up to LastUID (under this UIDVALIDITY) has been acked. A zero Cursor
// means "take everything" — safe, since the pipeline deduplicates by raw
// SHA-256 and Message-ID.
type Cursor struct {
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
}

// CursorStore keeps cursors between runs, keyed by source id, with
// optimistic concurrency: the storage package implements it over the bucket
// (state/…, conditional writes).
type CursorStore interface {
	// Get returns the stored cursor and its version. A source never stored
	// returns the zero Cursor, version "" and no error.
	Get(ctx context.Context, sourceID string) (c Cursor, version string, err error)
	// Put stores c if the stored version is still version ("" = must not
	// exist yet) and returns the new version. When another writer got
	// there first it fails with an error matching ErrCursorConflict.
	Put(ctx context.Context, sourceID string, c Cursor, version string) (newVersion string, err error)
}

// ErrCursorConflict: a CursorStore.Put lost a race with another writer.
var ErrCursorConflict = errors.New("intake: cursor changed by another writer")

// uidBook is the source's memory of its folder between scans. Invariants:
// every UID in unacked is above cursor.LastUID; the cursor never passes an
// unacked UID, so a message taken but never acked is taken again after a
// restart.
type uidBook struct {
	loaded    bool
	cursor    Cursor   // in memory, possibly ahead of the stored one (see cursorWriter)
	scannedTo imap.UID // every UID up to here was seen by a scan (or is ≤ the cursor)

	unacked   map[imap.UID]struct{} // found by a scan, not acked (includes in flight)
	inflight  map[imap.UID]*imapFlight
	abandoned map[imap.UID]struct{} // released without ack: offered again after the next wait
	acked     map[imap.UID]struct{} // acked, above the cursor
	queue     []imap.UID            // unacked, not in flight, not abandoned, ascending
}

func (b *uidBook) init() {
	b.unacked = make(map[imap.UID]struct{})
	b.inflight = make(map[imap.UID]*imapFlight)
	b.abandoned = make(map[imap.UID]struct{})
	b.acked = make(map[imap.UID]struct{})
	b.queue = nil
}

// reset starts over under a new UIDVALIDITY: old UIDs mean nothing now
// (RFC 9051 §2.3.1.1). Items in flight keep their old UIDVALIDITY, so their
// acks are refused.
func (b *uidBook) reset(validity uint32) {
	b.init()
	b.cursor = Cursor{UIDValidity: validity}
	b.scannedTo = 0
}

// found records a scan: uids are the folder's messages above the cursor not
// flagged done, last the highest UID the server had allocated before the
// search (UIDNEXT-1).
func (b *uidBook) found(uids []imap.UID, last imap.UID) {
	unacked := make(map[imap.UID]struct{}, len(uids))
	for _, uid := range uids {
		// "UID SEARCH UID n:*" always matches the last message, even below n
		// (RFC 9051 §6.4.4, "*" is the largest UID in use): filter.
		if uint32(uid) <= b.cursor.LastUID {
			continue
		}
		if _, ok := b.acked[uid]; ok {
			continue
		}
		unacked[uid] = struct{}{}
		last = max(last, uid)
	}
	// A message in flight stays unacked even if it vanished: its ack
	// decides. Anything else no longer there was taken away by someone
	// else and is no concern of ours.
	for uid := range b.inflight {
		unacked[uid] = struct{}{}
	}
	b.unacked = unacked
	b.scannedTo = max(b.scannedTo, last)
	b.requeue()
}

// requeue rebuilds the queue from unacked.
func (b *uidBook) requeue() {
	b.queue = b.queue[:0]
	for uid := range b.unacked {
		if _, ok := b.inflight[uid]; ok {
			continue
		}
		if _, ok := b.abandoned[uid]; ok {
			continue
		}
		b.queue = append(b.queue, uid)
	}
	slices.Sort(b.queue)
}

// retryable reports whether some unacked message is waiting to be offered
// (not in flight, not held back): then a scan must search even if no new
// UID was allocated.
func (b *uidBook) retryable() bool {
	for uid := range b.unacked {
		_, fl := b.inflight[uid]
		_, ab := b.abandoned[uid]
		if !fl && !ab {
			return true
		}
	}
	return false
}

// done records the acks of a batch, then advances the cursor once.
func (b *uidBook) done(uids ...imap.UID) {
	for _, uid := range uids {
		delete(b.unacked, uid)
		delete(b.inflight, uid)
		delete(b.abandoned, uid)
		b.acked[uid] = struct{}{}
	}
	b.advance()
}

// gone records that a message vanished before we could take it.
func (b *uidBook) gone(uid imap.UID) {
	delete(b.unacked, uid)
	delete(b.abandoned, uid)
	b.advance()
}

// advance moves the cursor as far as it safely can: up to what scans have
// covered, and below the lowest unacked UID.
func (b *uidBook) advance() {
	to := b.scannedTo
	for uid := range b.unacked {
		if uid-1 < to {
			to = uid - 1
		}
	}
	if uint32(to) > b.cursor.LastUID {
		b.cursor.LastUID = uint32(to)
	}
	for uid := range b.acked {
		if uint32(uid) <= b.cursor.LastUID {
			delete(b.acked, uid)
		}
	}
}

// loadLocked reads the stored cursor once.
func (s *IMAPSource) loadLocked(ctx context.Context) error {
	if s.book.loaded {
		return nil
	}
	c, version, err := s.cursors.Get(ctx, s.id)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	s.book.cursor = c
	s.book.scannedTo = imap.UID(c.LastUID)
	s.book.loaded = true
	s.validity.Store(c.UIDValidity)
	s.cw.loaded(c, version)
	return nil
}

// scanLocked looks for new messages: first the cheap STATUS (UIDNEXT
// UIDVALIDITY) with the folder unselected, so that a folder with nothing new
// costs one command (two if it was selected); then SELECT and UID SEARCH
// above the cursor, leaving out messages already flagged done.
func (s *IMAPSource) scanLocked(ctx context.Context, conn *imapConn) error {
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	b := &s.book
	if err := s.unselectLocked(ctx, conn); err != nil {
		return err
	}
	var st *imap.StatusData
	err := conn.await(ctx, "STATUS", s.opts.CommandTimeout, func() error {
		var err error
		st, err = conn.c.Status(s.opts.Folder, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
		return err
	})
	if err != nil {
		return err
	}
	if st.UIDValidity != b.cursor.UIDValidity {
		if b.cursor.UIDValidity != 0 {
			// The folder was recreated or the server renumbered it: take
			// everything again, deduplication sorts it out.
			s.log.Warn().Uint32("uidvalidity", st.UIDValidity).Uint32("old_uidvalidity", b.cursor.UIDValidity).Msg("imap: UIDVALIDITY changed, cursor reset")
		}
		b.reset(st.UIDValidity)
		s.validity.Store(st.UIDValidity)
		s.noteCursorLocked()
	}
	var last imap.UID
	if st.UIDNext > 0 {
		last = st.UIDNext - 1
		if last <= b.scannedTo && !b.retryable() {
			return nil
		}
	}
	if b.cursor.LastUID == math.MaxUint32 {
		return nil
	}
	if conn.selected && conn.validity != st.UIDValidity {
		conn.selected = false // still selected (no UNSELECT) under the old one
	}
	if err := s.selectLocked(ctx, conn); err != nil {
		return err
	}
	if conn.validity != st.UIDValidity {
		return fmt.Errorf("UIDVALIDITY changed between STATUS (%d) and SELECT (%d)", st.UIDValidity, conn.validity)
	}

	criteria := &imap.SearchCriteria{
		UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(b.cursor.LastUID + 1), Stop: 0}}},
		// Both keywords in both modes: with "move" they mark what a server
		// without UIDPLUS left \Deleted but could not expunge.
		NotFlag: []imap.Flag{imap.Flag(s.opts.Keyword), imap.Flag(s.opts.QuarantineKeyword)},
	}
	var uids []imap.UID
	err = conn.await(ctx, "UID SEARCH", s.opts.CommandTimeout, func() error {
		data, err := conn.c.UIDSearch(criteria, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	})
	if err != nil {
		return err
	}
	b.found(uids, last)
	b.advance()
	s.noteCursorLocked()
	return nil
}
