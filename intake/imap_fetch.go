package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapFlight is a message yielded by Next and not yet acked or released.
type imapFlight struct {
	uid      imap.UID
	validity uint32
	// acked: the message's ack command succeeded (set by the ack flusher
	// before the caller is released, so a Release that follows the ack
	// never waits for the main connection).
	acked atomic.Bool
}

// Coordinates of an IMAP item (Item.Coordinates keys).
const (
	CoordMailbox     = "mailbox"
	CoordUIDValidity = "uidvalidity"
	CoordUID         = "uid"
	// CoordMessageID: the Message-ID without angle brackets, when the
	// message has a printable ASCII one (the pipeline parses the raw bytes
	// anyway; this is for deduplication before parsing).
	CoordMessageID = "message_id"
	// CoordOversize is set, to the limit's name "message_size", on an item
	// that was not downloaded because of its size; CoordLimit holds the
	// limit in bytes.
	CoordOversize = "oversize"
	CoordLimit    = "limit"
)

// minDownloadRate sizes the deadline of a body download: a message gets
// CommandTimeout plus one second per 64 KiB (50 MiB: about 14 minutes).
const minDownloadRate = 64 << 10

// metaAhead caps the messages whose metadata one UID FETCH asks for: one
// command instead of one per message, and at most this many small entries
// kept between takes.
const metaAhead = 64

// imapMeta is what the source knows of a message before its body.
type imapMeta struct {
	size  int64
	date  time.Time
	msgID string // without angle brackets; "" when absent or unusable
}

// metaCache holds metadata fetched ahead, for one UIDVALIDITY. A nil entry
// is a message the server no longer had. Guarded by IMAPSource.mu.
type metaCache struct {
	validity uint32
	m        map[imap.UID]*imapMeta
}

// metaLocked returns uid's metadata, fetching it, when it is not known
// yet, in one UID FETCH together with that of the next queued messages
// (up to metaAhead). found is false when the message is no longer there.
// Metadata never changes for a UID under one UIDVALIDITY (RFC 9051
// §2.3.1.1), so what was fetched ahead is still right when it is used.
func (s *IMAPSource) metaLocked(ctx context.Context, conn *imapConn, uid imap.UID) (meta *imapMeta, found bool, err error) {
	c := &s.meta
	if c.m == nil || c.validity != conn.validity {
		c.validity, c.m = conn.validity, make(map[imap.UID]*imapMeta)
	}
	if meta, ok := c.m[uid]; ok {
		delete(c.m, uid)
		return meta, meta != nil, nil
	}
	// Forget what is no longer queued (gone, or released and requeued
	// later: it is fetched again then).
	queued := make(map[imap.UID]bool, len(s.book.queue))
	for _, q := range s.book.queue {
		queued[q] = true
	}
	for u := range c.m {
		if !queued[u] {
			delete(c.m, u)
		}
	}
	want := []imap.UID{uid}
	for _, q := range s.book.queue {
		if len(want) >= metaAhead {
			break
		}
		if _, ok := c.m[q]; !ok && q != uid {
			want = append(want, q)
		}
	}
	got, err := s.fetchMetaLocked(ctx, conn, want)
	if err != nil {
		return nil, false, err
	}
	for _, u := range want[1:] {
		c.m[u] = got[u] // nil: not there any more
	}
	meta = got[uid]
	return meta, meta != nil, nil
}

// fetchMetaLocked asks for the metadata of uids in one UID FETCH. A UID
// missing from the answer is no longer in the folder.
func (s *IMAPSource) fetchMetaLocked(ctx context.Context, conn *imapConn, uids []imap.UID) (map[imap.UID]*imapMeta, error) {
	msgIDSection := &imap.FetchItemBodySection{
		Specifier:    imap.PartSpecifierHeader,
		HeaderFields: []string{"Message-ID"},
		Peek:         true,
	}
	set := imap.UIDSetNum(uids...)
	got := make(map[imap.UID]*imapMeta, len(uids))
	err := conn.await(ctx, fmt.Sprintf("UID FETCH %v metadata", set), s.opts.CommandTimeout, func() error {
		msgs, err := conn.c.Fetch(set, &imap.FetchOptions{
			UID: true, RFC822Size: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{msgIDSection},
		}).Collect()
		for _, m := range msgs {
			got[m.UID] = &imapMeta{size: m.RFC822Size, date: m.InternalDate, msgID: messageID(m.FindBodySection(msgIDSection))}
		}
		return err
	})
	return got, err
}

// fetchLocked takes one message: its size, date and Message-ID first
// (fetched ahead: metaLocked), then, if it is within MaxMessageSize, its
// bytes streamed to a spool file with BODY.PEEK[] (PEEK: \Seen is left
// alone, staff still see it as unread), hashed on the way. found is false
// when the message is no longer there.
func (s *IMAPSource) fetchLocked(ctx context.Context, conn *imapConn, uid imap.UID) (item Item, ack Ack, found bool, err error) {
	meta, found, err := s.metaLocked(ctx, conn, uid)
	if err != nil || !found {
		return Item{}, nil, false, err
	}

	validity := conn.validity
	coords := map[string]string{
		CoordMailbox:     s.opts.Folder,
		CoordUIDValidity: strconv.FormatUint(uint64(validity), 10),
		CoordUID:         strconv.FormatUint(uint64(uid), 10),
	}
	if meta.msgID != "" {
		coords[CoordMessageID] = meta.msgID
	}
	fl := &imapFlight{uid: uid, validity: validity}
	log := s.log.With().Uint32("uid", uint32(uid)).Uint32("uidvalidity", validity).Logger()

	if meta.size > s.opts.MaxMessageSize {
		log.Warn().Int64("size", meta.size).Int64("limit", s.opts.MaxMessageSize).Msg("imap: message over the size limit, not downloaded")
		item = s.oversizeItem(coords, meta.size, meta.date, fl)
	} else {
		var path, sum string
		var n int64
		path, n, sum, found, err = s.spoolLocked(ctx, conn, uid, meta.size)
		if err != nil || !found {
			return Item{}, nil, false, err
		}
		if n == 0 && meta.size > 0 {
			// An empty body where the metadata fetched ahead said
			// otherwise: perhaps expunged by someone else since, and
			// answered from the session's stale view with empty data (RFC
			// 2180 §4.1.3; Dovecot does). Ask for the metadata again, as
			// if it had not been fetched ahead: no answer, it is gone.
			again, err := s.fetchMetaLocked(ctx, conn, []imap.UID{uid})
			if err != nil || again[uid] == nil {
				os.Remove(path)
				return Item{}, nil, false, err
			}
		}
		if n > s.opts.MaxMessageSize {
			// RFC822.SIZE understated it: same outcome as above.
			os.Remove(path)
			item = s.oversizeItem(coords, n, meta.date, fl)
		} else {
			item = s.spooledItem(coords, path, n, sum, meta.date, fl)
		}
	}
	s.book.inflight[uid] = fl
	log.Debug().Int64("size", item.Size).Msg("imap: message taken")
	return item, func(ctx context.Context, d Disposition) error { return s.ack(ctx, fl, d) }, true, nil
}

// spoolLocked streams the message into a new file of SpoolDir, hashing
// it on the way (sum: hex SHA-256 of the file's bytes), so that the
// pipeline need not read the spool once more before storing it. It reads
// at most MaxMessageSize+1 bytes into the file (the rest of an
// understated literal is read off the wire and dropped), and checks that
// the whole literal arrived.
func (s *IMAPSource) spoolLocked(ctx context.Context, conn *imapConn, uid imap.UID, size int64) (path string, n int64, sum string, found bool, err error) {
	f, err := os.CreateTemp(s.opts.SpoolDir, "imap-*.eml")
	if err != nil {
		return "", 0, "", false, fmt.Errorf("spool: %w", err)
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	path = f.Name()
	defer func() {
		if err != nil || !found {
			f.Close()
			os.Remove(path)
		}
	}()

	timeout := s.opts.CommandTimeout + time.Duration(size/minDownloadRate)*time.Second
	var got bool     // the server sent BODY[] for this UID
	var copied int64 // bytes written to the spool
	err = conn.await(ctx, fmt.Sprintf("UID FETCH %d BODY.PEEK[]", uid), timeout, func() error {
		cmd := conn.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		defer cmd.Close() // drains what we did not read
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for it := msg.Next(); it != nil; it = msg.Next() {
				body, ok := it.(imapclient.FetchItemDataBodySection)
				if !ok || got {
					continue
				}
				got = true
				if body.Literal == nil { // NIL: an empty message
					continue
				}
				c, err := io.Copy(w, io.LimitReader(body.Literal, s.opts.MaxMessageSize+1))
				copied = c
				if err != nil {
					return fmt.Errorf("spool: %w", err)
				}
				if c <= s.opts.MaxMessageSize && c != body.Literal.Size() {
					return fmt.Errorf("spool: literal of %d bytes, read %d", body.Literal.Size(), c)
				}
			}
		}
		return cmd.Close()
	})
	found, n = got, copied
	if err != nil {
		return "", 0, "", false, err
	}
	if !found {
		return "", 0, "", false, nil
	}
	if err = f.Close(); err != nil {
		return "", 0, "", false, fmt.Errorf("spool: %w", err)
	}
	return path, n, hex.EncodeToString(h.Sum(nil)), true, nil
}

// spooledItem is a downloaded message.
func (s *IMAPSource) spooledItem(coords map[string]string, path string, n int64, sum string, at time.Time, fl *imapFlight) Item {
	var once sync.Once
	return Item{
		Source:      s.id,
		Coordinates: coords,
		ReceivedAt:  at,
		Size:        n,
		SHA256:      sum,
		Open:        func() (io.ReadCloser, error) { return os.Open(path) },
		Release: func() {
			once.Do(func() {
				os.Remove(path)
				s.release(fl)
			})
		},
	}
}

// oversizeItem stands for a message too large to download. Open fails with
// a permanent error naming the limit, so the worker quarantines it without
// raw bytes; its ack (Quarantined) moves it to the quarantine folder, where
// staff find it.
func (s *IMAPSource) oversizeItem(coords map[string]string, size int64, at time.Time, fl *imapFlight) Item {
	coords[CoordOversize] = "message_size"
	coords[CoordLimit] = strconv.FormatInt(s.opts.MaxMessageSize, 10)
	perm := &PermanentError{
		Limit: "message_size",
		Err: fmt.Errorf("%s uid %s: %d bytes, limit %d: %w",
			s.id, coords[CoordUID], size, s.opts.MaxMessageSize, ErrOversize),
	}
	var once sync.Once
	return Item{
		Source:      s.id,
		Coordinates: coords,
		ReceivedAt:  at,
		Size:        size,
		Open:        func() (io.ReadCloser, error) { return nil, perm },
		Release:     func() { once.Do(func() { s.release(fl) }) },
	}
}

// release: an item given up without an ack is offered again after the next
// wait (not at once: a worker that cannot store would spin on it).
func (s *IMAPSource) release(fl *imapFlight) {
	if fl.acked.Load() {
		return
	}
	s.mu.Lock()
	defer s.unlock()
	if fl.acked.Load() {
		return
	}
	if cur, ok := s.book.inflight[fl.uid]; !ok || cur != fl {
		return // acked, or from before a UIDVALIDITY change
	}
	delete(s.book.inflight, fl.uid)
	s.book.abandoned[fl.uid] = struct{}{}
}

// messageID extracts the Message-ID from a "Message-ID: <…>" header block,
// without the angle brackets. Anything not printable ASCII, or absurdly
// long, is left out: coordinates end up in S3 metadata, which is ASCII.
func messageID(block []byte) string {
	// Unfold (RFC 5322 §2.2.3) and take the value after the colon.
	block = bytes.ReplaceAll(block, []byte("\r\n"), []byte("\n"))
	block = bytes.ReplaceAll(block, []byte("\n "), []byte(" "))
	block = bytes.ReplaceAll(block, []byte("\n\t"), []byte(" "))
	line, _, _ := bytes.Cut(bytes.TrimSpace(block), []byte("\n"))
	_, v, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return ""
	}
	id := strings.TrimSpace(string(v))
	if i := strings.IndexByte(id, '<'); i >= 0 {
		if j := strings.IndexByte(id[i:], '>'); j > 0 {
			id = id[i+1 : i+j]
		}
	}
	if id == "" || len(id) > 250 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return ""
		}
	}
	return id
}
