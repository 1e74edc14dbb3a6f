package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"recevable/validate"
)

// apiInvitation is an invitation as the API shows it: the registry record
// with its state.
type apiInvitation struct {
	validate.Invitation
	State string `json:"state"`
}

// apiInvitationList lists a site's invitations (?site=, ?state=).
func (s *Server) apiInvitationList(w http.ResponseWriter, r *http.Request, sess *session) {
	site, ok := s.apiSite(w, r, sess)
	if !ok {
		return
	}
	all, err := s.registry.List(r.Context(), site)
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "invitation.read", "", "list "+site) {
		return
	}
	want := r.URL.Query().Get("state")
	out := []apiInvitation{}
	for _, inv := range all {
		code, _ := invitationState(inv, s.now(), s.site(site).Location)
		if want == "" || want == code {
			out = append(out, apiInvitation{Invitation: inv, State: code})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"site": site, "items": out})
}

// apiInvitationIssue issues an invitation from JSON.
func (s *Server) apiInvitationIssue(w http.ResponseWriter, r *http.Request, sess *session) {
	var req invitationRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	inv, err := s.issueInvitation(r, sess, req)
	var refused *actionError
	if errors.As(err, &refused) {
		writeJSONError(w, http.StatusUnprocessableEntity, "invalid", refused.msg)
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	code, _ := invitationState(inv, s.now(), s.site(inv.Site).Location)
	w.Header().Set("Location", "/api/invitations/"+inv.Site+"/"+inv.Reference)
	writeJSON(w, http.StatusCreated, apiInvitation{Invitation: inv, State: code})
}

// apiInvitationShow returns one invitation.
func (s *Server) apiInvitationShow(w http.ResponseWriter, r *http.Request, sess *session) {
	inv, site, err := s.loadInvitation(r, sess)
	if err != nil {
		s.invitationError(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "invitation.read", "", inv.Reference) {
		return
	}
	code, _ := invitationState(inv, s.now(), site.Location)
	writeJSON(w, http.StatusOK, apiInvitation{Invitation: inv, State: code})
}

// apiInvitationRevoke revokes an invitation: {"reason": "…"}.
func (s *Server) apiInvitationRevoke(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	inv, err := s.revokeInvitation(r, sess, req.Reason)
	var refused *actionError
	if errors.As(err, &refused) {
		writeJSONError(w, http.StatusUnprocessableEntity, "invalid", refused.msg)
		return
	}
	if err != nil {
		s.invitationError(w, r, sess, err)
		return
	}
	writeJSON(w, http.StatusOK, apiInvitation{Invitation: inv, State: "revoked"})
}
