package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"recevable/storage"
)

// Reprocessor runs the pipeline again on a raw item. cmd wires it to the
// workers. For a quarantined item it is called after the quarantine entry
// was removed; for a dossier, the pipeline re-evaluates the evidence and
// the decision of the dossier made from that raw item, which keeps its
// registration number. It must be idempotent (a second call while the first
// is pending does nothing more) and return once the work is accepted —
// queued or done; an error means nothing was queued.
type Reprocessor interface {
	Reprocess(ctx context.Context, rawSHA string) error
}

// conflictError: the dossier changed since the agent's version.
type conflictError struct {
	Current *storage.Manifest
	ETag    storage.ETag
	// Since are the history entries the agent had not seen, when known.
	Since []storage.HistoryEntry
}

func (e *conflictError) Error() string { return "dossier changed since it was read" }

// errHidden: the dossier belongs to a site the account does not see. It is
// answered like a missing dossier, so numbers of other sites do not leak.
var errHidden = errors.New("dossier of a site not visible")

// perform runs action a on dossier number for sess, if its manifest is
// still the version ifMatch (the one the agent saw; seen is how many
// history entries that version had, -1 if unknown). This ETag check is what
// keeps two agents from acting on the same dossier at once: the second one
// gets a *conflictError with the current version, never a silent overwrite.
func (s *Server) perform(ctx context.Context, sess *session, number string, ifMatch storage.ETag, seen int, a *actionDef, p actionParams) (*storage.Manifest, storage.ETag, error) {
	m, etag, err := s.getVisible(ctx, sess, number)
	if err != nil {
		return nil, "", err
	}
	if etag != ifMatch {
		return nil, "", newConflict(m, etag, seen)
	}
	site := s.site(m.Site)
	from := m.Status
	if a == actReprocess {
		if s.opts.Reprocessor == nil {
			return nil, "", refuse("Le retraitement n'est pas disponible sur cette installation.")
		}
		if !a.applies(m.Status) {
			return nil, "", refuse("Un dossier clos ne peut pas être retraité.")
		}
		if err := s.opts.Reprocessor.Reprocess(ctx, m.Raw); err != nil {
			return nil, "", fmt.Errorf("reprocess %s: %w", number, err)
		}
	}
	if err := a.apply(m, p, &sess.Principal, s.now(), site.Location); err != nil {
		return nil, "", err
	}
	newTag, err := s.dossiers.Update(ctx, m, etag)
	if errors.Is(err, storage.ErrPreconditionFailed) {
		cur, curTag, gerr := s.dossiers.Get(ctx, number)
		if gerr != nil {
			return nil, "", gerr
		}
		return nil, "", newConflict(cur, curTag, seen)
	}
	if err != nil {
		return nil, "", err
	}
	s.index.apply(m)
	detail := string(from)
	if m.Status != from {
		detail += "→" + string(m.Status)
	}
	s.record(ctx, sess.ID, a.Audit, number, detail)
	return m, newTag, nil
}

func newConflict(cur *storage.Manifest, etag storage.ETag, seen int) *conflictError {
	c := &conflictError{Current: cur, ETag: etag}
	if seen >= 0 && seen <= len(cur.History) {
		c.Since = cur.History[seen:]
	}
	return c
}

// getVisible reads a dossier the account may see.
func (s *Server) getVisible(ctx context.Context, sess *session, number string) (*storage.Manifest, storage.ETag, error) {
	site, _, _, err := storage.ParseNumber(number)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	if !sess.Sees(site) || s.site(site) == nil {
		return nil, "", errHidden
	}
	return s.dossiers.Get(ctx, number)
}

// dossierAction is the page handler of an action: a form posted from the
// dossier page with the manifest's ETag in it.
func (s *Server) dossierAction(a *actionDef) handler {
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		number := r.PathValue("number")
		seen, err := strconv.Atoi(r.PostFormValue("hist"))
		if err != nil {
			seen = -1
		}
		p := actionParams{
			ANEF:    r.PostFormValue("anef"),
			Reason:  strings.TrimSpace(r.PostFormValue("motif")),
			Comment: r.PostFormValue("commentaire"),
		}
		if other := strings.TrimSpace(r.PostFormValue("motif_autre")); other != "" {
			p.Reason = joinNonEmpty(" : ", p.Reason, other)
		}
		for line := range strings.Lines(r.PostFormValue("pieces")) {
			p.Pieces = append(p.Pieces, line)
		}
		if d := r.PostFormValue("echeance"); d != "" {
			site, _, _, _ := storage.ParseNumber(number)
			loc := time.UTC
			if st := s.site(site); st != nil {
				loc = st.Location
			}
			t, err := time.ParseInLocation("2006-01-02", d, loc)
			if err != nil {
				s.fail(w, r, sess, http.StatusBadRequest, "Date invalide", "La date limite n'est pas une date.")
				return
			}
			p.Deadline = t.Add(23*time.Hour + 59*time.Minute) // the whole day counts
		}
		_, _, err = s.perform(r.Context(), sess, number, storage.ETag(r.PostFormValue("etag")), seen, a, p)
		var conflict *conflictError
		var refused *actionError
		switch {
		case err == nil:
			http.Redirect(w, r, "/dossiers/"+url.PathEscape(number)+"?fait="+url.QueryEscape(a.API), http.StatusSeeOther)
		case errors.As(err, &conflict):
			s.showDossier(w, r, sess, conflict.Current, conflict.ETag, http.StatusConflict, dossierMessages{Conflict: conflict, Tried: a})
		case errors.As(err, &refused):
			m, etag, gerr := s.getVisible(r.Context(), sess, number)
			if gerr != nil {
				s.dossierError(w, r, sess, gerr)
				return
			}
			s.showDossier(w, r, sess, m, etag, http.StatusUnprocessableEntity, dossierMessages{Error: refused.msg, Tried: a})
		default:
			s.dossierError(w, r, sess, err)
		}
	}
}

// dossierError answers a failed read of a dossier.
func (s *Server) dossierError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, errHidden) {
		s.fail(w, r, sess, http.StatusNotFound, "Dossier introuvable", "Aucun dossier de vos sites ne porte ce numéro.")
		return
	}
	s.storageFailed(w, r, sess, err)
}
