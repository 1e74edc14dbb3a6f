package web

import (
	"net/http"
	"net/url"

	"recevable/storage"
)

// apiAuditList returns audit events: ?from=&to= (days, inclusive, at most
// 31), ?who=, ?dossier=, ?action=, ?after=<key> to page.
func (s *Server) apiAuditList(w http.ResponseWriter, r *http.Request, sess *session) {
	in := r.URL.Query()
	q := url.Values{"du": {in.Get("from")}, "au": {in.Get("to")}, "qui": {in.Get("who")},
		"dossier": {in.Get("dossier")}, "action": {in.Get("action")}, "apres": {in.Get("after")}}
	aq, msg := s.parseAuditQuery(q, s.sites[0].Location)
	if msg != "" {
		writeJSONError(w, http.StatusBadRequest, "bad_request", msg)
		return
	}
	if !s.recordRead(w, r, sess, "audit.read", aq.Dossier, "api") {
		return
	}
	events, more, err := s.readAudit(r, aq)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	type item struct {
		storage.AuditEvent
		Key string `json:"key"`
	}
	out := make([]item, len(events))
	for i, e := range events {
		out[i] = item{AuditEvent: e, Key: e.Key}
	}
	body := map[string]any{"items": out}
	if more {
		body["next"] = events[len(events)-1].Key
	}
	writeJSON(w, http.StatusOK, body)
}
