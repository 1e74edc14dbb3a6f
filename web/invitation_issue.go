package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"recevable/validate"
)

// invitationFormView is the data of the issue form.
type invitationFormView struct {
	Sites []Site
	Site  *Site
	Form  invitationRequest
}

// invitationRequest is what the issue form and the API take.
type invitationRequest struct {
	Site          string   `json:"site"`
	Name          string   `json:"name"`
	Email         string   `json:"email,omitempty"`
	PostalAddress []string `json:"postal_address,omitempty"`
	Department    string   `json:"department"`
	ValidDays     int      `json:"valid_days,omitempty"`
}

// issuingSites are the sites sess sees that can sign invitations.
func (s *Server) issuingSites(sess *session) []Site {
	var out []Site
	for _, st := range sess.visibleSites(s.sites) {
		if st.SigningKey != nil {
			out = append(out, st)
		}
	}
	return out
}

// invitationForm shows the issue form (arrêté 2023-08-01 art. 4 al. 2:
// the invitation follows the finding that the applicant could not file
// online).
func (s *Server) invitationForm(w http.ResponseWriter, r *http.Request, sess *session) {
	sites := s.issuingSites(sess)
	if len(sites) == 0 {
		s.fail(w, r, sess, http.StatusConflict, "Émission impossible", "Aucun de vos sites n'a de clé de signature : l'exploitant doit en configurer une (signing_key_file).")
		return
	}
	site := &sites[0]
	if i := slices.IndexFunc(sites, func(x Site) bool { return x.ID == r.URL.Query().Get("site") }); i >= 0 {
		site = &sites[i]
	}
	v := invitationFormView{Sites: sites, Site: site, Form: invitationRequest{Site: site.ID, ValidDays: site.InvitationValidDays}}
	if len(site.Departments) == 1 {
		v.Form.Department = site.Departments[0]
	}
	s.render(w, r, http.StatusOK, "invitation_new", page{Title: "Nouvelle invitation", Nav: "invitations", Session: sess, Data: v})
}

// issueInvitation checks a request and issues the invitation. A refusal
// is an *actionError with the French reason.
func (s *Server) issueInvitation(r *http.Request, sess *session, req invitationRequest) (validate.Invitation, error) {
	site := s.site(req.Site)
	if site == nil || !sess.Sees(req.Site) {
		return validate.Invitation{}, refuse("Ce site ne vous est pas ouvert.")
	}
	if site.SigningKey == nil {
		return validate.Invitation{}, refuse("Ce site n'a pas de clé de signature : il ne peut pas émettre d'invitation.")
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "":
		return validate.Invitation{}, refuse("Indiquez le nom du demandeur.")
	case utf8Len(req.Name) > 200 || utf8Len(req.Email) > 200 || len(req.PostalAddress) > 8:
		return validate.Invitation{}, refuse("Un champ est trop long.")
	case !slices.Contains(site.Departments, req.Department):
		// arrêté 2023-08-01 art. 4 al. 3: only the competent prefecture invites.
		return validate.Invitation{}, refuse("Le département de résidence doit être l'un de ceux de la préfecture (%s).", strings.Join(site.Departments, ", "))
	}
	days := req.ValidDays
	if days <= 0 {
		days = site.InvitationValidDays
	}
	if days > 366 {
		return validate.Invitation{}, refuse("La validité ne peut pas dépasser un an.")
	}
	now := s.now().In(site.Location)
	inv, err := s.registry.Issue(r.Context(), validate.IssueRequest{
		Site: site.ID, Department: req.Department, Name: req.Name, Email: strings.TrimSpace(req.Email),
		PostalAddress: req.PostalAddress, IssuedBy: sess.ID, Now: now, ExpiresOn: now.AddDate(0, 0, days),
	}, *site.SigningKey)
	if errors.Is(err, validate.ErrInvitationRequest) {
		return validate.Invitation{}, refuse("Demande incomplète : %v", err)
	}
	if err != nil {
		return validate.Invitation{}, err
	}
	s.record(r.Context(), sess.ID, "invitation.issue", "", inv.Reference)
	return inv, nil
}

// invitationIssue issues an invitation from the form and shows it.
func (s *Server) invitationIssue(w http.ResponseWriter, r *http.Request, sess *session) {
	days, _ := strconv.Atoi(r.PostFormValue("validite"))
	req := invitationRequest{Site: r.PostFormValue("site"), Name: r.PostFormValue("nom"), Email: r.PostFormValue("courriel"),
		Department: r.PostFormValue("departement"), ValidDays: days}
	for line := range strings.Lines(r.PostFormValue("adresse")) {
		if line = strings.TrimSpace(line); line != "" {
			req.PostalAddress = append(req.PostalAddress, line)
		}
	}
	inv, err := s.issueInvitation(r, sess, req)
	var refused *actionError
	if errors.As(err, &refused) {
		sites := s.issuingSites(sess)
		v := invitationFormView{Sites: sites, Form: req}
		if site := s.site(req.Site); site != nil {
			v.Site = site
		} else if len(sites) > 0 {
			v.Site = &sites[0]
		}
		if v.Site == nil {
			s.fail(w, r, sess, http.StatusConflict, "Émission impossible", refused.msg)
			return
		}
		s.render(w, r, http.StatusUnprocessableEntity, "invitation_new", page{Title: "Nouvelle invitation", Nav: "invitations", Session: sess, Error: refused.msg, Data: v})
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/invitations/"+url.PathEscape(inv.Site)+"/"+url.PathEscape(inv.Reference)+"?fait=emise", http.StatusSeeOther)
}
