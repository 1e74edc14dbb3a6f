package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// guard runs a route's checks in a fixed order: session, role, CSRF, body
// limit; only then the handler.
func (s *Server) guard(rt route) http.Handler {
	maxBody := rt.MaxBody
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		sess, err := s.currentSession(r)
		if err != nil && !errors.Is(err, errNoSession) {
			s.log.Error().Err(err).Msg("session lookup failed")
			s.fail(w, r, nil, http.StatusServiceUnavailable, "Service indisponible", "Le stockage ne répond pas. Réessayez dans un instant.")
			return
		}
		if rt.Public {
			rt.h(w, r, sess)
			return
		}
		if sess == nil {
			s.unauthenticated(w, r)
			return
		}
		if !sess.HasAny(rt.Roles) {
			s.fail(w, r, sess, http.StatusForbidden, "Accès refusé",
				"Cette page est réservée aux rôles suivants : "+roleList(rt.Roles)+". Votre compte ne les a pas.")
			return
		}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			// Files above 8 MiB go to temporary files, not memory.
			if err := r.ParseMultipartForm(8 << 20); err != nil {
				s.badBody(w, r, sess, err)
				return
			}
		}
		if !checkCSRF(r, sess) {
			s.fail(w, r, sess, http.StatusForbidden, "Formulaire expiré",
				"Le jeton de sécurité du formulaire manque ou ne correspond pas à votre session. Rechargez la page et recommencez.")
			return
		}
		rt.h(w, r, sess)
	})
}

// badBody answers a request whose body could not be read.
func (s *Server) badBody(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.fail(w, r, sess, http.StatusRequestEntityTooLarge, "Envoi trop volumineux",
			fmt.Sprintf("L'envoi dépasse la taille maximale de %s.", humanBytes(tooBig.Limit)))
		return
	}
	s.fail(w, r, sess, http.StatusBadRequest, "Requête illisible", "Le formulaire envoyé n'a pas pu être lu.")
}

// unauthenticated sends a page request to the login form (coming back
// afterwards) and answers an API request with 401.
func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		writeJSONError(w, http.StatusUnauthorized, "unauthenticated", "no valid session: POST /api/session or log in")
		return
	}
	target := "/connexion"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?retour=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// isAPI reports whether r is for the JSON API.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// localPath returns p if it is a path of this site ("/…", not "//…" nor
// "/\…", which browsers read as another host), else "/": the return
// target after login must not become an open redirect.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

// pageCSP is the Content-Security-Policy of every page: nothing but this
// origin's own scripts, styles, images and frames (document previews), no
// inline script or style, no plugin, and no framing by anyone.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every response carries. Handlers that
// serve documents replace the CSP and frame headers with stricter ones.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		// Pages and documents hold personal data: no cache anywhere.
		h.Set("Cache-Control", "no-store")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler wrote, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs each request by route pattern, never by URL: queries may
// hold a searched name.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		pattern := r.Pattern
		if pattern == "" {
			pattern = "unmatched"
		}
		s.log.Debug().Str("method", r.Method).Str("route", pattern).Int("status", sw.status).
			Dur("duration", time.Since(start)).Msg("request")
	})
}

// recoverer turns a panic in a handler into a 500 page and a log line with
// the stack, and keeps the server up.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("panic", fmt.Sprint(v)).Str("stack", string(debug.Stack())).Msg("handler panic")
				s.fail(w, r, nil, http.StatusInternalServerError, "Erreur interne", "Une erreur inattendue s'est produite. Elle a été journalisée.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// notFound is the page for unknown paths.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, sess *session) {
	s.fail(w, r, sess, http.StatusNotFound, "Page introuvable", "Cette adresse ne correspond à aucune page.")
}

// home sends each role to its first page.
func (s *Server) home(w http.ResponseWriter, r *http.Request, sess *session) {
	target := "/compte"
	switch {
	case sess.HasAny(reviewers):
		target = "/dossiers"
	case sess.Has(RoleCourrier):
		target = "/courrier"
	case sess.Has(RoleExploitant):
		target = "/quarantaine"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
