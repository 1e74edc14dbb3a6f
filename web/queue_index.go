package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// The queue index is this process's cache of the review queues, so that
// the queue page stays fast with 50,000 dossiers. The bucket remains the
// only source of truth:
//
//   - The queue markers (queue/<site>/<status>/<received>-<number>) are
//     listed in full by refresh, every RefreshInterval in the background
//     (Server.Run) and on the first page of a site. On the filesystem
//     bucket that is about one directory read per 1,000 markers.
//   - Each entry gets a small summary of its manifest (channel, applicant,
//     evidence, invitation references) the first time it is seen; only new
//     or moved markers cost a manifest read on later refreshes. Summaries
//     serve the counts per channel, the channel filter and the search.
//   - Actions taken by this process update the index at once (apply);
//     changes made by other replicas or by the workers show up at the next
//     refresh.
//   - A page shows the rows of the index but reads each row's manifest
//     again (50 reads), so what an agent sees on a row is never older than
//     the page; a row whose manifest moved is corrected in the index.
//
// Counts are then a length per status, paging a binary search on the
// cursor, and a search a scan of 50,000 short strings: all in memory,
// in microseconds to a few milliseconds.
type queueIndex struct {
	dossiers storage.Dossiers
	log      zerolog.Logger
	now      func() time.Time

	mu     sync.RWMutex
	sites  map[string]*siteIndex
	recent []localChange

	flightMu sync.Mutex
	flight   map[string]*refreshCall
}

// indexEntry is one queue marker.
type indexEntry struct {
	cursor   string // the marker's name: <received>-<number>
	number   string
	status   storage.Status
	received time.Time
	sum      atomic.Pointer[summary]
}

// summary is what the index keeps of a manifest.
type summary struct {
	channel   storage.Channel
	postmark  *time.Time
	applicant string
	evidence  string
	assigned  string
	refs      []string
	// search is the normalised text a query is matched against.
	search string
}

// siteIndex is one site's queues.
type siteIndex struct {
	built time.Time
	lists map[storage.Status][]*indexEntry
	// version changes with every change of the lists or summaries; counts
	// are kept for the version they were computed at.
	version uint64
	counted *queueCounts
	countAt uint64
}

// localChange is an action of this process, replayed over a refresh that
// listed the markers before it.
type localChange struct {
	at  time.Time
	sum *summary
	m   storage.Manifest
}

type refreshCall struct {
	done chan struct{}
	err  error
}

func newQueueIndex(d storage.Dossiers, log zerolog.Logger, now func() time.Time) *queueIndex {
	return &queueIndex{dossiers: d, log: log, now: now, sites: map[string]*siteIndex{}, flight: map[string]*refreshCall{}}
}

// markerCursor is the cursor of a dossier's marker in its queue.
func markerCursor(m *storage.Manifest) string {
	return strings.TrimPrefix(storage.QueueKey(m.Site, m.Status, m.ReceivedAt, m.Number), storage.QueuePrefix(m.Site, m.Status))
}

// syncSummaries is the number of summaries the first page of a site waits
// for; above it they load in the background (a few seconds for 50,000 on
// the filesystem bucket) and the page says its channel counts are partial.
const syncSummaries = 2000

// ensure builds a site's index if this process has none yet: the markers
// now, the summaries now or in the background (syncSummaries).
func (x *queueIndex) ensure(ctx context.Context, site string) error {
	x.mu.RLock()
	_, ok := x.sites[site]
	x.mu.RUnlock()
	if ok {
		return nil
	}
	if err := x.refreshMarkers(ctx, site); err != nil {
		return err
	}
	if x.missingSummaries(site) <= syncSummaries {
		return x.fillSummaries(ctx, site)
	}
	go x.fillSummaries(context.WithoutCancel(ctx), site)
	return nil
}

// missingSummaries counts a site's entries without a summary.
func (x *queueIndex) missingSummaries(site string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	if si := x.sites[site]; si != nil {
		for _, l := range si.lists {
			for _, e := range l {
				if e.sum.Load() == nil {
					n++
				}
			}
		}
	}
	return n
}

// refresh re-lists a site's markers and loads the summaries it lacks.
// Concurrent calls for one site share one refresh.
func (x *queueIndex) refresh(ctx context.Context, site string) error {
	if err := x.refreshMarkers(ctx, site); err != nil {
		return err
	}
	return x.fillSummaries(ctx, site)
}

// refreshMarkers lists every marker of the site and swaps the lists in,
// keeping the summaries of markers that did not change.
func (x *queueIndex) refreshMarkers(ctx context.Context, site string) error {
	x.flightMu.Lock()
	if c, ok := x.flight[site]; ok {
		x.flightMu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &refreshCall{done: make(chan struct{})}
	x.flight[site] = c
	x.flightMu.Unlock()

	c.err = x.listMarkers(ctx, site)

	x.flightMu.Lock()
	delete(x.flight, site)
	x.flightMu.Unlock()
	close(c.done)
	return c.err
}

func (x *queueIndex) listMarkers(ctx context.Context, site string) error {
	start := x.now()
	x.mu.RLock()
	old := x.sites[site]
	x.mu.RUnlock()
	known := map[string]*indexEntry{}
	if old != nil {
		for _, l := range old.lists {
			for _, e := range l {
				known[string(e.status)+"/"+e.cursor] = e
			}
		}
	}
	q := storage.Queue{Bucket: x.dossiers.Bucket}
	lists := make(map[storage.Status][]*indexEntry, len(storage.Statuses))
	for _, st := range storage.Statuses {
		var list []*indexEntry
		after := ""
		for {
			// Large pages: the filesystem bucket reads a directory once per
			// page (S3 caps pages at 1,000 anyway).
			page, next, err := q.Page(ctx, site, st, after, 10000)
			if err != nil {
				return fmt.Errorf("index %s/%s: %w", site, st, err)
			}
			for _, qe := range page {
				if e, ok := known[string(st)+"/"+qe.Cursor]; ok {
					list = append(list, e)
					continue
				}
				list = append(list, &indexEntry{cursor: qe.Cursor, number: qe.Number, status: st, received: qe.ReceivedAt})
			}
			if next == "" {
				break
			}
			after = next
		}
		lists[st] = list
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	si := &siteIndex{built: start, lists: lists}
	x.sites[site] = si
	// Replay this process's actions that the listing may have missed.
	keep := x.recent[:0]
	for _, ch := range x.recent {
		if ch.at.Before(start.Add(-10 * time.Minute)) {
			continue
		}
		keep = append(keep, ch)
		// Earlier changes are in the listing; replaying them could undo a
		// later change made elsewhere.
		if ch.m.Site == site && !ch.at.Before(start) {
			si.apply(&ch.m, ch.sum)
		}
	}
	x.recent = keep
	return nil
}

// fillSummaries reads the manifests of the entries that have no summary,
// eight at a time.
func (x *queueIndex) fillSummaries(ctx context.Context, site string) error {
	x.mu.RLock()
	si := x.sites[site]
	var todo []*indexEntry
	if si != nil {
		for _, l := range si.lists {
			for _, e := range l {
				if e.sum.Load() == nil {
					todo = append(todo, e)
				}
			}
		}
	}
	x.mu.RUnlock()
	work := make(chan *indexEntry)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 8 {
		wg.Go(func() {
			for e := range work {
				m, _, err := x.dossiers.Get(ctx, e.number)
				if errors.Is(err, storage.ErrNotFound) {
					continue // a marker ahead of its manifest, or a leftover
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				e.sum.Store(summarize(m))
			}
		})
	}
	for _, e := range todo {
		if ctx.Err() != nil {
			break
		}
		work <- e
	}
	close(work)
	wg.Wait()
	x.mu.Lock()
	if si := x.sites[site]; si != nil {
		si.version++
	}
	x.mu.Unlock()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("index %s summaries: %w", site, err)
	}
	return ctx.Err()
}

// apply records a manifest this process just wrote (or read fresher than
// the index): the dossier moves to its status's list with a new summary.
func (x *queueIndex) apply(m *storage.Manifest) {
	sum := summarize(m)
	x.mu.Lock()
	defer x.mu.Unlock()
	if si := x.sites[m.Site]; si != nil {
		si.apply(m, sum)
	}
	x.recent = append(x.recent, localChange{at: x.now(), sum: sum, m: *m})
	if len(x.recent) > 10000 {
		x.recent = x.recent[len(x.recent)-5000:]
	}
}

func (si *siteIndex) apply(m *storage.Manifest, sum *summary) {
	si.version++
	for st, l := range si.lists {
		if st == m.Status {
			continue
		}
		si.lists[st] = slices.DeleteFunc(l, func(e *indexEntry) bool { return e.number == m.Number })
	}
	cur := markerCursor(m)
	l := si.lists[m.Status]
	i, found := slices.BinarySearchFunc(l, cur, func(e *indexEntry, c string) int { return strings.Compare(e.cursor, c) })
	if found {
		l[i].sum.Store(sum)
		return
	}
	e := &indexEntry{cursor: cur, number: m.Number, status: m.Status, received: m.ReceivedAt}
	e.sum.Store(sum)
	si.lists[m.Status] = slices.Insert(l, i, e)
}
