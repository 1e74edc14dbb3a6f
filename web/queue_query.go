package web

import (
	"slices"
	"strings"
	"time"

	"recevable/storage"
)

// Reads of the queue index: a page of a queue, the counts, a search. All
// run in memory under the index's read lock (counts take the write lock
// once per version to cache their result).

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
