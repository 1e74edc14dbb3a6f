package intake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"recevable/storage"
)

// BucketCursors is the CursorStore of production: the cursors kept in the
// bucket by storage.Cursors (state/cursors/<source>), with conditional
// writes.
type BucketCursors struct {
	Cursors storage.Cursors
	// Now stamps UpdatedAt; time.Now when nil.
	Now func() time.Time
}

var _ CursorStore = BucketCursors{}

// Get returns the stored cursor, or the zero Cursor and version "" for a
// source never polled.
func (b BucketCursors) Get(ctx context.Context, sourceID string) (Cursor, string, error) {
	c, etag, err := b.Cursors.Get(ctx, sourceID)
	if errors.Is(err, storage.ErrNotFound) {
		return Cursor{}, "", nil
	}
	if err != nil {
		return Cursor{}, "", err
	}
	return Cursor{UIDValidity: c.UIDValidity, LastUID: c.LastUID}, string(etag), nil
}

// Put writes the cursor if version is still the stored one; a lost race
// matches both ErrCursorConflict and the storage error.
func (b BucketCursors) Put(ctx context.Context, sourceID string, c Cursor, version string) (string, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	etag, err := b.Cursors.Put(ctx, sourceID, storage.Cursor{
		UIDValidity: c.UIDValidity, LastUID: c.LastUID, UpdatedAt: now().UTC(),
	}, storage.ETag(version))
	if storage.IsConflict(err) {
		return "", fmt.Errorf("%w: %w", ErrCursorConflict, err)
	}
	if err != nil {
		return "", err
	}
	return string(etag), nil
}

// cursorWriter carries the book's cursor to the CursorStore. It has its own
// locks, apart from the connection's: a write to the bucket takes as long
// as a few IMAP commands, and acks and takes must not wait for it (an ack
// batch's IMAP command runs while the previous batch's cursor is written).
//
// Lock order: IMAPSource.mu, then put, then mu. Nothing takes
// IMAPSource.mu while holding put or mu.
type cursorWriter struct {
	mu     sync.Mutex
	latest Cursor // the book's cursor when last noted (noteCursorLocked)
	seq    uint64 // bumped each time latest changes

	// bg counts the background writes started by persistLater (tests
	// wait for them before reading the store).
	bg sync.WaitGroup

	put     sync.Mutex // held for a whole write; guards the fields below
	stored  Cursor     // last written (or read)
	version string
	written uint64 // the seq that stored reflects; set with mu held too (dirty reads it)
}

// loaded records the cursor read from the store.
func (w *cursorWriter) loaded(c Cursor, version string) {
	w.put.Lock()
	defer w.put.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.latest, w.stored, w.version = c, c, version
	w.written = w.seq
}

// setWritten records that the store holds seq. Called with put held.
func (w *cursorWriter) setWritten(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written = seq
}

// dirty reports whether a noted cursor is not written yet.
func (w *cursorWriter) dirty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq > w.written
}

// noteCursorLocked hands the book's cursor to the writer. The book is
// guarded by the connection's lock; the writer reads only what was noted,
// so the bucket write can happen once that lock is released.
func (s *IMAPSource) noteCursorLocked() {
	w := &s.cw
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest != s.book.cursor {
		w.latest = s.book.cursor
		w.seq++
	}
}

// persist writes the last noted cursor if it is not written yet. With wait
// (Close) it waits for a write in progress, then writes what is newest;
// without, it leaves the work to the write in progress, which looks again
// before it ends. A failure is logged, not returned: the cursor is an
// optimisation (a lost one costs a rescan and deduplication, never a
// message), and the next call tries again.
//
// Never called with IMAPSource.mu held, except by Close.
func (s *IMAPSource) persist(ctx context.Context, wait bool) {
	w := &s.cw
	if !w.dirty() {
		return
	}
	if wait {
		w.put.Lock()
	} else if !w.put.TryLock() {
		return
	}
	for {
		ok := s.writeCursorPut(ctx)
		w.put.Unlock()
		// A note made while we held put, by a caller that then found put
		// taken, is ours to write.
		if !ok || !w.dirty() || !w.put.TryLock() {
			return
		}
	}
}

// persistLater writes the noted cursor in the background. Writes are
// coalesced: if one is in flight, it looks again before it ends and writes
// the latest noted cursor, so at most one write is in flight and the
// latest value wins. Close waits for it and writes the last one.
func (s *IMAPSource) persistLater() {
	if !s.cw.dirty() {
		return
	}
	s.cw.bg.Add(1)
	go func() {
		defer s.cw.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
		defer cancel()
		s.persist(ctx, false)
	}()
}

// writeCursorPut writes noted cursors until the store holds the latest;
// false when a write failed. Called with put held.
func (s *IMAPSource) writeCursorPut(ctx context.Context) bool {
	w := &s.cw
	for attempt := 0; ; {
		w.mu.Lock()
		c, seq := w.latest, w.seq
		w.mu.Unlock()
		if seq <= w.written {
			return true
		}
		if c == w.stored {
			w.setWritten(seq)
			continue
		}
		v, err := s.cursors.Put(ctx, s.id, c, w.version)
		if err == nil {
			w.stored, w.version = c, v
			w.setWritten(seq)
			attempt = 0
			continue
		}
		if !errors.Is(err, ErrCursorConflict) {
			s.log.Warn().Err(err).Msg("imap: cursor not written, will retry")
			return false
		}
		// Another writer (two replicas on one source: the lease should
		// prevent it). Re-read; keep the further of the two under the same
		// UIDVALIDITY, ours otherwise.
		if attempt++; attempt > 1 {
			return false
		}
		theirs, version, gerr := s.cursors.Get(ctx, s.id)
		if gerr != nil {
			s.log.Warn().Err(gerr).Msg("imap: cursor conflict, re-read failed")
			return false
		}
		s.log.Warn().Uint32("uidvalidity", theirs.UIDValidity).Uint32("last_uid", theirs.LastUID).Msg("imap: cursor written by another process")
		w.version, w.stored = version, theirs
		if theirs.UIDValidity == c.UIDValidity && theirs.LastUID >= c.LastUID {
			w.setWritten(seq)
		}
	}
}
