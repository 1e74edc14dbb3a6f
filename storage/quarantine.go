package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// QuarantineEntry is the body of quarantine/<sha256>.json: a raw item that
// could not be processed, and why. The raw bytes stay in raw/; deleting the
// entry (after a fix) puts the item back in Raws.Pending for reprocessing.
type QuarantineEntry struct {
	// Raw is the SHA-256 of the raw original; RawKey its key.
	Raw    string `json:"raw"`
	RawKey string `json:"raw_key"`
	// Reason is the last error, without personal data (ids, limits, codes).
	Reason string `json:"reason"`
	// Limit names the limit exceeded ("message_size", "mime_depth"…), if
	// that is the cause.
	Limit string `json:"limit,omitempty"`
	// Source is the source instance the item came from.
	Source string `json:"source,omitempty"`
	// Attempts counts the times the item was quarantined (1 the first time).
	Attempts  int       `json:"attempts"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Quarantine keeps the quarantine entries.
type Quarantine struct {
	Bucket Bucket
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (q Quarantine) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// maxQuarantineAttempts caps the retries of Record on a contended entry.
const maxQuarantineAttempts = 100

// Record quarantines raw item sha with reason (and the limit, if any): it
// creates the entry with Attempts 1, or, if there is one, increments
// Attempts and replaces reason and LastSeen with a conditional write,
// retrying when another worker updated it in between, so no attempt is lost.
func (q Quarantine) Record(ctx context.Context, sha, source, reason, limit string) (QuarantineEntry, error) {
	if err := CheckSHA256(sha); err != nil {
		return QuarantineEntry{}, fmt.Errorf("quarantine: %w", err)
	}
	key := QuarantineKey(sha)
	for attempt := 0; attempt < maxQuarantineAttempts; attempt++ {
		now := q.now().UTC()
		var e QuarantineEntry
		etag, err := getJSON(ctx, q.Bucket, key, &e)
		o := PutOptions{IfMatch: etag}
		switch {
		case errors.Is(err, ErrNotFound):
			e = QuarantineEntry{Raw: sha, RawKey: RawKey(sha), Source: source, FirstSeen: now}
			o = PutOptions{IfAbsent: true}
		case err != nil:
			return QuarantineEntry{}, fmt.Errorf("quarantine %s: %w", sha, err)
		}
		e.Attempts++
		e.Reason, e.Limit, e.LastSeen = reason, limit, now
		if e.Source == "" {
			e.Source = source
		}
		_, err = putJSON(ctx, q.Bucket, key, e, o)
		if err == nil {
			return e, nil
		}
		if !IsConflict(err) {
			return QuarantineEntry{}, fmt.Errorf("quarantine %s: %w", sha, err)
		}
		backoff(ctx, attempt)
	}
	return QuarantineEntry{}, fmt.Errorf("quarantine %s: entry still contended after %d attempts", sha, maxQuarantineAttempts)
}

// Get returns a quarantine entry and its ETag, or ErrNotFound.
func (q Quarantine) Get(ctx context.Context, sha string) (QuarantineEntry, ETag, error) {
	if err := CheckSHA256(sha); err != nil {
		return QuarantineEntry{}, "", fmt.Errorf("quarantine get: %w", err)
	}
	var e QuarantineEntry
	etag, err := getJSON(ctx, q.Bucket, QuarantineKey(sha), &e)
	if err != nil {
		return QuarantineEntry{}, "", fmt.Errorf("quarantine get %s: %w", sha, err)
	}
	return e, etag, nil
}

// Put replaces an entry if it is still the version ifMatch ("" creates it,
// failing with ErrExists if there is one). Supervisors' edits go through
// here; workers use Record.
func (q Quarantine) Put(ctx context.Context, e QuarantineEntry, ifMatch ETag) (ETag, error) {
	if err := CheckSHA256(e.Raw); err != nil {
		return "", fmt.Errorf("quarantine put: %w", err)
	}
	e.RawKey = RawKey(e.Raw)
	o := PutOptions{IfMatch: ifMatch}
	if ifMatch == "" {
		o = PutOptions{IfAbsent: true}
	}
	etag, err := putJSON(ctx, q.Bucket, QuarantineKey(e.Raw), e, o)
	if err != nil {
		return "", fmt.Errorf("quarantine put %s: %w", e.Raw, err)
	}
	return etag, nil
}

// Delete removes an entry, which sends the raw item back to processing
// (Raws.Pending). Deleting a missing entry is a success.
func (q Quarantine) Delete(ctx context.Context, sha string) error {
	if err := CheckSHA256(sha); err != nil {
		return fmt.Errorf("quarantine delete: %w", err)
	}
	if err := q.Bucket.Delete(ctx, QuarantineKey(sha)); err != nil {
		return fmt.Errorf("quarantine delete %s: %w", sha, err)
	}
	return nil
}

// Count returns the number of quarantine entries. Cost: one List call per
// 1,000 entries.
func (q Quarantine) Count(ctx context.Context) (int, error) {
	n := 0
	err := ListAll(ctx, q.Bucket, quarantinePrefix, func(o Info) error {
		if strings.HasSuffix(o.Key, quarantineSuffix) {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// List returns up to limit entries (limit <= 0: 50) in sha order after the
// sha after ("" for the first page), and the cursor of the next page, ""
// when this is the last. Cost: one List call and one Get per entry. An entry
// deleted between the two is skipped.
func (q Quarantine) List(ctx context.Context, after string, limit int) ([]QuarantineEntry, string, error) {
	if limit <= 0 {
		limit = 50
	}
	start := ""
	if after != "" {
		start = QuarantineKey(after)
	}
	page, err := q.Bucket.List(ctx, quarantinePrefix, ListOptions{StartAfter: start, Limit: limit})
	if err != nil {
		return nil, "", fmt.Errorf("quarantine list: %w", err)
	}
	out := make([]QuarantineEntry, 0, len(page.Objects))
	last := ""
	for _, o := range page.Objects {
		sha := strings.TrimSuffix(strings.TrimPrefix(o.Key, quarantinePrefix), quarantineSuffix)
		last = sha
		if CheckSHA256(sha) != nil {
			continue
		}
		e, _, err := q.Get(ctx, sha)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	if page.Next == "" {
		return out, "", nil
	}
	return out, last, nil
}
