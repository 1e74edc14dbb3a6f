package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

// TestPagesRender renders every page each role may see, with data in it.
func TestPagesRender(t *testing.T) {
	f := newFixture(t)
	params := seedForRoutes(t, f)
	for i := 10; i < 40; i++ {
		seedDossier(t, f.bucket, realisticSpec(i, fixtureClock))
	}
	for _, role := range Roles {
		c := f.login(roleAccount[role])
		for _, rt := range f.srv.routes() {
			if !strings.HasPrefix(rt.Pattern, "GET ") || strings.Contains(rt.Pattern, "/api/") || rt.Public || !slices.Contains(rt.Roles, role) {
				continue
			}
			_, path := fillPath(t, rt.Pattern, params)
			resp, body := c.get(t, path)
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("%s as %s: %s", rt.Pattern, role, resp.Status)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusOK && strings.HasPrefix(ct, "text/html") && !bytes.Contains(body, []byte(`<nav class="nav"`)) {
				t.Errorf("%s as %s: page without the menu", rt.Pattern, role)
			}
		}
	}
}

// TestDossierPageConflict: two agents post the same version of the form;
// the second sees what happened and that nothing was applied.
func TestDossierPageConflict(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 1})
	etag := string(f.etag(t, m.Number))
	a, b := f.login("agent1"), f.login("agent2")
	resp, _ := a.postForm(t, "/dossiers/"+m.Number+"/instruction", url.Values{"etag": {etag}, "hist": {"1"}, "anef": {"7501-2026-0000777"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?fait=hand-over") {
		t.Fatalf("first: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := b.postForm(t, "/dossiers/"+m.Number+"/prendre", url.Values{"etag": {etag}, "hist": {"1"}})
	page := string(body)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("second: %s, want 409", resp.Status)
	}
	for _, want := range []string{"modifié par quelqu'un d'autre", "Prendre le dossier", "n'a pas été appliquée", "Transmis à l&#39;instruction", "agent1", "7501-2026-0000777"} {
		if !strings.Contains(page, want) {
			t.Errorf("conflict page lacks %q", want)
		}
	}
	if cur, _, _ := f.srv.dossiers.Get(context.Background(), m.Number); cur.AssignedTo != "" {
		t.Errorf("the losing take landed: %q", cur.AssignedTo)
	}
}

// TestQueuePage: the page shows the queue, searches, and opens a number.
func TestQueuePage(t *testing.T) {
	f := newFixture(t)
	seedRealistic(t, f.bucket, 30, fixtureClock)
	c := f.login("agent1")
	resp, body := c.get(t, "/dossiers?statut=a_verifier")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Ticket CCC : non vérifiable") {
		t.Errorf("a_verifier queue: %s", resp.Status)
	}
	num := storage.FormatNumber("pp", realisticSpec(0, fixtureClock).Received.Year(), 1)
	resp, _ = c.get(t, "/dossiers?q="+url.QueryEscape(strings.ToUpper(num)))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dossiers/"+num {
		t.Errorf("number search: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body = c.get(t, "/dossiers?q=kovalenko")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Oksana Kovalenko") || strings.Contains(string(body), "Ivan Petrov") {
		t.Errorf("name search: %s", resp.Status)
	}
	if resp, _ := c.get(t, "/dossiers?site=rhone"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other site's queue: %s, want 404", resp.Status)
	}
}

// TestCourrierPage uploads a letter through the form and shows the
// receipt; a refused upload keeps what the clerk typed.
func TestCourrierPage(t *testing.T) {
	f := newFixture(t)
	c := f.login("courrier1")
	today := time.Now().In(f.srv.sites[0].Location).Format("2006-01-02")
	post := func(fields map[string]string, file []byte) (*http.Response, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if file != nil {
			fw, _ := w.CreateFormFile("fichiers", "lettre.pdf")
			fw.Write(file)
		}
		fields[csrfField] = c.csrf
		for k, v := range fields {
			w.WriteField(k, v)
		}
		w.Close()
		return c.do(t, http.MethodPost, "/courrier", &buf, http.Header{"Content-Type": {w.FormDataContentType()}})
	}
	resp, body := post(map[string]string{"reception": today, "expediteur_nom": "Ivan Petrov", "recommande": "RR123"}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "Joignez au moins un fichier") || !strings.Contains(string(body), `value="RR123"`) {
		t.Errorf("no file: %s", resp.Status)
	}
	resp, _ = post(map[string]string{"reception": today, "cachet": today, "expediteur_nom": "Ivan Petrov", "recommande": "RR123"}, testPDF(t))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "numero=pp-") {
		t.Fatalf("upload: %s to %q", resp.Status, loc)
	}
	resp, body = c.get(t, loc)
	number := between(loc, "numero=", "&")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), number) {
		t.Errorf("receipt page: %s, lacks %s", resp.Status, number)
	}
}

// TestInvitationPages issues, shows and revokes an invitation with the
// forms.
func TestInvitationPages(t *testing.T) {
	f := newFixture(t)
	c := f.login("sup1")
	if resp, body := c.get(t, "/invitations/nouvelle"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="departement"`) {
		t.Fatalf("form: %s", resp.Status)
	}
	resp, _ := c.postForm(t, "/invitations", url.Values{"site": {"pp"}, "nom": {"Awa Diallo"}, "departement": {"75"},
		"adresse": {"12 rue des Lilas\r\n75020 Paris\r\n"}, "validite": {"60"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/invitations/pp/INV-PP-") {
		t.Fatalf("issue: %s to %q", resp.Status, loc)
	}
	resp, body := c.get(t, loc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "75020 Paris") || !strings.Contains(string(body), "lettre.pdf") {
		t.Errorf("invitation page: %s", resp.Status)
	}
	path, _, _ := strings.Cut(loc, "?")
	resp, _ = c.postForm(t, path+"/revoquer", url.Values{"motif": {"Adresse erronée"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if _, body := c.get(t, path); !strings.Contains(string(body), "Adresse erronée") || !strings.Contains(string(body), "Révoquée") {
		t.Error("revoked invitation page lacks the revocation")
	}
	if _, body := c.get(t, "/invitations?etat=revoked"); !strings.Contains(string(body), "Awa Diallo") {
		t.Error("revoked filter lacks the invitation")
	}
}

// TestAccountPassword changes a local password.
func TestAccountPassword(t *testing.T) {
	f := newFixture(t)
	c := f.login("agent1")
	const next = "une nouvelle phrase de passe"
	for _, tc := range []struct {
		current, new, again string
		status              int
	}{
		{"faux mot de passe !", next, next, http.StatusUnprocessableEntity},
		{testPassword, next, next + "x", http.StatusUnprocessableEntity},
		{testPassword, "court", "court", http.StatusUnprocessableEntity},
		{testPassword, next, next, http.StatusSeeOther},
	} {
		resp, _ := c.postForm(t, "/compte/mot-de-passe", url.Values{"current": {tc.current}, "new": {tc.new}, "again": {tc.again}})
		if resp.StatusCode != tc.status {
			t.Errorf("change (%q → %q/%q): %s, want %d", tc.current, tc.new, tc.again, resp.Status, tc.status)
		}
	}
	if _, err := f.srv.accounts.Authenticate(context.Background(), "agent1", next); err != nil {
		t.Errorf("new password refused: %v", err)
	}
}
