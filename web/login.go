package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// loginView is the data of the login page.
type loginView struct {
	Token  string
	Return string
	Login  string
	Local  bool
	OIDC   bool
}

// loginForm shows the login page: the local form and/or the single
// sign-on button.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, sess *session) {
	ret := localPath(r.URL.Query().Get("retour"))
	if sess != nil {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	p := page{Title: "Connexion", Data: loginView{Token: s.loginToken(w, r), Return: ret, Local: s.opts.LocalAccounts, OIDC: s.oidc != nil}}
	switch r.URL.Query().Get("fait") {
	case "deconnexion":
		p.Notice = "Vous êtes déconnecté."
	case "expire":
		p.Error = "La connexion par le fournisseur d'identité a échoué ou expiré. Recommencez."
	}
	s.render(w, r, http.StatusOK, "login", p)
}

// loginSubmit checks a local login and password and opens a session.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request, old *session) {
	if !s.opts.LocalAccounts {
		s.notFound(w, r, nil)
		return
	}
	login := strings.ToLower(strings.TrimSpace(r.PostFormValue("login")))
	ret := localPath(r.PostFormValue("retour"))
	view := loginView{Return: ret, Login: login, Local: true, OIDC: s.oidc != nil}
	if !s.checkLoginToken(r, r.PostFormValue(csrfField)) {
		view.Token = s.loginToken(w, r)
		s.render(w, r, http.StatusForbidden, "login", page{Title: "Connexion", Error: "Le formulaire a expiré. Recommencez.", Data: view})
		return
	}
	view.Token = s.loginToken(w, r)
	sess, status, msg := s.authenticate(r, login, r.PostFormValue("password"))
	if sess == "" {
		s.render(w, r, status, "login", page{Title: "Connexion", Error: msg, Data: view})
		return
	}
	s.endPrevious(r, old)
	s.setCookie(w, sessionCookie, sess, 0)
	s.setCookie(w, loginCookie, "", -1)
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// authenticate checks a local login under the rate limit and, on success,
// creates a session and returns its cookie value. On failure it returns the
// status and the French message to show.
func (s *Server) authenticate(r *http.Request, login, password string) (cookie string, status int, msg string) {
	ctx := r.Context()
	addr := clientAddr(r)
	if ok, wait := s.limiter.allow(addr, login); !ok {
		return "", http.StatusTooManyRequests, fmt.Sprintf("Trop de tentatives de connexion. Réessayez dans %d secondes.", int(wait/time.Second)+1)
	}
	acct, err := s.accounts.Authenticate(ctx, login, password)
	if errors.Is(err, ErrBadCredentials) {
		s.limiter.failed(addr, login)
		who := "anonyme"
		if _, _, gerr := s.accounts.Get(ctx, login); gerr == nil {
			who = login // an existing account under attack is worth knowing
		}
		s.record(ctx, who, "auth.login_failed", "", "local")
		return "", http.StatusUnauthorized, "Identifiant ou mot de passe incorrect."
	}
	if err != nil {
		s.log.Error().Err(err).Msg("local login failed")
		return "", http.StatusServiceUnavailable, "Le service d'authentification ne répond pas. Réessayez dans un instant."
	}
	value, _, err := s.sessions.create(ctx, acct.Principal())
	if err != nil {
		s.log.Error().Err(err).Msg("create session")
		return "", http.StatusServiceUnavailable, "La session n'a pas pu être ouverte. Réessayez dans un instant."
	}
	s.record(ctx, acct.ID, "auth.login", "", "local")
	return value, http.StatusOK, ""
}

// endPrevious ends the session a browser had before logging in again, so
// that two sessions never coexist in one browser.
func (s *Server) endPrevious(r *http.Request, old *session) {
	if old == nil {
		return
	}
	if err := s.sessions.destroy(r.Context(), old); err != nil {
		s.log.Warn().Err(err).Msg("end previous session")
	}
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.sessions.destroy(r.Context(), sess); err != nil {
		s.log.Error().Err(err).Msg("end session")
	}
	s.record(r.Context(), sess.ID, "auth.logout", "", "")
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/connexion?fait=deconnexion", http.StatusSeeOther)
}

// clientAddr is the client's IP address as this server sees it (the
// reverse proxy's, behind one: the per-login limit still holds).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// accountView is the data of the account page.
type accountView struct {
	Local bool
}

// accountShow shows the caller's account: roles, sites, and the password
// form for a local account.
func (s *Server) accountShow(w http.ResponseWriter, r *http.Request, sess *session) {
	p := page{Title: "Mon compte", Nav: "compte", Session: sess, Data: accountView{Local: sess.Method == "local"}}
	if r.URL.Query().Get("fait") == "mot-de-passe" {
		p.Notice = "Votre mot de passe a été changé."
	}
	s.render(w, r, http.StatusOK, "account", p)
}

// accountPassword changes a local account's password, after checking the
// current one.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request, sess *session) {
	view := page{Title: "Mon compte", Nav: "compte", Session: sess, Data: accountView{Local: sess.Method == "local"}}
	if sess.Method != "local" {
		s.fail(w, r, sess, http.StatusBadRequest, "Mot de passe", "Votre compte est géré par le fournisseur d'identité de la préfecture.")
		return
	}
	current, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("again")
	if ok, wait := s.limiter.allow(clientAddr(r), sess.ID); !ok {
		view.Error = fmt.Sprintf("Trop de tentatives. Réessayez dans %d secondes.", int(wait/time.Second)+1)
		s.render(w, r, http.StatusTooManyRequests, "account", view)
		return
	}
	if _, err := s.accounts.Authenticate(r.Context(), sess.ID, current); err != nil {
		s.limiter.failed(clientAddr(r), sess.ID)
		view.Error = "Le mot de passe actuel est incorrect."
		s.render(w, r, http.StatusUnprocessableEntity, "account", view)
		return
	}
	if next != again {
		view.Error = "Les deux saisies du nouveau mot de passe diffèrent."
		s.render(w, r, http.StatusUnprocessableEntity, "account", view)
		return
	}
	acct, etag, err := s.accounts.Get(r.Context(), sess.ID)
	if err == nil {
		_, err = s.accounts.Update(r.Context(), acct, next, etag)
	}
	if errors.Is(err, ErrWeakPassword) {
		view.Error = fmt.Sprintf("Le nouveau mot de passe doit compter au moins %d caractères.", MinPasswordLength)
		s.render(w, r, http.StatusUnprocessableEntity, "account", view)
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("account", sess.ID).Msg("change password")
		s.fail(w, r, sess, http.StatusServiceUnavailable, "Mot de passe", "Le mot de passe n'a pas pu être changé. Réessayez.")
		return
	}
	s.record(r.Context(), sess.ID, "account.password", "", "")
	http.Redirect(w, r, "/compte?fait=mot-de-passe", http.StatusSeeOther)
}

// apiLoginRequest is the body of POST /api/session.
type apiLoginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// apiMeResponse describes the caller's session.
type apiMeResponse struct {
	Principal
	CSRFToken string `json:"csrf_token"`
}

// apiLogin opens a session for a local account. The body must be JSON: a
// cross-site form cannot send that without a CORS preflight, which this
// server never grants.
func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, old *session) {
	if !s.opts.LocalAccounts {
		writeJSONError(w, http.StatusNotFound, "not_found", "local accounts are disabled: use the OIDC login")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeJSONError(w, http.StatusUnsupportedMediaType, "bad_request", "Content-Type must be application/json")
		return
	}
	var req apiLoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	cookie, status, msg := s.authenticate(r, strings.ToLower(strings.TrimSpace(req.Login)), req.Password)
	if cookie == "" {
		writeJSONError(w, status, errorCode(status), msg)
		return
	}
	s.endPrevious(r, old)
	s.setCookie(w, sessionCookie, cookie, 0)
	sess, err := s.sessions.load(r.Context(), cookie)
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "session not readable")
		return
	}
	writeJSON(w, http.StatusOK, apiMeResponse{Principal: sess.Principal, CSRFToken: sess.CSRF})
}

// apiLogout ends the session.
func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.sessions.destroy(r.Context(), sess); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "session not ended")
		return
	}
	s.record(r.Context(), sess.ID, "auth.logout", "", "api")
	s.setCookie(w, sessionCookie, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

// apiMe describes the caller, with the CSRF token the API's POSTs need.
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, sess *session) {
	writeJSON(w, http.StatusOK, apiMeResponse{Principal: sess.Principal, CSRFToken: sess.CSRF})
}
