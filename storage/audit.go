package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// AuditEvent is one entry of the access log: who read or changed what, and
// when. CNIL recommendation on logging (2021): kept apart from the data,
// append-only, 6 to 12 months, with minimal personal data in the log itself
// — an account id, a dossier number, an action code; never a name, an email
// address, a subject or a document's content.
type AuditEvent struct {
	// At is when it happened; Append fills it from the clock when zero.
	At time.Time `json:"at"`
	// Who is the account id, or "recevable" for the pipeline.
	Who string `json:"who"`
	// Action is a code: "dossier.read", "dossier.status", "document.read",
	// "invitation.issue", "quarantine.reprocess"…
	Action string `json:"action"`
	// Dossier is the registration number concerned, if any.
	Dossier string `json:"dossier,omitempty"`
	// Detail is a short machine-made complement ("a_verifier→recevable",
	// a document's safe name), at most 512 bytes.
	Detail string `json:"detail,omitempty"`
	// Key is the event's key in the bucket; filled by Append and on reading.
	Key string `json:"-"`
}

// maxAuditDetail bounds Detail, so that nobody logs a document by mistake.
const maxAuditDetail = 512

// Audit appends and reads audit events, under audit/<yyyy>/<mm>/<dd>/ (UTC
// days). Each event is its own object, written IfAbsent under a key made of
// its time and 64 random bits: an event is never overwritten, and writers
// need no coordination.
type Audit struct {
	Bucket Bucket
	// Retain, when positive, locks each event for that long (S3 Object Lock,
	// compliance mode): CNIL 2021 suggests 6 to 12 months.
	Retain time.Duration
	// Now is the clock; nil means time.Now. Rand is the source of the key's
	// random part; nil means crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

func (a Audit) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Append records an event and returns it with At and Key filled.
func (a Audit) Append(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.Who == "" || e.Action == "" {
		return AuditEvent{}, errors.New("audit: who and action are required")
	}
	if len(e.Detail) > maxAuditDetail {
		return AuditEvent{}, fmt.Errorf("audit %s: detail of %d bytes, at most %d", e.Action, len(e.Detail), maxAuditDetail)
	}
	if e.At.IsZero() {
		e.At = a.now()
	}
	e.At = e.At.UTC()
	rnd := a.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	// A collision of 64 random bits within one nanosecond means a broken
	// random source; a few tries make that an error rather than a loop.
	for range 3 {
		var b [8]byte
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return AuditEvent{}, fmt.Errorf("audit %s: random: %w", e.Action, err)
		}
		e.Key = auditKey(e.At, hex.EncodeToString(b[:]))
		o := PutOptions{IfAbsent: true}
		if a.Retain > 0 {
			o.RetainUntil = e.At.Add(a.Retain)
		}
		_, err := putJSON(ctx, a.Bucket, e.Key, e, o)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, ErrExists) {
			return AuditEvent{}, fmt.Errorf("audit %s: %w", e.Action, err)
		}
	}
	return AuditEvent{}, fmt.Errorf("audit %s: key collisions: random source broken", e.Action)
}

// Day calls fn for every event of the UTC day holding day, in time order.
func (a Audit) Day(ctx context.Context, day time.Time, fn func(AuditEvent) error) error {
	d := day.UTC()
	start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	return a.Range(ctx, start, start.AddDate(0, 0, 1), fn)
}

// Range calls fn for every event with from <= At < to, in time order (events
// of the same nanosecond in random order). Cost: one List call per 1,000
// events and per day of the range, one Get per event.
func (a Audit) Range(ctx context.Context, from, to time.Time, fn func(AuditEvent) error) error {
	from, to = from.UTC(), to.UTC()
	for day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC); day.Before(to); day = day.AddDate(0, 0, 1) {
		prefix := auditDayPrefix(day)
		after := ""
		if !from.Before(day) {
			// Keys are <time>-<rand>.json: every key at from or later sorts
			// after the bare time.
			after = prefix + from.Format(auditTimeLayout)
		}
		// The key of the first event not wanted on the last day: keys sort
		// before it exactly when the event is earlier than to.
		end := ""
		if to.Before(day.AddDate(0, 0, 1)) {
			end = prefix + to.Format(auditTimeLayout)
		}
		for {
			page, err := a.Bucket.List(ctx, prefix, ListOptions{StartAfter: after})
			if err != nil {
				return fmt.Errorf("audit list %s: %w", prefix, err)
			}
			for _, o := range page.Objects {
				if end != "" && o.Key >= end {
					break
				}
				if !strings.HasSuffix(o.Key, ".json") {
					continue
				}
				var e AuditEvent
				if _, err := getJSON(ctx, a.Bucket, o.Key, &e); err != nil {
					return fmt.Errorf("audit read: %w", err)
				}
				e.Key = o.Key
				if err := fn(e); err != nil {
					return err
				}
			}
			last := len(page.Objects) > 0 && end != "" && page.Objects[len(page.Objects)-1].Key >= end
			if page.Next == "" || last {
				break
			}
			after = page.Next
		}
	}
	return nil
}
