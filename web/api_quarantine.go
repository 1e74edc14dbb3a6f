package web

import (
	"errors"
	"net/http"
	"time"

	"recevable/storage"
)

// apiQuarantineList is the body of GET /api/quarantine.
type apiQuarantineList struct {
	Items []storage.QuarantineEntry `json:"items"`
	Next  string                    `json:"next,omitempty"`
}

// apiQuarantineList lists quarantined items (?after=<sha>).
func (s *Server) apiQuarantineList(w http.ResponseWriter, r *http.Request, sess *session) {
	entries, next, err := s.quarantine.List(r.Context(), r.URL.Query().Get("after"), pageSize)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if entries == nil {
		entries = []storage.QuarantineEntry{}
	}
	writeJSON(w, http.StatusOK, apiQuarantineList{Items: entries, Next: next})
}

// apiQuarantineItem is the body of GET /api/quarantine/{sha}.
type apiQuarantineItem struct {
	storage.QuarantineEntry
	Raw *apiRawMeta `json:"raw_meta,omitempty"`
}

// apiRawMeta is what is known of the original.
type apiRawMeta struct {
	Size        int64             `json:"size"`
	Source      string            `json:"source,omitempty"`
	Coordinates map[string]string `json:"coordinates,omitempty"`
	ReceivedAt  time.Time         `json:"received_at"`
	StoredAt    time.Time         `json:"stored_at"`
}

// apiQuarantineShow returns one entry with the original's metadata.
func (s *Server) apiQuarantineShow(w http.ResponseWriter, r *http.Request, sess *session) {
	sha := r.PathValue("sha")
	e, _, err := s.quarantine.Get(r.Context(), sha)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrBadSHA256) {
		writeJSONError(w, http.StatusNotFound, "not_found", "not in quarantine")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "quarantine.read", "", "sha256:"+sha[:16]) {
		return
	}
	out := apiQuarantineItem{QuarantineEntry: e}
	if m, err := s.raws.Head(r.Context(), sha); err == nil {
		out.Raw = &apiRawMeta{Size: m.Size, Source: m.Source, Coordinates: m.Coordinates, ReceivedAt: m.ReceivedAt, StoredAt: m.StoredAt}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiQuarantineReprocess takes an item out of quarantine for processing.
func (s *Server) apiQuarantineReprocess(w http.ResponseWriter, r *http.Request, sess *session) {
	err := s.reprocessQuarantined(r, sess, r.PathValue("sha"))
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrBadSHA256) {
		writeJSONError(w, http.StatusNotFound, "not_found", "not in quarantine (already reprocessed?)")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
