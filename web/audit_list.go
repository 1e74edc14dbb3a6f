package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"recevable/storage"
)

// maxAuditRows bounds one page of the audit log.
const maxAuditRows = 500

// maxAuditDays bounds the period one page reads.
const maxAuditDays = 31

// auditQuery is a filter of the audit log.
type auditQuery struct {
	From, To     time.Time // days, in the display time zone; To inclusive
	Who, Dossier string
	Action       string
	After        string // key of the last event of the previous page
}

// auditView is the data of the audit page.
type auditView struct {
	Q       auditQuery
	FromDay string
	ToDay   string
	Events  []storage.AuditEvent
	NextURL string
	Actions []string
	Error   string
}

var errAuditStop = errors.New("page full")

// parseAuditQuery reads the filter from the query string.
func (s *Server) parseAuditQuery(q url.Values, loc *time.Location) (auditQuery, string) {
	today := civilDay(s.now(), loc)
	a := auditQuery{From: today, To: today, Who: strings.TrimSpace(q.Get("qui")), Dossier: strings.TrimSpace(q.Get("dossier")),
		Action: q.Get("action"), After: q.Get("apres")}
	if v := firstNonEmpty(q.Get("du"), q.Get("from")); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return a, "La date de début n'est pas une date."
		}
		a.From, a.To = t, t
	}
	if v := firstNonEmpty(q.Get("au"), q.Get("to")); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return a, "La date de fin n'est pas une date."
		}
		a.To = t
	}
	if a.To.Before(a.From) {
		a.From, a.To = a.To, a.From
	}
	if a.To.Sub(a.From) > maxAuditDays*24*time.Hour {
		return a, "La période ne peut pas dépasser 31 jours."
	}
	return a, ""
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// readAudit returns the events matching q in time order, at most
// maxAuditRows, and whether more follow.
func (s *Server) readAudit(r *http.Request, q auditQuery) ([]storage.AuditEvent, bool, error) {
	var out []storage.AuditEvent
	more := false
	err := s.audit.Range(r.Context(), q.From, q.To.AddDate(0, 0, 1), func(e storage.AuditEvent) error {
		if q.After != "" && e.Key <= q.After {
			return nil
		}
		if q.Who != "" && e.Who != q.Who || q.Dossier != "" && e.Dossier != q.Dossier || q.Action != "" && e.Action != q.Action {
			return nil
		}
		if len(out) == maxAuditRows {
			more = true
			return errAuditStop
		}
		out = append(out, e)
		return nil
	})
	if err != nil && !errors.Is(err, errAuditStop) {
		return nil, false, err
	}
	return out, more, nil
}

// auditList is the supervisors' page of the audit log.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request, sess *session) {
	loc := s.sites[0].Location
	q, msg := s.parseAuditQuery(r.URL.Query(), loc)
	v := auditView{Q: q, FromDay: q.From.Format("2006-01-02"), ToDay: q.To.Format("2006-01-02")}
	for code := range auditLabels {
		v.Actions = append(v.Actions, code)
	}
	slices.Sort(v.Actions)
	p := page{Title: "Journal d'audit", Nav: "journal", Session: sess, Loc: loc, Data: &v}
	if msg != "" {
		p.Error = msg
		s.render(w, r, http.StatusUnprocessableEntity, "audit", p)
		return
	}
	if !s.recordRead(w, r, sess, "audit.read", q.Dossier, "") {
		return
	}
	events, more, err := s.readAudit(r, q)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	v.Events = events
	if more {
		next := r.URL.Query()
		next.Set("apres", events[len(events)-1].Key)
		v.NextURL = "/journal?" + next.Encode()
	}
	s.render(w, r, http.StatusOK, "audit", p)
}
