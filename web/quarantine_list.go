package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"recevable/storage"
)

// Quarantine pages: what failed, why, the original to download, and
// reprocessing after a fix. Entries hold no personal data (ids, limits,
// codes) and are not tied to a site; the raw original is personal data and
// is for supervisors only (routes.go).

// quarantineView is the data of the quarantine list.
type quarantineView struct {
	Entries []storage.QuarantineEntry
	NextURL string
	Now     time.Time
}

// quarantineList lists quarantined items, 50 per page, in hash order.
func (s *Server) quarantineList(w http.ResponseWriter, r *http.Request, sess *session) {
	entries, next, err := s.quarantine.List(r.Context(), r.URL.Query().Get("apres"), pageSize)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	v := quarantineView{Entries: entries, Now: s.now()}
	if next != "" {
		v.NextURL = "/quarantaine?apres=" + url.QueryEscape(next)
	}
	p := page{Title: "Quarantaine", Nav: "quarantaine", Session: sess, Data: v}
	if r.URL.Query().Get("fait") == "retraiter" {
		p.Notice = "L'élément est sorti de quarantaine : il va être traité de nouveau."
	}
	s.render(w, r, http.StatusOK, "quarantine_list", p)
}

// quarantineItem is the data of one quarantined item's page.
type quarantineItem struct {
	Entry     storage.QuarantineEntry
	Raw       *storage.RawMeta
	CanRaw    bool
	Reprocess bool
}

// quarantineShow shows one quarantined item.
func (s *Server) quarantineShow(w http.ResponseWriter, r *http.Request, sess *session) {
	sha := r.PathValue("sha")
	e, _, err := s.quarantine.Get(r.Context(), sha)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrBadSHA256) {
		s.fail(w, r, sess, http.StatusNotFound, "Élément introuvable", "Cet élément n'est pas (ou plus) en quarantaine.")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "quarantine.read", "", "sha256:"+sha[:16]) {
		return
	}
	v := quarantineItem{Entry: e, CanRaw: sess.Has(RoleSuperviseur), Reprocess: true}
	if meta, err := s.raws.Head(r.Context(), sha); err == nil {
		v.Raw = &meta
	}
	s.render(w, r, http.StatusOK, "quarantine_show", page{Title: "Quarantaine", Nav: "quarantaine", Session: sess, Data: v})
}

// quarantineRaw downloads a quarantined original.
func (s *Server) quarantineRaw(w http.ResponseWriter, r *http.Request, sess *session) {
	sha := r.PathValue("sha")
	if storage.CheckSHA256(sha) != nil {
		s.fail(w, r, sess, http.StatusNotFound, "Élément introuvable", "Cet élément n'existe pas.")
		return
	}
	if !s.recordRead(w, r, sess, "quarantine.raw", "", "sha256:"+sha[:16]) {
		return
	}
	s.serveRaw(w, r, sess, sha, "quarantaine-"+sha[:12], false)
}

// reprocessQuarantined takes an item out of quarantine and asks for it to
// be processed again.
func (s *Server) reprocessQuarantined(r *http.Request, sess *session, sha string) error {
	if _, _, err := s.quarantine.Get(r.Context(), sha); err != nil {
		return err
	}
	// Removing the entry is enough for the crash-recovery backlog
	// (storage.Raws.Pending) to pick the item up; the Reprocessor makes it
	// immediate.
	if err := s.quarantine.Delete(r.Context(), sha); err != nil {
		return err
	}
	s.record(r.Context(), sess.ID, "quarantine.reprocess", "", "sha256:"+sha[:16])
	if s.opts.Reprocessor != nil {
		if err := s.opts.Reprocessor.Reprocess(r.Context(), sha); err != nil {
			s.log.Warn().Err(err).Str("raw", sha).Msg("reprocess after quarantine: left to recovery")
		}
	}
	return nil
}

// quarantineReprocess is the page action.
func (s *Server) quarantineReprocess(w http.ResponseWriter, r *http.Request, sess *session) {
	err := s.reprocessQuarantined(r, sess, r.PathValue("sha"))
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrBadSHA256) {
		s.fail(w, r, sess, http.StatusNotFound, "Élément introuvable", "Cet élément n'est plus en quarantaine : il a peut-être déjà été retraité.")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/quarantaine?fait=retraiter", http.StatusSeeOther)
}
