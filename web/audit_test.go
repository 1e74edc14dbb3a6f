package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

// auditOf returns today's audit events.
func auditOf(t *testing.T, b storage.Bucket) []storage.AuditEvent {
	var out []storage.AuditEvent
	now := time.Now()
	err := storage.Audit{Bucket: b}.Range(context.Background(), now.Add(-48*time.Hour), now.Add(time.Hour), func(e storage.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuditTrail: reads and actions are in the audit log, with the
// account and the dossier, and without personal data.
func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 5, Subject: "Objet confidentiel", Sender: &storage.Party{Name: "Awa Diallo", Email: "awa@example.org"},
		Docs: []testDoc{{Name: "passeport-awa-diallo.pdf", Type: "application/pdf", Data: testPDF(t)}}})
	c := f.login("agent1")
	c.get(t, "/dossiers/"+m.Number)
	c.get(t, "/dossiers/"+m.Number+"/documents/"+url.PathEscape(m.Documents[0].SafeName))
	c.get(t, "/dossiers/"+m.Number+"/original")
	c.get(t, "/dossiers?q=diallo")
	c.postForm(t, "/dossiers/"+m.Number+"/prendre", url.Values{"etag": {string(f.etag(t, m.Number))}})
	want := map[string]bool{"auth.login": false, "dossier.read": false, "document.read": false, "raw.read": false, "dossier.search": false, "dossier.take": false}
	for _, e := range auditOf(t, f.bucket) {
		if _, ok := want[e.Action]; ok && e.Who == "agent1" {
			want[e.Action] = true
			if e.Action != "auth.login" && e.Action != "dossier.search" && e.Dossier != m.Number {
				t.Errorf("%s: dossier %q, want %s", e.Action, e.Dossier, m.Number)
			}
		}
		for _, secret := range []string{"Awa", "Diallo", "diallo", "awa@", "confidentiel", "passeport"} {
			if strings.Contains(e.Detail, secret) {
				t.Errorf("audit event %s carries personal data: %q", e.Action, e.Detail)
			}
		}
	}
	for action, seen := range want {
		if !seen {
			t.Errorf("no %s event by agent1", action)
		}
	}
	// The supervisor's page and API filter it.
	sup := f.login("sup1")
	resp, body := sup.get(t, "/journal?dossier="+m.Number)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Consultation d&#39;un document") || !strings.Contains(string(body), "agent1") {
		t.Errorf("audit page: %s", resp.Status)
	}
	_, data := sup.get(t, "/api/audit?who=agent1&action=dossier.take")
	l := decode[struct {
		Items []struct {
			storage.AuditEvent
			Key string `json:"key"`
		} `json:"items"`
	}](t, data)
	if len(l.Items) != 1 || l.Items[0].Dossier != m.Number || l.Items[0].Detail != "recevable" {
		t.Errorf("filtered audit: %+v", l.Items)
	}
}

// failingAudit is a bucket whose audit writes fail.
type failingAudit struct{ storage.Bucket }

func (b failingAudit) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.ETag, error) {
	if strings.HasPrefix(key, "audit/") {
		return "", errors.New("audit disk full")
	}
	return b.Bucket.Put(ctx, key, r, o)
}

// TestAuditFailClosed: when the access cannot be logged, the dossier and
// its documents are not shown.
func TestAuditFailClosed(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 5, Sender: &storage.Party{Name: "Awa Diallo"},
		Docs: []testDoc{{Name: "a.pdf", Type: "application/pdf", Data: testPDF(t)}}})
	c := f.login("agent1")
	srv, err := New(context.Background(), Options{Bucket: failingAudit{f.bucket}, Sites: testSites(t, &f.key), BaseURL: f.ts.URL,
		LocalAccounts: true, SessionKey: f.srv.opts.SessionKey})
	if err != nil {
		t.Fatal(err)
	}
	f.ts.Config.Handler = srv
	for _, path := range []string{"/dossiers/" + m.Number, "/dossiers/" + m.Number + "/documents/" + m.Documents[0].SafeName, "/api/dossiers/" + m.Number} {
		resp, body := c.get(t, path)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "Awa Diallo") || strings.Contains(string(body), "%PDF") {
			t.Errorf("%s with the audit log down: %s", path, resp.Status)
		}
	}
}
