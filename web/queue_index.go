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

// queueQuery selects a page of one queue.
type queueQuery struct {
	Site    string
	Status  storage.Status
	Channel storage.Channel // "" for every channel
	After   string          // cursor: the page starts after it
	Before  string          // cursor: the page ends before it (previous page)
	Limit   int
}

// queuePage is one page of a queue, from the index.
type queuePage struct {
	Entries []*indexEntry
	// Next and Prev are the cursors of the following and previous pages,
	// "" at the ends.
	Next, Prev string
	// Total is the number of entries matching; Offset the position of the
	// first one shown.
	Total, Offset int
	Built         time.Time
	// Partial: some summaries are still loading, so a channel filter may
	// miss entries.
	Partial bool
}

// page returns a page of a queue in arrival order.
func (x *queueIndex) page(q queueQuery) queuePage {
	x.mu.RLock()
	defer x.mu.RUnlock()
	si := x.sites[q.Site]
	if si == nil {
		return queuePage{}
	}
	list := si.lists[q.Status]
	p := queuePage{Built: si.built}
	if q.Channel != "" {
		filtered := make([]*indexEntry, 0, len(list)/2)
		for _, e := range list {
			sum := e.sum.Load()
			if sum == nil {
				p.Partial = true
				continue
			}
			if sum.channel == q.Channel {
				filtered = append(filtered, e)
			}
		}
		list = filtered
	}
	p.Total = len(list)
	cmp := func(e *indexEntry, c string) int { return strings.Compare(e.cursor, c) }
	start := 0
	switch {
	case q.Before != "":
		end, _ := slices.BinarySearchFunc(list, q.Before, cmp)
		start = max(0, end-q.Limit)
	case q.After != "":
		i, found := slices.BinarySearchFunc(list, q.After, cmp)
		if found {
			i++
		}
		start = i
	}
	end := min(len(list), start+q.Limit)
	p.Offset = start
	p.Entries = slices.Clone(list[start:end])
	if end < len(list) && len(p.Entries) > 0 {
		p.Next = p.Entries[len(p.Entries)-1].cursor
	}
	if start > 0 && len(p.Entries) > 0 {
		p.Prev = p.Entries[0].cursor
	}
	return p
}

// queueCounts are the sizes of a site's queues.
type queueCounts struct {
	ByStatus  map[storage.Status]int
	ByChannel map[storage.Channel]int
	// ChannelByStatus counts, per status, the entries of each channel.
	ChannelByStatus map[storage.Status]map[storage.Channel]int
	Total           int
	// Complete is false while summaries load: channel counts are then low.
	Complete bool
	Built    time.Time
}

// counts returns a site's counts. They are computed once per version of
// the index (a pass over every entry), not once per page.
func (x *queueIndex) counts(site string) queueCounts {
	x.mu.RLock()
	si := x.sites[site]
	if si != nil && si.counted != nil && si.countAt == si.version && si.counted.Complete {
		c := *si.counted
		x.mu.RUnlock()
		return c
	}
	x.mu.RUnlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	c := queueCounts{ByStatus: map[storage.Status]int{}, ByChannel: map[storage.Channel]int{},
		ChannelByStatus: map[storage.Status]map[storage.Channel]int{}, Complete: true}
	si = x.sites[site]
	if si == nil {
		return c
	}
	c.Built = si.built
	for st, l := range si.lists {
		c.ByStatus[st] = len(l)
		c.Total += len(l)
		// Channels are few: count them in a small slice, not a map per
		// entry.
		var chans []storage.Channel
		var ns []int
	entries:
		for _, e := range l {
			sum := e.sum.Load()
			if sum == nil {
				c.Complete = false
				continue
			}
			for i, ch := range chans {
				if ch == sum.channel {
					ns[i]++
					continue entries
				}
			}
			chans, ns = append(chans, sum.channel), append(ns, 1)
		}
		per := make(map[storage.Channel]int, len(chans))
		for i, ch := range chans {
			per[ch] = ns[i]
			c.ByChannel[ch] += ns[i]
		}
		c.ChannelByStatus[st] = per
	}
	si.counted, si.countAt = &c, si.version
	return c
}

// search finds a site's dossiers whose number, applicant, email or
// invitation reference contains the query, in every status, in arrival
// order: the first limit of them, and how many match in all; partial
// reports that summaries are still loading.
func (x *queueIndex) search(site, query string, limit int) (found []*indexEntry, total int, partial bool) {
	needle := normalizeSearch(query)
	if needle == "" {
		return nil, 0, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	si := x.sites[site]
	if si == nil {
		return nil, 0, false
	}
	seen := map[string]bool{}
	for _, st := range storage.Statuses {
		for _, e := range si.lists[st] {
			sum := e.sum.Load()
			if sum == nil {
				partial = true
				continue
			}
			if seen[e.number] || !strings.Contains(sum.search, needle) {
				continue
			}
			seen[e.number] = true
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *indexEntry) int { return strings.Compare(a.cursor, b.cursor) })
	if len(found) > limit {
		return found[:limit], len(seen), partial
	}
	return found, len(seen), partial
}
