package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"recevable/validate"
)

// invitationRow is one invitation of the list.
type invitationRow struct {
	Inv    validate.Invitation
	State  string // "active", "revoked", "expired", "used"
	Label  string
	URL    string
	Issued time.Time
}

// invitationState is the French state of an invitation on day now.
func invitationState(inv validate.Invitation, now time.Time, loc *time.Location) (code, label string) {
	switch {
	case inv.Revoked != nil:
		return "revoked", "Révoquée"
	case validate.CivilDay(now.In(loc)).After(inv.ExpiresOn):
		return "expired", "Expirée"
	case len(inv.ConsumedBy) > 0:
		return "used", "Utilisée (" + strconv.Itoa(len(inv.ConsumedBy)) + " dossier(s))"
	}
	return "active", "Active"
}

// invitationListView is the data of the invitations page.
type invitationListView struct {
	Sites    []Site
	Site     string
	State    string
	Query    string
	Rows     []invitationRow
	Total    int
	Page     int
	PrevURL  string
	NextURL  string
	CanIssue bool
}

// invitationList lists a site's invitations, newest first, filtered by
// state and by a name or reference.
func (s *Server) invitationList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	sites := sess.visibleSites(s.sites)
	if len(sites) == 0 {
		s.fail(w, r, sess, http.StatusForbidden, "Aucun site", "Votre compte n'est rattaché à aucun site de cette installation.")
		return
	}
	site := q.Get("site")
	if site == "" {
		site = sites[0].ID
	}
	st := s.site(site)
	if st == nil || !sess.Sees(site) {
		s.fail(w, r, sess, http.StatusNotFound, "Site inconnu", "Ce site n'existe pas ou ne vous est pas ouvert.")
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
	v := invitationListView{Sites: sites, Site: site, State: q.Get("etat"), Query: strings.TrimSpace(q.Get("q")),
		CanIssue: sess.Has(RoleSuperviseur) && st.SigningKey != nil}
	needle := normalizeSearch(v.Query)
	if ref, err := validate.ParseReference(v.Query); err == nil {
		needle = normalizeSearch(ref.String())
	}
	now := s.now()
	for _, inv := range all {
		code, label := invitationState(inv, now, st.Location)
		if v.State != "" && code != v.State {
			continue
		}
		if needle != "" && !strings.Contains(normalizeSearch(inv.Reference+" "+inv.Name+" "+inv.Email), needle) {
			continue
		}
		v.Rows = append(v.Rows, invitationRow{Inv: inv, State: code, Label: label, Issued: inv.IssuedAt,
			URL: "/invitations/" + url.PathEscape(site) + "/" + url.PathEscape(inv.Reference)})
	}
	slices.SortFunc(v.Rows, func(a, b invitationRow) int { return b.Issued.Compare(a.Issued) })
	v.Total = len(v.Rows)
	pg, _ := strconv.Atoi(q.Get("page"))
	pg = max(pg, 1)
	start := min((pg-1)*pageSize, len(v.Rows))
	end := min(start+pageSize, len(v.Rows))
	link := func(n int) string {
		u := url.Values{"site": {site}, "page": {strconv.Itoa(n)}}
		if v.State != "" {
			u.Set("etat", v.State)
		}
		if v.Query != "" {
			u.Set("q", v.Query)
		}
		return "/invitations?" + u.Encode()
	}
	if start > 0 {
		v.PrevURL = link(pg - 1)
	}
	if end < len(v.Rows) {
		v.NextURL = link(pg + 1)
	}
	v.Rows, v.Page = v.Rows[start:end], pg
	p := page{Title: "Invitations", Nav: "invitations", Session: sess, Loc: st.Location, Data: v}
	s.render(w, r, http.StatusOK, "invitation_list", p)
}
