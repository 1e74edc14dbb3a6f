package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// pageSize is the number of rows of a queue page.
const pageSize = 50

// queueRow is one line of the queue, from the dossier's manifest as read
// for this page.
type queueRow struct {
	Number     string
	Status     storage.Status
	Moved      bool // the manifest is no longer in the queue shown
	ReceivedAt time.Time
	Postmark   *time.Time
	Channel    storage.Channel
	Applicant  string
	Evidence   string
	Outcome    storage.Outcome
	Assigned   string
}

// queueTab is one status tab with its count.
type queueTab struct {
	Status storage.Status
	Count  int
	Active bool
	URL    string
}

// channelFilter is one channel choice with its count in the current queue.
type channelFilter struct {
	Channel storage.Channel
	Count   int
	Active  bool
	URL     string
}

// queueView is the data of the queue page.
type queueView struct {
	Sites    []Site
	Site     string
	Status   storage.Status
	Channel  storage.Channel
	Query    string
	Tabs     []queueTab
	Channels []channelFilter
	AllURL   string
	Counts   queueCounts
	Rows     []queueRow
	// Paging.
	From, To, Total  int
	NextURL, PrevURL string
	// Search.
	Search, SearchMore bool
	Partial            bool
	Now                time.Time
	Built              time.Time
}

// dossierList is the queue page: counts per status and channel, one
// status's dossiers in arrival order, or the results of a search.
func (s *Server) dossierList(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	q := r.URL.Query()
	sites := sess.visibleSites(s.sites)
	if len(sites) == 0 {
		s.fail(w, r, sess, http.StatusForbidden, "Aucun site", "Votre compte n'est rattaché à aucun site de cette installation.")
		return
	}
	site := q.Get("site")
	if site == "" {
		site = sites[0].ID
	}
	if !slices.ContainsFunc(sites, func(x Site) bool { return x.ID == site }) {
		s.fail(w, r, sess, http.StatusNotFound, "Site inconnu", "Ce site n'existe pas ou ne vous est pas ouvert.")
		return
	}
	if err := s.index.ensure(ctx, site); err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if q.Get("actualiser") != "" {
		if err := s.index.refreshMarkers(ctx, site); err != nil {
			s.storageFailed(w, r, sess, err)
			return
		}
		go s.index.fillSummaries(context.WithoutCancel(ctx), site)
	}
	v := queueView{Sites: sites, Site: site, Query: strings.TrimSpace(q.Get("q")), Now: s.now()}
	v.Counts = s.index.counts(site)
	v.Built = v.Counts.Built

	var entries []*indexEntry
	if v.Query != "" {
		found, redirect, err := s.searchQueue(ctx, sess, site, v.Query, pageSize)
		if err != nil {
			s.storageFailed(w, r, sess, err)
			return
		}
		if redirect != "" {
			http.Redirect(w, r, "/dossiers/"+url.PathEscape(redirect), http.StatusSeeOther)
			return
		}
		entries, v.Partial = found.entries, found.partial
		v.Search, v.Total, v.From, v.To = true, found.total, 1, len(entries)
		v.SearchMore = found.total > len(entries)
	} else {
		v.Status = storage.Status(q.Get("statut"))
		if storage.CheckStatus(v.Status) != nil {
			v.Status = defaultStatus(v.Counts)
		}
		v.Channel = storage.Channel(q.Get("canal"))
		if _, ok := channelLabels[v.Channel]; !ok {
			v.Channel = ""
		}
		p := s.index.page(queueQuery{Site: site, Status: v.Status, Channel: v.Channel, After: q.Get("apres"), Before: q.Get("avant"), Limit: pageSize})
		entries, v.Partial, v.Total = p.Entries, p.Partial, p.Total
		v.From, v.To = p.Offset+1, p.Offset+len(p.Entries)
		if p.Next != "" {
			v.NextURL = queueURL(site, v.Status, v.Channel, "apres", p.Next)
		}
		if p.Prev != "" {
			v.PrevURL = queueURL(site, v.Status, v.Channel, "avant", p.Prev)
		}
	}
	rows, err := s.loadRows(ctx, entries, v.Status)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	v.Rows = rows
	for _, st := range storage.Statuses {
		v.Tabs = append(v.Tabs, queueTab{Status: st, Count: v.Counts.ByStatus[st], Active: !v.Search && st == v.Status, URL: queueURL(site, st, "", "", "")})
	}
	per := v.Counts.ChannelByStatus[v.Status]
	for _, c := range []storage.Channel{storage.ChannelEmail, storage.ChannelPostal, storage.ChannelUpload} {
		v.Channels = append(v.Channels, channelFilter{Channel: c, Count: per[c], Active: c == v.Channel, URL: queueURL(site, v.Status, c, "", "")})
	}
	v.AllURL = queueURL(site, v.Status, "", "", "")
	s.render(w, r, http.StatusOK, "queue", page{Title: "File d'attente", Nav: "dossiers", Session: sess, Loc: s.site(site).Location, Data: v})
}

// defaultStatus is the first open queue with dossiers in it, else
// "recevable".
func defaultStatus(c queueCounts) storage.Status {
	for _, st := range []storage.Status{storage.StatusRecevable, storage.StatusAVerifier, storage.StatusIrrecevablePropose, storage.StatusPiecesManquantes} {
		if c.ByStatus[st] > 0 {
			return st
		}
	}
	return storage.StatusRecevable
}

// queueURL builds a queue link.
func queueURL(site string, st storage.Status, ch storage.Channel, dir, cursor string) string {
	q := url.Values{"site": {site}}
	if st != "" {
		q.Set("statut", string(st))
	}
	if ch != "" {
		q.Set("canal", string(ch))
	}
	if dir != "" {
		q.Set(dir, cursor)
	}
	return "/dossiers?" + q.Encode()
}

// searchResult is what a queue search found: the first entries, how many
// match in all.
type searchResult struct {
	entries []*indexEntry
	total   int
	partial bool
}

// searchQueue interprets a query: a registration number opens the dossier
// (redirect), an invitation reference finds the dossiers that presented it
// (index and registry), anything else is matched against numbers, names
// and emails. The search is audited by kind, not by its text (a name).
func (s *Server) searchQueue(ctx context.Context, sess *session, site, query string, limit int) (searchResult, string, error) {
	if nsite, _, _, err := storage.ParseNumber(strings.ToLower(query)); err == nil && sess.Sees(nsite) {
		number := strings.ToLower(query)
		if _, _, err := s.dossiers.Get(ctx, number); err == nil {
			return searchResult{}, number, nil
		} else if !errors.Is(err, storage.ErrNotFound) {
			return searchResult{}, "", err
		}
	}
	kind := "name"
	needle := query
	var fromRegistry []string
	if ref, err := validate.ParseReference(query); err == nil {
		kind, needle = "reference", ref.String()
		if code, err := validate.SiteCode(site); err == nil && code == ref.Code {
			inv, _, err := s.registry.Get(ctx, site, ref)
			if err == nil {
				for _, c := range inv.ConsumedBy {
					fromRegistry = append(fromRegistry, c.Dossier)
				}
			} else if !errors.Is(err, validate.ErrInvitationNotFound) {
				return searchResult{}, "", err
			}
		}
	}
	s.record(ctx, sess.ID, "dossier.search", "", kind)
	found, total, partial := s.index.search(site, needle, limit)
	for _, n := range fromRegistry {
		if slices.ContainsFunc(found, func(e *indexEntry) bool { return e.number == n }) {
			continue
		}
		m, _, err := s.dossiers.Get(ctx, n)
		if err != nil || m.Site != site {
			continue
		}
		e := &indexEntry{cursor: markerCursor(m), number: m.Number, status: m.Status, received: m.ReceivedAt}
		e.sum.Store(summarize(m))
		found = append(found, e)
		total++
	}
	return searchResult{entries: found, total: total, partial: partial}, "", nil
}

// loadRows reads the manifests of a page's entries, eight at a time, and
// corrects the index with what they say.
func (s *Server) loadRows(ctx context.Context, entries []*indexEntry, shown storage.Status) ([]queueRow, error) {
	rows := make([]queueRow, len(entries))
	ok := make([]bool, len(entries))
	errs := make([]error, len(entries))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m, _, err := s.dossiers.Get(ctx, e.number)
			if errors.Is(err, storage.ErrNotFound) {
				return // a marker ahead of its manifest: not a dossier yet
			}
			if err != nil {
				errs[i] = err
				return
			}
			if m.Status != e.status {
				s.index.apply(m)
			}
			row := queueRow{Number: m.Number, Status: m.Status, Moved: shown != "" && m.Status != shown,
				ReceivedAt: m.ReceivedAt, Channel: m.Channel, Evidence: evidenceSummary(m),
				Outcome: m.Decision.Outcome, Assigned: m.AssignedTo}
			if m.Postal != nil {
				row.Postmark = m.Postal.Postmark
			}
			if m.Sender != nil {
				row.Applicant = m.Sender.Name
				if row.Applicant == "" {
					row.Applicant = m.Sender.Email
				}
			}
			rows[i], ok[i] = row, true
		})
	}
	wg.Wait()
	out := rows[:0]
	for i := range rows {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if ok[i] {
			out = append(out, rows[i])
		}
	}
	return out, nil
}

// storageFailed answers when the bucket failed.
func (s *Server) storageFailed(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error().Err(err).Str("route", r.Pattern).Msg("storage error")
	s.fail(w, r, sess, http.StatusServiceUnavailable, "Stockage indisponible", "Le stockage des dossiers ne répond pas ou a renvoyé une erreur. Réessayez dans un instant.")
}
