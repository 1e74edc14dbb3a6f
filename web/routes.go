package web

import (
	"net/http"
	"net/url"
)

// handler is what a route runs once the guard let the request through:
// sess is the caller's session (nil only on public routes).
type handler func(w http.ResponseWriter, r *http.Request, sess *session)

// route is one entry of the route table: the only place where paths and
// the roles they admit are written. The role × route tests iterate over
// this table, so a route added here is tested, and a route cannot be
// served without being here.
type route struct {
	// Pattern is a Go 1.22 ServeMux pattern.
	Pattern string
	// Roles admitted; an account needs one of them. Empty only with Public.
	Roles []Role
	// Public routes need no session (login, static assets).
	Public bool
	// MaxBody bounds the request body; 0 means 1 MiB. Upload routes raise it.
	MaxBody int64
	h       handler
}

// Role sets of the routes. Written out rather than derived from a
// hierarchy: a supervisor is not "an agent and more" for every page (the
// mailroom form is theirs too, the audit log is not the agents').
var (
	everyone     = []Role{RoleAgent, RoleCourrier, RoleSuperviseur, RoleExploitant}
	reviewers    = []Role{RoleAgent, RoleSuperviseur}
	mailroom     = []Role{RoleCourrier, RoleSuperviseur}
	supervisors  = []Role{RoleSuperviseur}
	quarantiners = []Role{RoleSuperviseur, RoleExploitant}
)

// routes is the route table: French paths for the pages, English ones for
// the JSON API (docs/api.md).
func (s *Server) routes() []route {
	upload := s.opts.MaxUploadBytes + 1<<20
	return []route{
		// Session.
		{Pattern: "GET /{$}", Roles: everyone, h: s.home},
		{Pattern: "GET /connexion", Public: true, h: s.loginForm},
		{Pattern: "POST /connexion", Public: true, h: s.loginSubmit},
		{Pattern: "POST /deconnexion", Roles: everyone, h: s.logout},
		{Pattern: "GET /oidc/connexion", Public: true, h: s.oidcStart},
		{Pattern: "GET /oidc/retour", Public: true, h: s.oidcCallback},
		{Pattern: "GET /static/{file}", Public: true, h: s.static},
		{Pattern: "GET /compte", Roles: everyone, h: s.accountShow},
		{Pattern: "POST /compte/mot-de-passe", Roles: everyone, h: s.accountPassword},

		// Review queue and dossiers.
		{Pattern: "GET /dossiers", Roles: reviewers, h: s.dossierList},
		{Pattern: "GET /dossiers/{number}", Roles: reviewers, h: s.dossierShow},
		{Pattern: "GET /dossiers/{number}/documents/{name}", Roles: reviewers, h: s.documentShow},
		{Pattern: "GET /dossiers/{number}/original", Roles: reviewers, h: s.dossierRaw},
		{Pattern: "POST /dossiers/{number}/prendre", Roles: reviewers, h: s.dossierAction(actTake)},
		{Pattern: "POST /dossiers/{number}/liberer", Roles: reviewers, h: s.dossierAction(actRelease)},
		{Pattern: "POST /dossiers/{number}/recevable", Roles: reviewers, h: s.dossierAction(actConfirmAdmissible)},
		{Pattern: "POST /dossiers/{number}/instruction", Roles: reviewers, h: s.dossierAction(actHandOver)},
		{Pattern: "POST /dossiers/{number}/pieces", Roles: reviewers, h: s.dossierAction(actRequestPieces)},
		{Pattern: "POST /dossiers/{number}/irrecevable", Roles: reviewers, h: s.dossierAction(actConfirmInadmissible)},
		{Pattern: "POST /dossiers/{number}/clore", Roles: reviewers, h: s.dossierAction(actClose)},
		{Pattern: "POST /dossiers/{number}/retraiter", Roles: reviewers, h: s.dossierAction(actReprocess)},

		// Quarantine.
		{Pattern: "GET /quarantaine", Roles: quarantiners, h: s.quarantineList},
		{Pattern: "GET /quarantaine/{sha}", Roles: quarantiners, h: s.quarantineShow},
		{Pattern: "GET /quarantaine/{sha}/brut", Roles: supervisors, h: s.quarantineRaw},
		{Pattern: "POST /quarantaine/{sha}/retraiter", Roles: quarantiners, h: s.quarantineReprocess},

		// Mailroom.
		{Pattern: "GET /courrier", Roles: mailroom, h: s.courrierForm},
		{Pattern: "POST /courrier", Roles: mailroom, MaxBody: upload, h: s.courrierUpload},

		// Invitations.
		{Pattern: "GET /invitations", Roles: reviewers, h: s.invitationList},
		{Pattern: "GET /invitations/nouvelle", Roles: supervisors, h: s.invitationForm},
		{Pattern: "POST /invitations", Roles: supervisors, h: s.invitationIssue},
		{Pattern: "GET /invitations/{site}/{reference}", Roles: reviewers, h: s.invitationShow},
		{Pattern: "GET /invitations/{site}/{reference}/lettre.pdf", Roles: reviewers, h: s.invitationLetter},
		{Pattern: "POST /invitations/{site}/{reference}/revoquer", Roles: supervisors, h: s.invitationRevoke},

		// Audit log.
		{Pattern: "GET /journal", Roles: supervisors, h: s.auditList},

		// JSON API (docs/api.md): the same reads and actions, the same roles.
		{Pattern: "POST /api/session", Public: true, h: s.apiLogin},
		{Pattern: "DELETE /api/session", Roles: everyone, h: s.apiLogout},
		{Pattern: "GET /api/me", Roles: everyone, h: s.apiMe},
		{Pattern: "GET /api/counts", Roles: reviewers, h: s.apiCounts},
		{Pattern: "GET /api/dossiers", Roles: reviewers, h: s.apiDossierList},
		{Pattern: "GET /api/dossiers/{number}", Roles: reviewers, h: s.apiDossierShow},
		{Pattern: "GET /api/dossiers/{number}/documents/{name}", Roles: reviewers, h: s.documentShow},
		{Pattern: "GET /api/dossiers/{number}/raw", Roles: reviewers, h: s.dossierRaw},
		{Pattern: "POST /api/dossiers/{number}/take", Roles: reviewers, h: s.apiDossierAction(actTake)},
		{Pattern: "POST /api/dossiers/{number}/release", Roles: reviewers, h: s.apiDossierAction(actRelease)},
		{Pattern: "POST /api/dossiers/{number}/confirm-admissible", Roles: reviewers, h: s.apiDossierAction(actConfirmAdmissible)},
		{Pattern: "POST /api/dossiers/{number}/hand-over", Roles: reviewers, h: s.apiDossierAction(actHandOver)},
		{Pattern: "POST /api/dossiers/{number}/request-pieces", Roles: reviewers, h: s.apiDossierAction(actRequestPieces)},
		{Pattern: "POST /api/dossiers/{number}/confirm-inadmissible", Roles: reviewers, h: s.apiDossierAction(actConfirmInadmissible)},
		{Pattern: "POST /api/dossiers/{number}/close", Roles: reviewers, h: s.apiDossierAction(actClose)},
		{Pattern: "POST /api/dossiers/{number}/reprocess", Roles: reviewers, h: s.apiDossierAction(actReprocess)},
		{Pattern: "GET /api/quarantine", Roles: quarantiners, h: s.apiQuarantineList},
		{Pattern: "GET /api/quarantine/{sha}", Roles: quarantiners, h: s.apiQuarantineShow},
		{Pattern: "GET /api/quarantine/{sha}/raw", Roles: supervisors, h: s.quarantineRaw},
		{Pattern: "POST /api/quarantine/{sha}/reprocess", Roles: quarantiners, h: s.apiQuarantineReprocess},
		{Pattern: "POST /api/courrier", Roles: mailroom, MaxBody: upload, h: s.apiCourrierUpload},
		{Pattern: "GET /api/invitations", Roles: reviewers, h: s.apiInvitationList},
		{Pattern: "POST /api/invitations", Roles: supervisors, h: s.apiInvitationIssue},
		{Pattern: "GET /api/invitations/{site}/{reference}", Roles: reviewers, h: s.apiInvitationShow},
		{Pattern: "GET /api/invitations/{site}/{reference}/letter.pdf", Roles: reviewers, h: s.invitationLetter},
		{Pattern: "POST /api/invitations/{site}/{reference}/revoke", Roles: supervisors, h: s.apiInvitationRevoke},
		{Pattern: "GET /api/audit", Roles: supervisors, h: s.apiAuditList},
	}
}

// routesHandler builds the mux from the table and wraps it in the
// middleware every request goes through.
func (s *Server) routesHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, s.guard(rt))
	}
	mux.Handle("/", s.guard(route{Public: true, h: s.notFound}))
	cop := http.NewCrossOriginProtection()
	// Behind a reverse proxy that rewrites Host, the public origin is the
	// base URL's; browsers that send Sec-Fetch-Site pass anyway.
	if u, err := url.Parse(s.opts.BaseURL); err == nil && u.Host != "" {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.log.Warn().Err(err).Msg("base URL not usable as a trusted origin")
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, http.StatusForbidden, "Requête refusée", "Cette requête vient d'un autre site : elle a été refusée par mesure de sécurité.")
	}))
	return s.recoverer(s.accessLog(s.securityHeaders(cop.Handler(mux))))
}
