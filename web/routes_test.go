package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// routeParams fills the wildcards of the route patterns with values that
// exist in the fixture.
type routeParams map[string]string

// seedForRoutes creates one of everything a route can name.
func seedForRoutes(t *testing.T, f *fixture) routeParams {
	t.Helper()
	ctx := context.Background()
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 1, Subject: "Demande de titre de séjour",
		Docs: []testDoc{{Name: "passeport.pdf", Type: "application/pdf", Data: testPDF(t)}}})
	raw := []byte("not a mime message\x00\x01")
	meta, err := storage.Raws{Bucket: f.bucket}.Store(ctx, storage.RawMeta{Source: "test", ReceivedAt: fixtureClock},
		func() (rc ioReadCloser, err error) { return nopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (storage.Quarantine{Bucket: f.bucket}).Record(ctx, meta.SHA256, "test", "mime: unparseable", ""); err != nil {
		t.Fatal(err)
	}
	inv, err := validate.NewRegistry(f.bucket).Issue(ctx, validate.IssueRequest{Site: "pp", Department: "75", Name: "Awa Diallo",
		IssuedBy: "sup1", Now: time.Now(), ExpiresOn: time.Now().AddDate(0, 0, 30)}, f.key)
	if err != nil {
		t.Fatal(err)
	}
	return routeParams{"number": m.Number, "name": m.Documents[0].SafeName, "sha": meta.SHA256,
		"site": "pp", "reference": inv.Reference, "file": "style.css"}
}

var wildcard = regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)

// fillPath turns a pattern into a method and a concrete path.
func fillPath(t *testing.T, pattern string, p routeParams) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		t.Fatalf("route %q has no method", pattern)
	}
	path = strings.TrimSuffix(path, "{$}")
	path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
		name := wildcard.FindStringSubmatch(w)[1]
		v, ok := p[name]
		if !ok {
			t.Fatalf("route %q: the test has no value for {%s}: add one to seedForRoutes", pattern, name)
		}
		return v
	})
	return method, path
}

// roleDenied reports whether a response is the role check's refusal.
func roleDenied(resp *http.Response, body []byte) bool {
	return resp.StatusCode == http.StatusForbidden && bytes.Contains(body, []byte("réservée aux rôles"))
}

// TestRoutesRoles sends every route of the table as every role and as an
// anonymous client: a role listed by the route gets past the guard, any
// other gets 403, an anonymous client is sent to the login form (pages) or
// gets 401 (API). A route added to the table is covered without editing
// this test.
func TestRoutesRoles(t *testing.T) {
	f := newFixture(t)
	params := seedForRoutes(t, f)
	clients := map[Role]*client{}
	for _, r := range Roles {
		clients[r] = f.login(roleAccount[r])
	}
	anon := f.anonymous()
	routes := f.srv.routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Pattern] {
			t.Errorf("route %q listed twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		if !rt.Public && len(rt.Roles) == 0 {
			t.Errorf("route %q admits no role and is not public: nobody could use it", rt.Pattern)
		}
		method, path := fillPath(t, rt.Pattern, params)
		body, header := routeBody(t, rt.Pattern, "")

		resp, data := anon.do(t, method, path, body(), header)
		switch {
		case rt.Public:
			// A public route may still answer 401 (a login with no
			// password); it must never be the role check's refusal.
			if roleDenied(resp, data) {
				t.Errorf("%s as anonymous: %s, want the public route served", rt.Pattern, resp.Status)
			}
		case isAPIPath(path):
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s as anonymous: %s, want 401", rt.Pattern, resp.Status)
			}
		default:
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/connexion") {
				t.Errorf("%s as anonymous: %s to %q, want 303 to /connexion", rt.Pattern, resp.Status, resp.Header.Get("Location"))
			}
		}
		logout := rt.Pattern == "POST /deconnexion" || rt.Pattern == "DELETE /api/session"
		for _, role := range Roles {
			c := clients[role]
			if logout {
				c = f.login(roleAccount[role])
			}
			body, header := routeBody(t, rt.Pattern, c.csrf)
			resp, data := c.do(t, method, path, body(), header)
			allowed := rt.Public || slices.Contains(rt.Roles, role)
			switch {
			case allowed && roleDenied(resp, data),
				allowed && !rt.Public && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
				t.Errorf("%s as %s: %s, want allowed", rt.Pattern, role, resp.Status)
			case !allowed && !roleDenied(resp, data):
				t.Errorf("%s as %s: %s, want 403 (role)", rt.Pattern, role, resp.Status)
			}
			if resp.StatusCode >= 500 {
				t.Errorf("%s as %s: %s: %s", rt.Pattern, role, resp.Status, firstLine(data))
			}
		}
	}
}

func isAPIPath(p string) bool { return strings.HasPrefix(p, "/api/") }

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// routeBody gives each POST a plausible body, so that allowed roles reach
// the handler's own checks rather than a body error.
func routeBody(t *testing.T, pattern, csrf string) (func() ioReader, map[string][]string) {
	switch {
	case strings.HasSuffix(pattern, "/courrier"):
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, _ := w.CreateFormFile("files", "scan.pdf")
		fw.Write(testPDF(t))
		w.WriteField("received", time.Now().Format("2006-01-02"))
		w.WriteField("reception", time.Now().Format("2006-01-02"))
		w.WriteField(csrfField, csrf)
		w.Close()
		data := buf.Bytes()
		return func() ioReader { return bytes.NewReader(data) }, map[string][]string{"Content-Type": {w.FormDataContentType()}}
	case strings.HasPrefix(pattern, "POST /api/") || strings.HasPrefix(pattern, "DELETE /api/"):
		return func() ioReader { return strings.NewReader("{}") }, map[string][]string{"Content-Type": {"application/json"}, "If-Match": {`"x"`}}
	}
	form := "csrf=" + csrf
	return func() ioReader { return strings.NewReader(form) }, map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}
}

// TestRoutesOtherSite checks that sites restrict what an account sees: an
// agent of another site gets "not found" for a dossier, its documents, its
// original and its actions, as if it did not exist.
func TestRoutesOtherSite(t *testing.T) {
	f := newFixture(t)
	params := seedForRoutes(t, f)
	c := f.login("rhone1")
	for _, rt := range f.srv.routes() {
		if !strings.Contains(rt.Pattern, "{number}") && !strings.Contains(rt.Pattern, "{reference}") {
			continue
		}
		if !slices.Contains(rt.Roles, RoleAgent) {
			continue
		}
		method, path := fillPath(t, rt.Pattern, params)
		body, header := routeBody(t, rt.Pattern, c.csrf)
		resp, _ := c.do(t, method, path, body(), header)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s as an agent of another site: %s, want 404", rt.Pattern, resp.Status)
		}
	}
}
