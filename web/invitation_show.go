package web

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// invitationView is the data of one invitation's page.
type invitationView struct {
	Inv       validate.Invitation
	State     string
	Label     string
	Site      *Site
	LetterURL string
	RevokeURL string
	CanRevoke bool
	Now       time.Time
}

// loadInvitation reads the invitation named by the path, if the account
// sees its site.
func (s *Server) loadInvitation(r *http.Request, sess *session) (validate.Invitation, *Site, error) {
	site := s.site(r.PathValue("site"))
	if site == nil || !sess.Sees(site.ID) {
		return validate.Invitation{}, nil, validate.ErrInvitationNotFound
	}
	ref, err := validate.ParseReference(r.PathValue("reference"))
	if err != nil {
		return validate.Invitation{}, nil, validate.ErrInvitationNotFound
	}
	inv, _, err := s.registry.Get(r.Context(), site.ID, ref)
	return inv, site, err
}

// invitationError answers a failed invitation lookup.
func (s *Server) invitationError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	if errors.Is(err, validate.ErrInvitationNotFound) || errors.Is(err, storage.ErrNotFound) {
		s.fail(w, r, sess, http.StatusNotFound, "Invitation introuvable", "Aucune invitation de vos sites ne porte cette référence.")
		return
	}
	s.storageFailed(w, r, sess, err)
}

// invitationShow shows one invitation: applicant, validity, the dossiers
// that presented it, the letter and the revocation form.
func (s *Server) invitationShow(w http.ResponseWriter, r *http.Request, sess *session) {
	inv, site, err := s.loadInvitation(r, sess)
	if err != nil {
		s.invitationError(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "invitation.read", "", inv.Reference) {
		return
	}
	code, label := invitationState(inv, s.now(), site.Location)
	base := "/invitations/" + site.ID + "/" + inv.Reference
	v := invitationView{Inv: inv, State: code, Label: label, Site: site, LetterURL: base + "/lettre.pdf",
		RevokeURL: base + "/revoquer", CanRevoke: sess.Has(RoleSuperviseur) && inv.Revoked == nil, Now: s.now()}
	p := page{Title: "Invitation " + inv.Reference, Nav: "invitations", Session: sess, Loc: site.Location, Data: v}
	switch r.URL.Query().Get("fait") {
	case "emise":
		p.Notice = "L'invitation est émise. Imprimez la lettre ou envoyez-la au demandeur."
	case "revoquee":
		p.Notice = "L'invitation est révoquée : un dossier qui la présente sera proposé irrecevable."
	}
	s.render(w, r, http.StatusOK, "invitation_show", p)
}

// invitationLetter serves the invitation letter (PDF) to print or send.
func (s *Server) invitationLetter(w http.ResponseWriter, r *http.Request, sess *session) {
	inv, site, err := s.loadInvitation(r, sess)
	if err != nil {
		s.invitationError(w, r, sess, err)
		return
	}
	ref, err := inv.ParsedReference()
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "invitation.letter", "", inv.Reference) {
		return
	}
	var buf bytes.Buffer
	err = validate.RenderLetter(&buf, validate.Letter{
		Site: site.Letter, Date: inv.IssuedAt.In(site.Location), ApplicantName: inv.Name,
		ApplicantAddress: inv.PostalAddress, Reference: ref, Token: inv.Token, Expires: inv.ExpiresOn,
	})
	if err != nil {
		s.log.Error().Err(err).Str("site", site.ID).Str("reference", inv.Reference).Msg("render invitation letter")
		s.fail(w, r, sess, http.StatusInternalServerError, "Lettre indisponible",
			"La lettre n'a pas pu être produite : la configuration du site est peut-être incomplète (adresse, courriel).")
		return
	}
	disposition := "inline"
	if r.URL.Query().Has("telecharger") {
		disposition = "attachment"
	}
	serveObject(w, &buf, "application/pdf", disposition, "invitation-"+inv.Reference+".pdf")
}

// revokeInvitation revokes with a reason; a refusal is an *actionError.
func (s *Server) revokeInvitation(r *http.Request, sess *session, reason string) (validate.Invitation, error) {
	inv, site, err := s.loadInvitation(r, sess)
	if err != nil {
		return validate.Invitation{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8Len(reason) > maxText {
		return validate.Invitation{}, refuse("Indiquez le motif de la révocation.")
	}
	if inv.Revoked != nil {
		return validate.Invitation{}, refuse("Cette invitation est déjà révoquée.")
	}
	ref, err := inv.ParsedReference()
	if err != nil {
		return validate.Invitation{}, err
	}
	inv, err = s.registry.Revoke(r.Context(), site.ID, ref, sess.ID, reason, s.now())
	if err != nil {
		return validate.Invitation{}, err
	}
	s.record(r.Context(), sess.ID, "invitation.revoke", "", inv.Reference)
	return inv, nil
}

// invitationRevoke is the page action.
func (s *Server) invitationRevoke(w http.ResponseWriter, r *http.Request, sess *session) {
	inv, err := s.revokeInvitation(r, sess, r.PostFormValue("motif"))
	var refused *actionError
	if errors.As(err, &refused) {
		s.fail(w, r, sess, http.StatusUnprocessableEntity, "Révocation impossible", refused.msg)
		return
	}
	if err != nil {
		s.invitationError(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/invitations/"+inv.Site+"/"+inv.Reference+"?fait=revoquee", http.StatusSeeOther)
}
