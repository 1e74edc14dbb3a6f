package web

import (
	"context"
	"net/http"

	"recevable/storage"
)

// Every read of a dossier, a document or an original, and every action, is
// appended to the audit log in the bucket (storage.Audit): who (account
// id), when, what (an action code), which dossier, and a short machine-made
// detail — never a name, an address, a subject or a document's content
// (CNIL recommendation on logging, 2021).
//
// Reads fail closed: when the event cannot be written, the data is not
// shown, since an access that leaves no trace is what the log exists to
// prevent. Actions are recorded after they succeeded (the manifest's
// history holds them too); a failure to record is logged and reported.

// record appends one audit event.
func (s *Server) record(ctx context.Context, who, action, dossier, detail string) error {
	if len(detail) > 500 {
		detail = detail[:500]
	}
	_, err := s.audit.Append(context.WithoutCancel(ctx), storage.AuditEvent{Who: who, Action: action, Dossier: dossier, Detail: detail})
	if err != nil {
		s.log.Error().Err(err).Str("action", action).Str("dossier", dossier).Msg("audit append failed")
	}
	return err
}

// recordRead records a read and answers 503 when it cannot: the caller
// returns without serving anything when it reports false.
func (s *Server) recordRead(w http.ResponseWriter, r *http.Request, sess *session, action, dossier, detail string) bool {
	if err := s.record(r.Context(), sess.ID, action, dossier, detail); err != nil {
		s.fail(w, r, sess, http.StatusServiceUnavailable, "Journal indisponible",
			"L'accès n'a pas pu être inscrit au journal d'audit : par sécurité, il n'est pas accordé. Réessayez dans un instant.")
		return false
	}
	return true
}
