package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Templates and assets are embedded in the binary: no CDN, no file to
// deploy beside it.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// views holds the parsed pages and the static assets' version hashes.
type views struct {
	pages   map[string]*template.Template
	version map[string]string
}

// loadViews parses each page template with the layout. html/template
// escapes every value by context (text, attribute, URL): a subject like
// <img src=x onerror=alert(1)> renders as text. No template converts an
// outside string to template.HTML.
func loadViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}, version: map[string]string{}}
	statics, err := fs.Glob(staticFS, "static/*")
	if err != nil {
		return nil, err
	}
	for _, name := range statics {
		data, err := staticFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		v.version[path.Base(name)] = hex.EncodeToString(sum[:6])
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := templateFuncs(v)
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		v.pages[base] = t
	}
	return v, nil
}

// page is what every page template receives.
type page struct {
	Title string
	// Nav names the active menu entry.
	Nav     string
	Session *session
	// Notice is a confirmation shown at the top; Error an error.
	Notice string
	Error  string
	// Loc is the time zone dates are shown in.
	Loc  *time.Location
	Data any
}

// render writes a page with the layout. The page is rendered to a buffer
// first, so a template error becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.views.pages[name]
	if !ok {
		panic("web: no template " + name)
	}
	if p.Loc == nil {
		p.Loc = s.sites[0].Location
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error().Err(err).Str("template", name).Msg("render failed")
		http.Error(w, "Erreur interne", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorView is the data of the error page.
type errorView struct {
	Status  int
	Message string
}

// fail answers with an error: a French page, or JSON for the API.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, status int, title, message string) {
	if isAPI(r) {
		writeJSONError(w, status, errorCode(status), message)
		return
	}
	s.render(w, r, status, "error", page{Title: title, Session: sess, Data: errorView{Status: status, Message: message}})
}

// errorCode is the API's machine-readable name of a status.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusPreconditionFailed:
		return "precondition_failed"
	case http.StatusPreconditionRequired:
		return "precondition_required"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal"
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// apiError is the body of every API error.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// static serves an embedded asset. With the right version in the query it
// may be cached for a year: a changed file gets a new version.
func (s *Server) static(w http.ResponseWriter, r *http.Request, _ *session) {
	name := r.PathValue("file")
	data, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	if r.URL.Query().Get("v") == s.views.version[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(data)
}
