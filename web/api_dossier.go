package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"recevable/storage"
)

// The JSON API of the review queue (docs/api.md). It calls the same code
// as the pages: same index, same workflow, same audit, same role checks
// (routes.go).

// apiQueueItem is one dossier of a list.
type apiQueueItem struct {
	Number     string          `json:"number"`
	Status     storage.Status  `json:"status"`
	ReceivedAt time.Time       `json:"received_at"`
	Postmark   *time.Time      `json:"postmark,omitempty"`
	Channel    storage.Channel `json:"channel"`
	Applicant  string          `json:"applicant,omitempty"`
	Evidence   string          `json:"evidence"`
	Outcome    storage.Outcome `json:"outcome"`
	AssignedTo string          `json:"assigned_to,omitempty"`
}

// apiQueueList is the body of GET /api/dossiers.
type apiQueueList struct {
	Site    string         `json:"site"`
	Status  storage.Status `json:"status,omitempty"`
	Query   string         `json:"query,omitempty"`
	Total   int            `json:"total"`
	Offset  int            `json:"offset"`
	Next    string         `json:"next,omitempty"`
	Prev    string         `json:"prev,omitempty"`
	More    bool           `json:"more,omitempty"`
	Partial bool           `json:"partial"`
	BuiltAt time.Time      `json:"index_built_at"`
	Items   []apiQueueItem `json:"items"`
}

// apiSite picks the site of an API request: ?site=, or the account's first.
func (s *Server) apiSite(w http.ResponseWriter, r *http.Request, sess *session) (string, bool) {
	site := r.URL.Query().Get("site")
	sites := sess.visibleSites(s.sites)
	if site == "" && len(sites) > 0 {
		site = sites[0].ID
	}
	if s.site(site) == nil || !sess.Sees(site) {
		writeJSONError(w, http.StatusNotFound, "not_found", "unknown site, or not one of the account's")
		return "", false
	}
	return site, true
}

// apiCounts returns the counts per status and channel of a site.
func (s *Server) apiCounts(w http.ResponseWriter, r *http.Request, sess *session) {
	site, ok := s.apiSite(w, r, sess)
	if !ok {
		return
	}
	if err := s.index.ensure(r.Context(), site); err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	c := s.index.counts(site)
	writeJSON(w, http.StatusOK, map[string]any{
		"site": site, "total": c.Total, "by_status": c.ByStatus, "by_channel": c.ByChannel,
		"by_status_and_channel": c.ChannelByStatus, "complete": c.Complete, "index_built_at": c.Built,
	})
}

// apiDossierList lists a queue or searches.
func (s *Server) apiDossierList(w http.ResponseWriter, r *http.Request, sess *session) {
	site, ok := s.apiSite(w, r, sess)
	if !ok {
		return
	}
	ctx := r.Context()
	if err := s.index.ensure(ctx, site); err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 200 {
		limit = pageSize
	}
	out := apiQueueList{Site: site, Query: strings.TrimSpace(q.Get("q")), Items: []apiQueueItem{}}
	var entries []*indexEntry
	if out.Query != "" {
		found, number, err := s.searchQueue(ctx, sess, site, out.Query, limit)
		if err != nil {
			s.storageFailed(w, r, sess, err)
			return
		}
		if number != "" {
			m, _, err := s.dossiers.Get(ctx, number)
			if err != nil {
				s.storageFailed(w, r, sess, err)
				return
			}
			e := &indexEntry{cursor: markerCursor(m), number: m.Number, status: m.Status, received: m.ReceivedAt}
			found.entries, found.total = []*indexEntry{e}, 1
		}
		entries, out.Partial, out.Total = found.entries, found.partial, found.total
		out.More = found.total > len(found.entries)
	} else {
		out.Status = storage.Status(q.Get("status"))
		if storage.CheckStatus(out.Status) != nil {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "status must be one of the statuses of docs/api.md")
			return
		}
		ch := storage.Channel(q.Get("channel"))
		if _, known := channelLabels[ch]; ch != "" && !known {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "unknown channel")
			return
		}
		p := s.index.page(queueQuery{Site: site, Status: out.Status, Channel: ch, After: q.Get("after"), Before: q.Get("before"), Limit: limit})
		entries, out.Total, out.Offset, out.Next, out.Prev, out.Partial = p.Entries, p.Total, p.Offset, p.Next, p.Prev, p.Partial
	}
	out.BuiltAt = s.index.counts(site).Built
	rows, err := s.loadRows(ctx, entries, out.Status)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	for _, row := range rows {
		out.Items = append(out.Items, apiQueueItem{Number: row.Number, Status: row.Status, ReceivedAt: row.ReceivedAt,
			Postmark: row.Postmark, Channel: row.Channel, Applicant: row.Applicant, Evidence: row.Evidence,
			Outcome: row.Outcome, AssignedTo: row.Assigned})
	}
	writeJSON(w, http.StatusOK, out)
}

// httpETag quotes a storage ETag for the ETag header (RFC 9110 §8.8.3).
func httpETag(e storage.ETag) string { return `"` + strings.ReplaceAll(string(e), `"`, "") + `"` }

// parseIfMatch reads If-Match: one entity tag, strong or weak.
func parseIfMatch(v string) storage.ETag {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "W/"))
	return storage.ETag(strings.Trim(v, `"`))
}

// apiDossierShow returns a dossier's manifest, with its ETag to pass in
// If-Match to an action.
func (s *Server) apiDossierShow(w http.ResponseWriter, r *http.Request, sess *session) {
	m, etag, err := s.getVisible(r.Context(), sess, r.PathValue("number"))
	if err != nil {
		s.dossierError(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "dossier.read", m.Number, "api") {
		return
	}
	w.Header().Set("ETag", httpETag(etag))
	writeJSON(w, http.StatusOK, m)
}

// apiActionRequest is the body of an action. Deadline is a date
// (YYYY-MM-DD, the whole day counts) or an RFC 3339 time.
type apiActionRequest struct {
	ANEF     string   `json:"anef"`
	Pieces   []string `json:"pieces"`
	Deadline string   `json:"deadline"`
	Reason   string   `json:"reason"`
	Comment  string   `json:"comment"`
}

// apiConflict is the body of a 412: the current version of the dossier.
type apiConflict struct {
	apiError
	CurrentETag string            `json:"current_etag"`
	Dossier     *storage.Manifest `json:"dossier"`
}

// apiDossierAction runs an action. If-Match is required: an API client,
// like an agent, acts on the version it read.
func (s *Server) apiDossierAction(a *actionDef) handler {
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		number := r.PathValue("number")
		ifMatch := parseIfMatch(r.Header.Get("If-Match"))
		if ifMatch == "" {
			writeJSONError(w, http.StatusPreconditionRequired, "precondition_required", "If-Match with the dossier's ETag (from GET /api/dossiers/{number}) is required")
			return
		}
		var req apiActionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
			return
		}
		p := actionParams{ANEF: req.ANEF, Pieces: req.Pieces, Reason: req.Reason, Comment: req.Comment}
		if req.Deadline != "" {
			site, _, _, _ := storage.ParseNumber(number)
			loc := time.UTC
			if st := s.site(site); st != nil {
				loc = st.Location
			}
			if t, err := time.ParseInLocation("2006-01-02", req.Deadline, loc); err == nil {
				p.Deadline = t.Add(23*time.Hour + 59*time.Minute)
			} else if t, err := time.Parse(time.RFC3339, req.Deadline); err == nil {
				p.Deadline = t
			} else {
				writeJSONError(w, http.StatusBadRequest, "bad_request", "deadline: want YYYY-MM-DD or RFC 3339")
				return
			}
		}
		m, etag, err := s.perform(r.Context(), sess, number, ifMatch, -1, a, p)
		var conflict *conflictError
		var refused *actionError
		switch {
		case err == nil:
			w.Header().Set("ETag", httpETag(etag))
			writeJSON(w, http.StatusOK, m)
		case errors.As(err, &conflict):
			w.Header().Set("ETag", httpETag(conflict.ETag))
			writeJSON(w, http.StatusPreconditionFailed, apiConflict{
				apiError:    apiError{Error: "precondition_failed", Message: conflictSummary(conflict)},
				CurrentETag: string(conflict.ETag), Dossier: conflict.Current})
		case errors.As(err, &refused):
			writeJSONError(w, http.StatusUnprocessableEntity, "invalid", refused.msg)
		default:
			s.dossierError(w, r, sess, err)
		}
	}
}

// conflictSummary says in French what happened since the caller's version.
func conflictSummary(c *conflictError) string {
	msg := "Le dossier a été modifié depuis votre lecture ; votre action n'a pas été appliquée."
	if h := c.Current.History; len(h) > 0 {
		last := h[len(h)-1]
		msg += " Dernière action : « " + historyLabel(last.Action) + " » par " + last.Actor + "."
	}
	return msg
}
