package web

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// TestPageHeaders checks the headers every page carries.
func TestPageHeaders(t *testing.T) {
	f := newFixture(t)
	c := f.login("agent1")
	for _, path := range []string{"/connexion", "/dossiers", "/nulle-part"} {
		resp, _ := c.get(t, path)
		h := resp.Header
		want := map[string]string{
			"Content-Security-Policy":   pageCSP,
			"X-Content-Type-Options":    "nosniff",
			"X-Frame-Options":           "DENY",
			"Referrer-Policy":           "same-origin",
			"Cache-Control":             "no-store",
			"Strict-Transport-Security": "max-age=31536000",
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		csp := h.Get("Content-Security-Policy")
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q allows inline or eval'd script", path, csp)
		}
	}
}

// TestDocumentHeaders checks how documents are served: the sniffed type
// decides, the sandbox always applies, and only safe types are inline.
func TestDocumentHeaders(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 1, Docs: []testDoc{
		{Name: "passeport.pdf", Type: "application/pdf", Data: testPDF(t)},
		{Name: "facture.pdf", Type: "text/html; charset=utf-8", Data: []byte(disguisedHTML)},
		{Name: "photo.jpg", Type: "application/x-msdownload", Data: []byte("MZ\x90\x00 not a photo"), Problems: []string{"type_executable"}},
		{Name: "état civil — Ñandú.pdf", Type: "application/pdf", Data: testPDF(t)},
		{Name: "notes.txt", Type: "text/plain; charset=iso-8859-1", Data: []byte("r\xe9sum\xe9")},
	}})
	c := f.login("agent1")
	tests := []struct {
		doc         int
		query       string
		ctype       string
		disposition string
	}{
		{0, "", "application/pdf", "inline"},
		{0, "?telecharger=1", "application/pdf", "attachment"},
		{1, "", "text/html; charset=utf-8", "inline"},
		{2, "", "application/octet-stream", "attachment"},
		{3, "", "application/pdf", "inline"},
		{4, "", "text/plain; charset=iso-8859-1", "inline"},
	}
	for _, tc := range tests {
		doc := m.Documents[tc.doc]
		path := "/dossiers/" + m.Number + "/documents/" + url.PathEscape(doc.SafeName) + tc.query
		resp, body := c.get(t, path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
			continue
		}
		h := resp.Header
		if got := h.Get("Content-Type"); got != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", doc.Name, got, tc.ctype)
		}
		disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
		if err != nil || disp != tc.disposition || params["filename"] != doc.SafeName {
			t.Errorf("%s: Content-Disposition %q (%v), want %s with filename %q", doc.Name, h.Get("Content-Disposition"), err, tc.disposition, doc.SafeName)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "allow-scripts") {
			t.Errorf("%s: CSP %q, want a sandbox without scripts", doc.Name, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("%s: nosniff %q, frame %q", doc.Name, h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"))
		}
		if string(body) != string(f.docBytes(t, m, tc.doc)) {
			t.Errorf("%s: body differs from the stored document", doc.Name)
		}
	}
}

// docBytes reads a stored document back.
func (f *fixture) docBytes(t *testing.T, m *storage.Manifest, i int) []byte {
	rc, _, err := storage.Dossiers{Bucket: f.bucket}.OpenDocument(context.Background(), m, m.Documents[i].SafeName)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := newSpool(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	b := make([]byte, sp.size)
	if _, err := sp.Read(b); err != nil && sp.size > 0 {
		t.Fatal(err)
	}
	return b
}

// TestDocumentIntegrity: a document whose stored bytes no longer match the
// manifest's hash is not shown.
func TestDocumentIntegrity(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 1, Docs: []testDoc{{Name: "a.pdf", Type: "application/pdf", Data: testPDF(t)}}})
	// Another version of the file under the same key, as a disk error or a
	// tampering would leave it.
	key := storage.DocumentKey(m.Number, m.Documents[0].SafeName)
	if _, err := f.bucket.Put(context.Background(), key, strings.NewReader("%PDF-1.4 altered"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.login("agent1").get(t, "/dossiers/"+m.Number+"/documents/"+m.Documents[0].SafeName)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "altered") || !strings.Contains(string(body), "altéré") {
		t.Errorf("altered document: %s, want 500 with no content", resp.Status)
	}
}

// TestCSRF: a state-changing request without the session's token, or from
// another origin, is refused; with it, it goes through.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 1})
	c := f.login("agent1")
	path := "/dossiers/" + m.Number + "/prendre"
	form := func(token string) url.Values {
		return url.Values{"etag": {string(f.etag(t, m.Number))}, "hist": {"1"}, csrfField: {token}}
	}
	tests := []struct {
		name   string
		values url.Values
		header http.Header
		status int
	}{
		{"no token", url.Values{"etag": {"x"}}, nil, http.StatusForbidden},
		{"wrong token", form("not-the-token"), nil, http.StatusForbidden},
		{"cross-site fetch", form(c.csrf), http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"foreign origin", form(c.csrf), http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"right token", form(c.csrf), nil, http.StatusSeeOther},
	}
	for _, tc := range tests {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		for k, v := range tc.header {
			h[k] = v
		}
		resp, _ := c.do(t, http.MethodPost, path, strings.NewReader(tc.values.Encode()), h)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.status)
		}
	}
	m2, _, _ := f.srv.dossiers.Get(context.Background(), m.Number)
	if m2.AssignedTo != "agent1" || len(m2.History) != 2 {
		t.Errorf("after one accepted request: assigned %q, %d history entries", m2.AssignedTo, len(m2.History))
	}
	// The API takes the token in a header.
	resp, _ := c.do(t, http.MethodPost, "/api/dossiers/"+m.Number+"/release", strings.NewReader("{}"),
		http.Header{"If-Match": {httpETag(f.etag(t, m.Number))}, csrfHeader: {"wrong"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API with a wrong token: %s, want 403", resp.Status)
	}
	// The login form has its own token, bound to a cookie.
	anon := f.anonymous()
	resp, _ = anon.postForm(t, "/connexion", url.Values{"login": {"agent1"}, "password": {testPassword}, csrfField: {"guess"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's token: %s, want 403", resp.Status)
	}
}

func (f *fixture) etag(t *testing.T, number string) storage.ETag {
	_, etag, err := f.srv.dossiers.Get(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return etag
}

// formLogin logs in through the page form, as a browser does.
func (f *fixture) formLogin(t *testing.T, c *client, login, password, retour string) *http.Response {
	resp, body := c.get(t, "/connexion")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %s", resp.Status)
	}
	token := between(string(body), `name="csrf" value="`, `"`)
	resp, _ = c.postForm(t, "/connexion", url.Values{"login": {login}, "password": {password}, "retour": {retour}, csrfField: {token}})
	return resp
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// TestLoginRateLimit: after five failures an account is held back, even
// with the right password, and others are not.
func TestLoginRateLimit(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, withClock(clock))
	c := f.anonymous()
	for i := range loginAccountBurst {
		if resp := f.formLogin(t, c, "agent1", "wrong password "+string(rune('a'+i)), "/"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s, want 401", i+1, resp.Status)
		}
	}
	if resp := f.formLogin(t, c, "agent1", testPassword, "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password after %d failures: %s, want 429", loginAccountBurst, resp.Status)
	}
	if resp := f.formLogin(t, f.anonymous(), "agent2", testPassword, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another account: %s, want 303", resp.Status)
	}
	clock.Advance(loginAccountEvery)
	if resp := f.formLogin(t, c, "agent1", testPassword, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("right password after the wait: %s, want 303", resp.Status)
	}
	// Failures are audited, with the account when it exists.
	var failed int
	storage.Audit{Bucket: f.bucket}.Day(context.Background(), clock.Now(), func(e storage.AuditEvent) error {
		if e.Action == "auth.login_failed" && e.Who == "agent1" {
			failed++
		}
		return nil
	})
	if failed != loginAccountBurst {
		t.Errorf("%d failed logins audited, want %d", failed, loginAccountBurst)
	}
}

// TestLoginRedirect: the page to return to after login stays on this site.
func TestLoginRedirect(t *testing.T) {
	f := newFixture(t)
	for retour, want := range map[string]string{
		"/dossiers?statut=a_verifier": "/dossiers?statut=a_verifier",
		"//evil.example/":             "/",
		"/\\evil.example":             "/",
		"https://evil.example/":       "/",
	} {
		resp := f.formLogin(t, f.anonymous(), "agent1", testPassword, retour)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("retour %q: redirected to %q, want %q", retour, got, want)
		}
	}
}

// TestSessionCookie checks the cookie's attributes, that logging out ends
// the session on every replica, and the idle limit.
func TestSessionCookie(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, withClock(clock))
	c := f.anonymous()
	resp := f.formLogin(t, c, "agent1", testPassword, "/")
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-"+sessionCookie {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatalf("no __Host- session cookie in %v", resp.Header["Set-Cookie"])
	}
	if !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Domain != "" {
		t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", sess)
	}

	// A second replica on the same bucket with the same key knows it.
	replica, err := New(context.Background(), Options{Bucket: f.bucket, Sites: testSites(t, &f.key), Logger: zerolog.Nop(),
		BaseURL: f.ts.URL, LocalAccounts: true, SessionKey: f.srv.opts.SessionKey, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler) int {
		req, _ := http.NewRequest(http.MethodGet, "/api/me", nil)
		req.AddCookie(sess)
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := get(replica); code != http.StatusOK {
		t.Fatalf("replica: %d, want 200", code)
	}
	// Logout on the first replica.
	resp, _ = c.postForm(t, "/deconnexion", url.Values{csrfField: {f.csrfOf(t, c)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	if code := get(f.srv); code != http.StatusUnauthorized {
		t.Errorf("old cookie after logout: %d, want 401", code)
	}
	clock.Advance(sessionCacheTTL + time.Second)
	if code := get(replica); code != http.StatusUnauthorized {
		t.Errorf("old cookie on the other replica after its cache: %d, want 401", code)
	}

	// Idle sessions end.
	c2 := f.login("agent2")
	clock.Advance(sessionIdle + time.Minute)
	if resp, _ := c2.get(t, "/api/me"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after %s idle: %s, want 401", sessionIdle, resp.Status)
	}
	// A forged cookie is refused.
	forged := &http.Cookie{Name: sess.Name, Value: strings.Repeat("A", 43) + "." + strings.Repeat("B", 43)}
	req, _ := http.NewRequest(http.MethodGet, "/api/me", nil)
	req.AddCookie(forged)
	rec := newRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d", rec.Code)
	}
}

// csrfOf reads a page client's CSRF token from /api/me.
func (f *fixture) csrfOf(t *testing.T, c *client) string {
	_, body := c.get(t, "/api/me")
	return between(string(body), `"csrf_token": "`, `"`)
}

// TestSessionSweep removes expired session records and keeps live ones.
func TestSessionSweep(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, withClock(clock))
	f.login("agent1")
	clock.Advance(sessionIdle - time.Minute)
	live := f.login("agent2")
	clock.Advance(2 * time.Minute)
	n, err := f.srv.sessions.sweep(context.Background())
	if err != nil || n != 1 {
		t.Errorf("sweep: %d removed, %v; want the idle one only", n, err)
	}
	if resp, _ := live.get(t, "/api/me"); resp.StatusCode != http.StatusOK {
		t.Errorf("live session after the sweep: %s", resp.Status)
	}
}

// TestEndSessions ends one account's sessions and no other's.
func TestEndSessions(t *testing.T) {
	f := newFixture(t)
	a1, a2, b := f.login("agent1"), f.login("agent1"), f.login("agent2")
	n, err := EndSessions(context.Background(), f.bucket, "agent1")
	if err != nil || n != 2 {
		t.Fatalf("EndSessions: %d, %v; want 2", n, err)
	}
	// The in-process cache trusts a session for sessionCacheTTL: a fresh
	// replica sees the change at once.
	replica, err := New(context.Background(), Options{Bucket: f.bucket, Sites: testSites(t, &f.key), BaseURL: f.ts.URL,
		LocalAccounts: true, SessionKey: f.srv.opts.SessionKey})
	if err != nil {
		t.Fatal(err)
	}
	f.ts.Config.Handler = replica
	for name, c := range map[string]*client{"agent1 first": a1, "agent1 second": a2} {
		if resp, _ := c.get(t, "/api/me"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s session after EndSessions: %s", name, resp.Status)
		}
	}
	if resp, _ := b.get(t, "/api/me"); resp.StatusCode != http.StatusOK {
		t.Errorf("agent2's session: %s", resp.Status)
	}
}
