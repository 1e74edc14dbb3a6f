package web

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T: %v in %s", v, err, data)
	}
	return v
}

// apiAct posts an action with If-Match and a JSON body.
func (c *client) apiAct(t *testing.T, number, action string, etag string, body any) (*http.Response, []byte) {
	t.Helper()
	data, _ := json.Marshal(body)
	h := http.Header{"Content-Type": {"application/json"}}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	return c.do(t, http.MethodPost, "/api/dossiers/"+number+"/"+action, bytes.NewReader(data), h)
}

// TestAPIWorkflow walks a dossier through the review workflow over the
// API, with the ETag checks on the way.
func TestAPIWorkflow(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 7, Status: storage.StatusAVerifier})
	c := f.login("agent1")
	resp, _ := c.get(t, "/api/dossiers/"+m.Number)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" {
		t.Fatalf("GET dossier: %s, ETag %q", resp.Status, etag)
	}
	if resp, _ := c.apiAct(t, m.Number, "take", "", nil); resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("action without If-Match: %s, want 428", resp.Status)
	}
	steps := []struct {
		action string
		body   any
		status int
		check  func(*storage.Manifest) string
	}{
		{"take", nil, http.StatusOK, func(m *storage.Manifest) string { return m.AssignedTo }},
		{"hand-over", apiActionRequest{ANEF: "7501-2026-1"}, http.StatusUnprocessableEntity, nil}, // not yet recevable
		{"confirm-admissible", apiActionRequest{}, http.StatusUnprocessableEntity, nil},           // what was checked?
		{"confirm-admissible", apiActionRequest{Comment: "Appel au CCC : ticket confirmé."}, http.StatusOK, func(m *storage.Manifest) string { return string(m.Status) }},
		{"request-pieces", apiActionRequest{Pieces: []string{"Passeport"}, Deadline: time.Now().AddDate(0, 0, -1).Format("2006-01-02")}, http.StatusUnprocessableEntity, nil},
		{"hand-over", apiActionRequest{ANEF: "x"}, http.StatusUnprocessableEntity, nil},
		{"hand-over", apiActionRequest{ANEF: "7501-2026-0004521"}, http.StatusOK, func(m *storage.Manifest) string { return m.ANEF }},
		{"close", apiActionRequest{}, http.StatusUnprocessableEntity, nil},
		{"close", apiActionRequest{Reason: "Instruction engagée dans l'ANEF"}, http.StatusOK, func(m *storage.Manifest) string { return string(m.Status) }},
		{"take", nil, http.StatusUnprocessableEntity, nil}, // closed
	}
	want := []string{"agent1", "", "", "recevable", "", "", "7501-2026-0004521", "", "clos", ""}
	for i, st := range steps {
		resp, data := c.apiAct(t, m.Number, st.action, etag, st.body)
		if resp.StatusCode != st.status {
			t.Fatalf("step %d %s: %s %s, want %d", i, st.action, resp.Status, data, st.status)
		}
		if resp.StatusCode != http.StatusOK {
			if e := decode[apiError](t, data); e.Message == "" {
				t.Errorf("step %d %s: refusal without a message", i, st.action)
			}
			continue
		}
		etag = resp.Header.Get("ETag")
		got := decode[storage.Manifest](t, data)
		if v := st.check(&got); v != want[i] {
			t.Errorf("step %d %s: got %q, want %q", i, st.action, v, want[i])
		}
	}
	final, _, _ := f.srv.dossiers.Get(context.Background(), m.Number)
	var codes []string
	for _, h := range final.History {
		codes = append(codes, h.Action)
	}
	if got := strings.Join(codes, ","); got != "created,prise,recevabilite_confirmee,transmission_instruction,cloture" {
		t.Errorf("history %s", got)
	}
	// The index follows the process's own writes at once.
	_, data := c.get(t, "/api/counts?site=pp")
	counts := decode[struct {
		ByStatus map[storage.Status]int `json:"by_status"`
	}](t, data)
	if counts.ByStatus[storage.StatusClos] != 1 || counts.ByStatus[storage.StatusAVerifier] != 0 {
		t.Errorf("counts after the walk: %v", counts.ByStatus)
	}
}

// TestAPIConflict: two clients act on the same version; the second gets
// 412 with the current version and changes nothing.
func TestAPIConflict(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 3})
	a, b := f.login("agent1"), f.login("agent2")
	resp, _ := a.get(t, "/api/dossiers/"+m.Number)
	etag := resp.Header.Get("ETag")
	if resp, _ := a.apiAct(t, m.Number, "hand-over", etag, apiActionRequest{ANEF: "7501-2026-0000001"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("first: %s", resp.Status)
	}
	resp, data := b.apiAct(t, m.Number, "request-pieces", etag, apiActionRequest{Pieces: []string{"Passeport"}, Deadline: time.Now().AddDate(0, 1, 0).Format("2006-01-02")})
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("second: %s, want 412", resp.Status)
	}
	c := decode[apiConflict](t, data)
	if c.Dossier == nil || c.Dossier.Status != storage.StatusEnInstruction || c.CurrentETag == "" || !strings.Contains(c.Message, "agent1") {
		t.Errorf("conflict body %+v", c)
	}
	if resp.Header.Get("ETag") != httpETag(storage.ETag(c.CurrentETag)) {
		t.Errorf("ETag header %q, body %q", resp.Header.Get("ETag"), c.CurrentETag)
	}
	cur, _, _ := f.srv.dossiers.Get(context.Background(), m.Number)
	if cur.Missing != nil || len(cur.History) != 2 {
		t.Errorf("the losing action landed: %+v", cur.Missing)
	}
}

// TestAPIAssignedToOther: an agent cannot act on a dossier another agent
// took; a supervisor can, and can take it over.
func TestAPIAssignedToOther(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 3, Assigned: "agent1"})
	etag := httpETag(f.etag(t, m.Number))
	if resp, _ := f.login("agent2").apiAct(t, m.Number, "hand-over", etag, apiActionRequest{ANEF: "7501-2026-0000002"}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("agent2 on agent1's dossier: %s, want 422", resp.Status)
	}
	resp, data := f.login("sup1").apiAct(t, m.Number, "take", etag, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("supervisor takes over: %s %s", resp.Status, data)
	}
	got := decode[storage.Manifest](t, data)
	if got.AssignedTo != "sup1" || got.History[len(got.History)-1].Detail != "repris à agent1" {
		t.Errorf("after take-over: %q, %+v", got.AssignedTo, got.History[len(got.History)-1])
	}
}

// TestAPIQueue pages through a queue, filters it and searches it.
func TestAPIQueue(t *testing.T) {
	f := newFixture(t)
	const n = 130
	seedRealistic(t, f.bucket, n, fixtureClock)
	seedDossier(t, f.bucket, dossierSpec{Site: "rhone", Seq: 1, Sender: &storage.Party{Name: "Awa Diallo"}})
	want := map[storage.Status]int{}
	wantChannel := map[storage.Channel]int{}
	for i := range n {
		spec := realisticSpec(i, fixtureClock)
		want[spec.Status]++
		ch := spec.Channel
		if ch == "" {
			ch = storage.ChannelEmail
		}
		wantChannel[ch]++
	}
	c := f.login("agent1")
	_, data := c.get(t, "/api/counts?site=pp")
	counts := decode[struct {
		Total     int                     `json:"total"`
		ByStatus  map[storage.Status]int  `json:"by_status"`
		ByChannel map[storage.Channel]int `json:"by_channel"`
		Complete  bool                    `json:"complete"`
	}](t, data)
	if counts.Total != n || !counts.Complete {
		t.Errorf("total %d complete %v, want %d", counts.Total, counts.Complete, n)
	}
	for st, w := range want {
		if counts.ByStatus[st] != w {
			t.Errorf("count %s = %d, want %d", st, counts.ByStatus[st], w)
		}
	}
	for ch, w := range wantChannel {
		if counts.ByChannel[ch] != w {
			t.Errorf("count %s = %d, want %d", ch, counts.ByChannel[ch], w)
		}
	}

	// Page through "recevable" 20 at a time, forwards then backwards.
	var pages [][]string
	after := ""
	for {
		_, data := c.get(t, "/api/dossiers?site=pp&status=recevable&limit=20&after="+url.QueryEscape(after))
		l := decode[apiQueueList](t, data)
		var nums []string
		for i, it := range l.Items {
			nums = append(nums, it.Number)
			if i > 0 && it.ReceivedAt.Before(l.Items[i-1].ReceivedAt) {
				t.Errorf("page not in arrival order at %s", it.Number)
			}
			if it.Status != storage.StatusRecevable {
				t.Errorf("%s in status %s on the recevable queue", it.Number, it.Status)
			}
		}
		pages = append(pages, nums)
		if l.Total != want[storage.StatusRecevable] {
			t.Errorf("total %d, want %d", l.Total, want[storage.StatusRecevable])
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	var all []string
	for _, p := range pages {
		all = append(all, p...)
	}
	if len(all) != want[storage.StatusRecevable] || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Errorf("paging gave %d numbers (%d distinct), want %d", len(all), len(slices.Compact(slices.Clone(all))), want[storage.StatusRecevable])
	}
	_, data = c.get(t, "/api/dossiers?site=pp&status=recevable&limit=20&before="+url.QueryEscape(cursorOf(t, f, pages[1][0])))
	if prev := decode[apiQueueList](t, data); !slices.Equal(numbersOf(prev.Items), pages[0]) {
		t.Errorf("previous page %v, want %v", numbersOf(prev.Items), pages[0])
	}

	// Channel filter.
	_, data = c.get(t, "/api/dossiers?site=pp&status=recevable&channel=postal&limit=200")
	for _, it := range decode[apiQueueList](t, data).Items {
		if it.Channel != storage.ChannelPostal {
			t.Errorf("channel filter let %s (%s) through", it.Number, it.Channel)
		}
	}

	// Search: accents folded, every status, this site only.
	search := func(q string) apiQueueList {
		_, data := c.get(t, "/api/dossiers?site=pp&q="+url.QueryEscape(q))
		return decode[apiQueueList](t, data)
	}
	l := search("loetitia n diaye celik")
	if len(l.Items) == 0 {
		t.Error("accent-folded name search found nothing")
	}
	for _, it := range l.Items {
		if it.Applicant != "Chloé Lœtitia N'Diaye-Çelik" {
			t.Errorf("search for Lœtitia found %s (%s)", it.Number, it.Applicant)
		}
	}
	if l := search("Awa Diallo"); len(l.Items) == 0 || slices.ContainsFunc(l.Items, func(it apiQueueItem) bool { return strings.HasPrefix(it.Number, "rhone-") }) {
		t.Errorf("name search: %v (must find pp's and not rhone's)", numbersOf(l.Items))
	}
	// An invitation reference typed loosely (lower case, spaces).
	ref := fixtureReference(3)
	loose := strings.ToLower(strings.ReplaceAll(ref, "-", " "))
	if l := search(loose); len(l.Items) != 1 || l.Items[0].Number != storage.FormatNumber("pp", realisticSpec(3, fixtureClock).Received.Year(), 4) {
		t.Errorf("reference search %q: %v", loose, numbersOf(l.Items))
	}
	// A registration number is an exact lookup.
	num := storage.FormatNumber("pp", realisticSpec(9, fixtureClock).Received.Year(), 10)
	if l := search(strings.ToUpper(num)); len(l.Items) != 1 || l.Items[0].Number != num {
		t.Errorf("number search: %v", numbersOf(l.Items))
	}
	// Another site's queue is not this account's.
	if resp, _ := c.get(t, "/api/dossiers?site=rhone&status=recevable"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other site's queue: %s, want 404", resp.Status)
	}
}

func numbersOf(items []apiQueueItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Number)
	}
	return out
}

func cursorOf(t *testing.T, f *fixture, number string) string {
	m, _, err := f.srv.dossiers.Get(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return markerCursor(m)
}

// namedFile is one file of an upload, in order.
type namedFile struct {
	name string
	data []byte
}

// multipartLetter builds an upload.
func multipartLetter(t *testing.T, fields map[string]string, files []namedFile) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateFormFile("files", f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	for k, v := range fields {
		w.WriteField(k, v)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

// TestAPICourrier uploads letters through the API.
func TestAPICourrier(t *testing.T) {
	f := newFixture(t)
	c := f.login("courrier1")
	today := time.Now().In(f.srv.sites[0].Location)
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte{1}, 100)...)
	tests := []struct {
		name   string
		fields map[string]string
		files  []namedFile
		status int
	}{
		{"letter", map[string]string{"received": today.Format("2006-01-02"), "postmark": today.AddDate(0, 0, -2).Format("2006-01-02"),
			"registered": "1A 123 456 7890 1", "sender_name": "Ivan Petrov"},
			[]namedFile{{"page1.pdf", testPDF(t)}, {"page2.jpg", jpeg}}, http.StatusCreated},
		{"no file", map[string]string{"received": today.Format("2006-01-02")}, nil, http.StatusUnprocessableEntity},
		{"text file", map[string]string{"received": today.Format("2006-01-02")}, []namedFile{{"lettre.pdf", []byte("<html>not a scan</html>")}}, http.StatusUnprocessableEntity},
		{"postmark after receipt", map[string]string{"received": today.AddDate(0, 0, -3).Format("2006-01-02"), "postmark": today.Format("2006-01-02")},
			[]namedFile{{"a.pdf", testPDF(t)}}, http.StatusUnprocessableEntity},
		{"received tomorrow", map[string]string{"received": today.AddDate(0, 0, 1).Format("2006-01-02")}, []namedFile{{"a.pdf", testPDF(t)}}, http.StatusUnprocessableEntity},
		{"no receipt date", map[string]string{}, []namedFile{{"a.pdf", testPDF(t)}}, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		body, ctype := multipartLetter(t, tc.fields, tc.files)
		resp, data := c.do(t, http.MethodPost, "/api/courrier", body, http.Header{"Content-Type": {ctype}})
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, data, tc.status)
			continue
		}
		if tc.status != http.StatusCreated {
			continue
		}
		r := decode[MailroomReceipt](t, data)
		m, _, err := f.srv.dossiers.Get(context.Background(), r.Number)
		if err != nil {
			t.Fatalf("%s: dossier %s: %v", tc.name, r.Number, err)
		}
		if m.Channel != storage.ChannelPostal || m.Postal == nil || m.Postal.Registered != "1A 123 456 7890 1" || m.Postal.Postmark == nil ||
			m.Postal.Postmark.Format("2006-01-02") != tc.fields["postmark"] || len(m.Documents) != 2 {
			t.Errorf("%s: stored %+v %+v", tc.name, m.Postal, m.Documents)
		}
		if sub := f.mailbox.last; sub.UploadedBy != "courrier1" || sub.Files[0].Type != "application/pdf" || sub.Files[1].Type != "image/jpeg" {
			t.Errorf("%s: submission %+v", tc.name, sub)
		}
	}
	// Without a wired intake the service says so.
	g := newFixture(t, func(o *Options) { o.Mailroom = nil })
	body, ctype := multipartLetter(t, map[string]string{"received": today.Format("2006-01-02")}, []namedFile{{"a.pdf", testPDF(t)}})
	if resp, _ := g.login("courrier1").do(t, http.MethodPost, "/api/courrier", body, http.Header{"Content-Type": {ctype}}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no mailroom intake: %s, want 503", resp.Status)
	}
}

// TestAPIInvitations issues, reads, prints and revokes an invitation.
func TestAPIInvitations(t *testing.T) {
	f := newFixture(t)
	sup := f.login("sup1")
	issue := func(req invitationRequest) (*http.Response, []byte) {
		data, _ := json.Marshal(req)
		return sup.do(t, http.MethodPost, "/api/invitations", bytes.NewReader(data), http.Header{"Content-Type": {"application/json"}})
	}
	if resp, _ := issue(invitationRequest{Site: "pp", Name: "Awa Diallo", Department: "93"}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("department outside the site: %s, want 422", resp.Status)
	}
	if resp, _ := issue(invitationRequest{Site: "rhone", Name: "Awa Diallo", Department: "69"}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("site without a signing key: %s, want 422", resp.Status)
	}
	resp, data := issue(invitationRequest{Site: "pp", Name: "Awa Diallo", Email: "awa@example.org", Department: "75",
		PostalAddress: []string{"12 rue des Lilas", "75020 Paris"}, ValidDays: 30})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("issue: %s %s", resp.Status, data)
	}
	inv := decode[apiInvitation](t, data)
	if inv.State != "active" || inv.IssuedBy != "sup1" || !strings.HasPrefix(inv.Reference, "INV-PP-") {
		t.Errorf("issued %+v", inv)
	}
	agent := f.login("agent1")
	resp, pdf := agent.get(t, "/api/invitations/pp/"+inv.Reference+"/letter.pdf")
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(pdf, []byte("%PDF-")) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("letter: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	_, data = agent.get(t, "/api/invitations?site=pp&state=active")
	if l := decode[struct{ Items []apiInvitation }](t, data); len(l.Items) != 1 {
		t.Errorf("active list: %d items", len(l.Items))
	}
	body := strings.NewReader(`{"reason":"Erreur sur le nom"}`)
	resp, data = sup.do(t, http.MethodPost, "/api/invitations/pp/"+inv.Reference+"/revoke", body, http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusOK || decode[apiInvitation](t, data).Revoked == nil {
		t.Errorf("revoke: %s %s", resp.Status, data)
	}
	resp, _ = sup.do(t, http.MethodPost, "/api/invitations/pp/"+inv.Reference+"/revoke", strings.NewReader(`{"reason":"encore"}`), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("second revocation: %s, want 422", resp.Status)
	}
	// Invitations of another site are not found by its agents.
	if resp, _ := f.login("rhone1").get(t, "/api/invitations/pp/"+inv.Reference); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other site's agent: %s, want 404", resp.Status)
	}
}

// TestAPIQuarantine lists, downloads and reprocesses a quarantined item.
func TestAPIQuarantine(t *testing.T) {
	f := newFixture(t)
	params := seedForRoutes(t, f)
	sha := params["sha"]
	exp := f.login("exp1")
	_, data := exp.get(t, "/api/quarantine")
	if l := decode[apiQuarantineList](t, data); len(l.Items) != 1 || l.Items[0].Raw != sha || l.Items[0].Reason != "mime: unparseable" {
		t.Fatalf("list: %+v", l)
	}
	resp, raw := f.login("sup1").get(t, "/api/quarantine/"+sha+"/raw")
	if resp.StatusCode != http.StatusOK || string(raw) != "not a mime message\x00\x01" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("raw: %s %q", resp.Status, resp.Header.Get("Content-Disposition"))
	}
	if resp, _ := exp.do(t, http.MethodPost, "/api/quarantine/"+sha+"/reprocess", nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("reprocess: %s", resp.Status)
	}
	if _, _, err := f.srv.quarantine.Get(context.Background(), sha); err == nil {
		t.Error("entry still in quarantine")
	}
	if calls := f.repro.calls(); !slices.Equal(calls, []string{sha}) {
		t.Errorf("reprocessor calls %v", calls)
	}
	if resp, _ := exp.do(t, http.MethodPost, "/api/quarantine/"+sha+"/reprocess", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second reprocess: %s, want 404", resp.Status)
	}
}

// TestDossierReprocess asks the Reprocessor for the dossier's raw item and
// records it.
func TestDossierReprocess(t *testing.T) {
	f := newFixture(t)
	m := seedDossier(t, f.bucket, dossierSpec{Seq: 2, Status: storage.StatusIrrecevablePropose})
	resp, data := f.login("agent1").apiAct(t, m.Number, "reprocess", httpETag(f.etag(t, m.Number)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reprocess: %s %s", resp.Status, data)
	}
	if calls := f.repro.calls(); !slices.Equal(calls, []string{m.Raw}) {
		t.Errorf("reprocessor calls %v, want the dossier's raw %s", calls, m.Raw)
	}
	if got := decode[storage.Manifest](t, data); got.History[len(got.History)-1].Action != "retraitement" {
		t.Errorf("history %+v", got.History)
	}
	g := newFixture(t, func(o *Options) { o.Reprocessor = nil })
	m2 := seedDossier(t, g.bucket, dossierSpec{Seq: 2})
	if resp, _ := g.login("agent1").apiAct(t, m2.Number, "reprocess", httpETag(g.etag(t, m2.Number)), nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("no reprocessor: %s, want 422", resp.Status)
	}
}
