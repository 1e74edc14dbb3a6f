package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Queue keeps the review queues as empty marker objects,
// queue/<site>/<status>/<received>-<number>: listing a prefix lists one queue
// in arrival order, paged by the bucket's List, with no index to keep in
// step. The manifest remains the truth about a dossier's status; a marker
// only says where to look. Markers are written before the manifest change
// they announce and removed after it, so a crash leaves a marker too many,
// never one too few; readers check the manifest (Dossiers.List does, and
// removes markers that stayed wrong too long).
type Queue struct {
	Bucket Bucket
}

// QueueEntry is one marker of a queue.
type QueueEntry struct {
	Number     string
	ReceivedAt time.Time
	// Cursor is what to pass as after to get the entries following this one.
	Cursor string
	// MarkedAt is when the marker was written.
	MarkedAt time.Time
}

// Add puts a dossier in a queue. Adding a marker already there is a success.
func (q Queue) Add(ctx context.Context, site string, st Status, received time.Time, number string) error {
	if err := checkQueueArgs(site, st, number); err != nil {
		return fmt.Errorf("queue add: %w", err)
	}
	key := QueueKey(site, st, received, number)
	_, err := q.Bucket.Put(ctx, key, bytes.NewReader(nil), PutOptions{IfAbsent: true})
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("queue add %s: %w", key, err)
	}
	return nil
}

// Remove takes a dossier out of a queue. Removing a missing marker is a
// success.
func (q Queue) Remove(ctx context.Context, site string, st Status, received time.Time, number string) error {
	if err := checkQueueArgs(site, st, number); err != nil {
		return fmt.Errorf("queue remove: %w", err)
	}
	key := QueueKey(site, st, received, number)
	if err := q.Bucket.Delete(ctx, key); err != nil {
		return fmt.Errorf("queue remove %s: %w", key, err)
	}
	return nil
}

// Move changes a dossier's queue: the new marker is written, then the old
// one deleted, so that between the two (or forever, if the process dies
// there) the dossier shows in both queues rather than in none. Readers
// tolerate the double.
func (q Queue) Move(ctx context.Context, site, number string, received time.Time, from, to Status) error {
	if from == to {
		return q.Add(ctx, site, to, received, number)
	}
	if err := q.Add(ctx, site, to, received, number); err != nil {
		return fmt.Errorf("queue move %s: %w", number, err)
	}
	if err := q.Remove(ctx, site, from, received, number); err != nil {
		return fmt.Errorf("queue move %s: %w", number, err)
	}
	return nil
}

// Page lists up to limit entries of a queue in arrival order, starting after
// the cursor after ("" for the first page). next is the cursor of the
// following page, "" when this one is the last. limit <= 0 means 50.
// Malformed markers are skipped.
func (q Queue) Page(ctx context.Context, site string, st Status, after string, limit int) (entries []QueueEntry, next string, err error) {
	if err := CheckSite(site); err != nil {
		return nil, "", fmt.Errorf("queue page: %w", err)
	}
	if err := CheckStatus(st); err != nil {
		return nil, "", fmt.Errorf("queue page: %w", err)
	}
	if limit <= 0 {
		limit = 50
	}
	prefix := QueuePrefix(site, st)
	start := ""
	if after != "" {
		start = prefix + after
	}
	// A page of markers may hold malformed ones; keep listing until limit
	// good entries or the end.
	for {
		page, err := q.Bucket.List(ctx, prefix, ListOptions{StartAfter: start, Limit: limit - len(entries)})
		if err != nil {
			return nil, "", fmt.Errorf("queue page %s: %w", prefix, err)
		}
		for _, o := range page.Objects {
			name := strings.TrimPrefix(o.Key, prefix)
			t, number, perr := parseQueueName(name)
			start = o.Key
			if perr != nil {
				continue
			}
			entries = append(entries, QueueEntry{Number: number, ReceivedAt: t, Cursor: name, MarkedAt: o.LastModified})
		}
		if page.Next == "" {
			return entries, "", nil
		}
		if len(entries) >= limit {
			return entries, strings.TrimPrefix(start, prefix), nil
		}
		start = page.Next
	}
}

// Count returns the number of markers in a queue. Cost: one List call per
// 1,000 markers (a queue of 50,000 dossiers is 50 calls); callers that show
// counts often cache them for a few seconds. A dossier caught mid-move counts
// in both queues.
func (q Queue) Count(ctx context.Context, site string, st Status) (int, error) {
	if err := CheckSite(site); err != nil {
		return 0, fmt.Errorf("queue count: %w", err)
	}
	if err := CheckStatus(st); err != nil {
		return 0, fmt.Errorf("queue count: %w", err)
	}
	n := 0
	err := ListAll(ctx, q.Bucket, QueuePrefix(site, st), func(Info) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("queue count %s/%s: %w", site, st, err)
	}
	return n, nil
}

// Counts returns Count for every status of a site.
func (q Queue) Counts(ctx context.Context, site string) (map[Status]int, error) {
	out := make(map[Status]int, len(Statuses))
	for _, st := range Statuses {
		n, err := q.Count(ctx, site, st)
		if err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, nil
}

func checkQueueArgs(site string, st Status, number string) error {
	if err := CheckSite(site); err != nil {
		return err
	}
	if err := CheckStatus(st); err != nil {
		return err
	}
	s, _, _, err := ParseNumber(number)
	if err != nil {
		return err
	}
	if s != site {
		return fmt.Errorf("%w: %s is not a number of site %s", ErrBadNumber, number, site)
	}
	return nil
}
