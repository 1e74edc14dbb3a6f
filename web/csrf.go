package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// CSRF protection has three layers, each enough alone against a forged
// cross-site request:
//
//  1. http.CrossOriginProtection refuses state-changing requests that the
//     browser marks as cross-origin (Sec-Fetch-Site, else Origin vs Host).
//  2. Every POST/PUT/PATCH/DELETE of a session carries the session's CSRF
//     token: the form field "csrf", or the X-CSRF-Token header for the API
//     (synchronizer token, OWASP CSRF cheat sheet).
//  3. The session cookie is SameSite=Lax, so a cross-site POST carries no
//     session at all.
//
// The login form, used before any session exists, carries a token that
// must match a short-lived cookie (double submit).

// csrfField and csrfHeader carry the token.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// safeMethod reports whether a request cannot change state.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF reports whether r carries sess's token. Safe methods need none.
func checkCSRF(r *http.Request, sess *session) bool {
	if safeMethod(r.Method) {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		// FormValue parses the body: multipart uploads are parsed here with
		// the request's size limit already applied by the handler chain.
		got = r.PostFormValue(csrfField)
	}
	return got != "" && sess != nil && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// loginCookie is the base name of the cookie of the login form's token.
const loginCookie = "recevable_login"

// loginToken returns the login form's token, setting its cookie when the
// browser has none.
func (s *Server) loginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.cookieName(loginCookie)); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, loginCookie, tok, 0)
	return tok
}

// checkLoginToken reports whether a login POST carries the token of its
// cookie.
func (s *Server) checkLoginToken(r *http.Request, got string) bool {
	c, err := r.Cookie(s.cookieName(loginCookie))
	return err == nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}
