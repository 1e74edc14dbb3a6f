package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RawMeta describes a raw original: the bytes exactly as the source gave
// them, stored under raw/<sha256>.
type RawMeta struct {
	// SHA256 is the lower-case hex hash of the bytes, and the key.
	SHA256 string
	// Size in bytes; 0 when unknown before storing.
	Size int64
	// Source names the source instance ("imap:prefecture-75/INBOX").
	Source string
	// Coordinates locate the item at its source (mailbox, uidvalidity, uid,
	// drop path…), for the people who investigate.
	Coordinates map[string]string
	// ReceivedAt is when the source received the item.
	ReceivedAt time.Time
	// StoredAt is when the object was written; filled when reading.
	StoredAt time.Time
	// CoordinatesTruncated is set when the coordinates were too long for
	// object metadata and only a prefix of them was kept.
	CoordinatesTruncated bool
	// Created is set by Store when this very call wrote raw/<sha> (the HEAD
	// found nothing and our IfAbsent PUT won): nothing can have been done
	// with the item before, since every later record of it (number, done
	// marker, quarantine entry, dossier) is written only once raw is
	// stored, and nothing in recevable deletes a stored raw original. The
	// caller may then skip looking for earlier work (see workers, and
	// Counter.ReserveFresh); only earlier work: another replica may take
	// the same bytes right after and work alongside, so every step stays
	// idempotent, and so the skip costs nothing worse than redone work if
	// the premise ever fails (a raw object deleted by hand). False when the
	// bytes were already there, or when unsure (a retried PUT whose first
	// reply was lost finds its own object); ignored on input.
	Created bool
}

// Raws stores and reads raw originals, and keeps the two indexes that make
// processing them idempotent: the Message-ID index and the done markers.
//
// Processing one raw item, in this order, each step idempotent:
//
//	Store                      raw/<sha> (then the source may ack)
//	IndexMessageID             dedup of the same message re-fetched with other bytes
//	Counter.Reserve            the registration number, bound to the sha
//	Dossiers.PutDocument, Create
//	MarkDone                   index/done/<sha>
//
// A crash anywhere leaves the item in Pending, and running the steps again
// produces the same dossier with the same number.
type Raws struct {
	Bucket Bucket
	// Retain, when positive, asks the backend to lock each raw original for
	// that long (S3 Object Lock) from when it is stored.
	Retain time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r Raws) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Metadata keys of raw objects. Values are ASCII: the source is
// path-escaped, the coordinates query-encoded, times RFC 3339 in UTC.
const (
	metaSHA256      = "sha256"
	metaSize        = "size"
	metaSource      = "source"
	metaCoordinates = "coordinates"
	metaReceivedAt  = "received-at"
	metaTruncated   = "coordinates-truncated"
)

// maxRawMeta bounds the encoded source and coordinates: S3 allows 2 KB of
// user metadata in all, and the other keys need some.
const maxRawMeta = 1600

// Store writes the raw original read from open, unless it is already stored.
// When m.SHA256 is empty the bytes are read twice: once to hash them, once to
// store them (open must return the same bytes each time: a spool). When it
// is set, it is trusted only as far as the bytes match: the upload is
// verified while streaming and a mismatch fails with ErrIntegrity, storing
// nothing. Storing bytes already present is a success and returns the
// metadata of the copy already there (the first source to store them wins);
// the result's Created says which of the two happened.
// Only after Store returned nil may the item be acknowledged at its source.
func (r Raws) Store(ctx context.Context, m RawMeta, open func() (io.ReadCloser, error)) (RawMeta, error) {
	if m.SHA256 == "" {
		rc, err := open()
		if err != nil {
			return RawMeta{}, fmt.Errorf("store raw: open for hashing: %w", err)
		}
		sha, size, err := Digest(rc)
		rc.Close()
		if err != nil {
			return RawMeta{}, fmt.Errorf("store raw: hash: %w", err)
		}
		if m.Size > 0 && m.Size != size {
			return RawMeta{}, fmt.Errorf("store raw %s: %w: %d bytes read, %d announced", sha, ErrIntegrity, size, m.Size)
		}
		m.SHA256, m.Size = sha, size
	}
	if err := CheckSHA256(m.SHA256); err != nil {
		return RawMeta{}, fmt.Errorf("store raw: %w", err)
	}
	key := RawKey(m.SHA256)
	// Head first: a replay (the common case after a crash) then costs no
	// upload of a possibly 50 MB body only to be refused.
	if info, err := r.Bucket.Head(ctx, key); err == nil {
		return rawMetaFromInfo(m.SHA256, info), nil
	} else if !errors.Is(err, ErrNotFound) {
		return RawMeta{}, fmt.Errorf("store raw %s: %w", m.SHA256, err)
	}

	rc, err := open()
	if err != nil {
		return RawMeta{}, fmt.Errorf("store raw %s: open: %w", m.SHA256, err)
	}
	defer rc.Close()
	want := m.Size
	if want <= 0 {
		want = -1
	}
	o := PutOptions{
		IfAbsent:    true,
		Size:        m.Size,
		ContentType: "application/octet-stream",
		Metadata:    encodeRawMeta(m),
	}
	if r.Retain > 0 {
		o.RetainUntil = r.now().Add(r.Retain)
	}
	_, err = putVerified(ctx, r.Bucket, key, rc, m.SHA256, want, o)
	switch {
	case errors.Is(err, ErrExists):
		info, herr := r.Bucket.Head(ctx, key)
		if herr != nil {
			return RawMeta{}, fmt.Errorf("store raw %s: stored by another writer, then: %w", m.SHA256, herr)
		}
		return rawMetaFromInfo(m.SHA256, info), nil
	case err != nil:
		return RawMeta{}, fmt.Errorf("store raw %s: %w", m.SHA256, err)
	}
	stored := m
	stored.Coordinates, stored.CoordinatesTruncated = decodeCoordinates(o.Metadata)
	stored.Created = true
	return stored, nil
}

// Open reads a raw original. The reader verifies the bytes against the key's
// SHA-256 and fails with ErrIntegrity at the end if they do not match. It
// fails with ErrNotFound when the object does not exist.
func (r Raws) Open(ctx context.Context, sha string) (io.ReadCloser, RawMeta, error) {
	if err := CheckSHA256(sha); err != nil {
		return nil, RawMeta{}, fmt.Errorf("open raw: %w", err)
	}
	rc, info, err := r.Bucket.Get(ctx, RawKey(sha))
	if err != nil {
		return nil, RawMeta{}, fmt.Errorf("open raw %s: %w", sha, err)
	}
	return NewVerifyingReader(rc, sha, info.Size), rawMetaFromInfo(sha, info), nil
}

// Head returns a raw original's metadata, or ErrNotFound.
func (r Raws) Head(ctx context.Context, sha string) (RawMeta, error) {
	if err := CheckSHA256(sha); err != nil {
		return RawMeta{}, fmt.Errorf("head raw: %w", err)
	}
	info, err := r.Bucket.Head(ctx, RawKey(sha))
	if err != nil {
		return RawMeta{}, fmt.Errorf("head raw %s: %w", sha, err)
	}
	return rawMetaFromInfo(sha, info), nil
}

// messageIDRecord is the body of index/message-id/<hash>.
type messageIDRecord struct {
	Raw string `json:"raw"`
}

// IndexMessageID records that the raw item sha carries Message-ID msgID, and
// returns the raw sha that first did. first == sha means this item is the
// first with that Message-ID; anything else means it is a copy of first
// (the same message fetched again after a UIDVALIDITY change, or delivered
// twice with other trace headers). The Message-ID is compared after trimming
// blanks and angle brackets, otherwise exactly (RFC 5322 §3.6.4: it is an
// opaque identifier).
func (r Raws) IndexMessageID(ctx context.Context, msgID, sha string) (first string, err error) {
	if err := CheckSHA256(sha); err != nil {
		return "", fmt.Errorf("index message-id: %w", err)
	}
	id := strings.TrimSpace(msgID)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if id == "" {
		return "", errors.New("index message-id: empty Message-ID")
	}
	key := messageIDKey(id)
	_, err = putJSON(ctx, r.Bucket, key, messageIDRecord{Raw: sha}, PutOptions{IfAbsent: true})
	if err == nil {
		return sha, nil
	}
	if !errors.Is(err, ErrExists) {
		return "", fmt.Errorf("index message-id of %s: %w", sha, err)
	}
	var rec messageIDRecord
	if _, err := getJSON(ctx, r.Bucket, key, &rec); err != nil {
		return "", fmt.Errorf("index message-id of %s: %w", sha, err)
	}
	return rec.Raw, nil
}

// Done is the body of index/done/<sha>: what became of a raw item.
type Done struct {
	// Numbers of the dossiers made from it (several for a batch scan).
	Numbers []string `json:"numbers,omitempty"`
	// DuplicateOf is the raw sha of the first copy when this item was a
	// duplicate and made no dossier.
	DuplicateOf string    `json:"duplicate_of,omitempty"`
	At          time.Time `json:"at"`
}

// MarkDone records that the raw item sha is finished, so that Pending no
// longer returns it. It is the last step of processing an item. Marking an
// item already marked is a success; the first record is kept.
func (r Raws) MarkDone(ctx context.Context, sha string, d Done) error {
	if err := CheckSHA256(sha); err != nil {
		return fmt.Errorf("mark done: %w", err)
	}
	if d.At.IsZero() {
		d.At = r.now().UTC()
	}
	_, err := putJSON(ctx, r.Bucket, doneKey(sha), d, PutOptions{IfAbsent: true})
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("mark raw %s done: %w", sha, err)
	}
	return nil
}

// GetDone returns the done record of a raw item, or ErrNotFound when it is
// not finished.
func (r Raws) GetDone(ctx context.Context, sha string) (Done, error) {
	if err := CheckSHA256(sha); err != nil {
		return Done{}, fmt.Errorf("get done: %w", err)
	}
	var d Done
	if _, err := getJSON(ctx, r.Bucket, doneKey(sha), &d); err != nil {
		return Done{}, err
	}
	return d, nil
}

// Pending calls fn, in sha order, for each raw original that is neither done
// (index/done/) nor in quarantine, and was stored before before (zero: no
// limit) — the grace period keeps recovery from racing the worker that is
// processing a fresh item right now, though processing twice would be safe.
// It is the crash-recovery backlog: raw items stored and acknowledged at
// their source whose processing never finished.
//
// Cost: one merge of three sorted listings (raw/, index/done/, quarantine/),
// one List call per 1,000 keys of each; nothing is held in memory.
func (r Raws) Pending(ctx context.Context, before time.Time, fn func(RawMeta) error) error {
	raws := newKeyIter(r.Bucket, rawPrefix)
	done := newKeyIter(r.Bucket, donePrefix)
	quar := newKeyIter(r.Bucket, quarantinePrefix)
	for {
		info, ok, err := raws.next(ctx)
		if err != nil || !ok {
			return err
		}
		sha := strings.TrimPrefix(info.Key, rawPrefix)
		if CheckSHA256(sha) != nil {
			continue // not ours
		}
		if !before.IsZero() && !info.LastModified.Before(before) {
			continue
		}
		isDone, err := done.seek(ctx, func(k string) string { return strings.TrimPrefix(k, donePrefix) }, sha)
		if err != nil {
			return err
		}
		isQuar, err := quar.seek(ctx, func(k string) string {
			return strings.TrimSuffix(strings.TrimPrefix(k, quarantinePrefix), quarantineSuffix)
		}, sha)
		if err != nil {
			return err
		}
		if isDone || isQuar {
			continue
		}
		if err := fn(RawMeta{SHA256: sha, Size: info.Size, StoredAt: info.LastModified}); err != nil {
			return err
		}
	}
}

// encodeRawMeta encodes a RawMeta as ASCII object metadata.
func encodeRawMeta(m RawMeta) map[string]string {
	md := map[string]string{
		metaSHA256: m.SHA256,
		metaSize:   strconv.FormatInt(m.Size, 10),
		metaSource: url.PathEscape(m.Source),
	}
	if !m.ReceivedAt.IsZero() {
		md[metaReceivedAt] = m.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	if len(m.Coordinates) > 0 {
		v := url.Values{}
		for k, c := range m.Coordinates {
			v.Set(k, c)
		}
		enc := v.Encode() // sorted by key: stable
		if room := maxRawMeta - len(md[metaSource]); len(enc) > room {
			// Cut at a pair boundary so what is kept still decodes.
			enc = enc[:max(room, 0)]
			if i := strings.LastIndexByte(enc, '&'); i >= 0 {
				enc = enc[:i]
			} else {
				enc = ""
			}
			md[metaTruncated] = "true"
		}
		md[metaCoordinates] = enc
	}
	return md
}

// decodeCoordinates reads the coordinates back from metadata.
func decodeCoordinates(md map[string]string) (map[string]string, bool) {
	v, err := url.ParseQuery(md[metaCoordinates])
	if err != nil || len(v) == 0 {
		return nil, md[metaTruncated] == "true"
	}
	c := make(map[string]string, len(v))
	for k := range v {
		c[k] = v.Get(k)
	}
	return c, md[metaTruncated] == "true"
}

// rawMetaFromInfo rebuilds a RawMeta from a stored object.
func rawMetaFromInfo(sha string, info Info) RawMeta {
	m := RawMeta{SHA256: sha, Size: info.Size, StoredAt: info.LastModified}
	if s, err := url.PathUnescape(info.Metadata[metaSource]); err == nil {
		m.Source = s
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Metadata[metaReceivedAt]); err == nil {
		m.ReceivedAt = t
	}
	m.Coordinates, m.CoordinatesTruncated = decodeCoordinates(info.Metadata)
	return m
}

// keyIter walks a listing one key at a time, fetching pages as needed; the
// merge in Pending needs several listings advanced in step.
type keyIter struct {
	b      Bucket
	prefix string
	page   []Info
	i      int
	after  string
	last   bool // the page held is the last one
}

func newKeyIter(b Bucket, prefix string) *keyIter { return &keyIter{b: b, prefix: prefix} }

// peek returns the current object without consuming it; ok is false at the end.
func (it *keyIter) peek(ctx context.Context) (Info, bool, error) {
	for it.i >= len(it.page) {
		if it.last {
			return Info{}, false, nil
		}
		p, err := it.b.List(ctx, it.prefix, ListOptions{StartAfter: it.after})
		if err != nil {
			return Info{}, false, fmt.Errorf("list %s: %w", it.prefix, err)
		}
		it.page, it.i, it.after, it.last = p.Objects, 0, p.Next, p.Next == ""
	}
	return it.page[it.i], true, nil
}

// next returns the current object and moves past it.
func (it *keyIter) next(ctx context.Context) (Info, bool, error) {
	info, ok, err := it.peek(ctx)
	if ok {
		it.i++
	}
	return info, ok, err
}

// seek moves past every key whose name (as name() extracts it) sorts before
// target and reports whether the next one equals it. Targets must be given in
// increasing order and name() must preserve key order.
func (it *keyIter) seek(ctx context.Context, name func(string) string, target string) (bool, error) {
	for {
		info, ok, err := it.peek(ctx)
		if err != nil || !ok {
			return false, err
		}
		switch n := name(info.Key); {
		case n < target:
			it.i++
		case n == target:
			return true, nil
		default:
			return false, nil
		}
	}
}
