package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

// testPassword is every test account's password.
const testPassword = "mot de passe de test 2026"

// testAccounts are the accounts of the fixture: one per role on site pp,
// a second agent, and an agent of the other site.
var testAccounts = []Account{
	{ID: "agent1", Name: "Camille Agent", Roles: []Role{RoleAgent}, Sites: []string{"pp"}},
	{ID: "agent2", Name: "Dominique Agent", Roles: []Role{RoleAgent}, Sites: []string{"pp"}},
	{ID: "courrier1", Name: "Claude Courrier", Roles: []Role{RoleCourrier}, Sites: []string{"pp"}},
	{ID: "sup1", Name: "Sacha Superviseur", Roles: []Role{RoleSuperviseur}, Sites: []string{AllSites}},
	{ID: "exp1", Name: "Eden Exploitant", Roles: []Role{RoleExploitant}, Sites: []string{AllSites}},
	{ID: "rhone1", Name: "Rhône Agent", Roles: []Role{RoleAgent}, Sites: []string{"rhone"}},
}

// roleAccount is the fixture account holding only role r.
var roleAccount = map[Role]string{RoleAgent: "agent1", RoleCourrier: "courrier1", RoleSuperviseur: "sup1", RoleExploitant: "exp1"}

// fixture is a server on a real filesystem bucket, served over TLS on
// loopback.
type fixture struct {
	t       *testing.T
	bucket  *storage.FS
	srv     *Server
	ts      *httptest.Server
	now     time.Time
	mailbox *testMailroom
	repro   *testReprocessor
	key     validate.SigningKey
}

// fixtureClock is the start of the test run, truncated to the minute:
// seeded dossiers are received hours before it.
var fixtureClock = time.Now().UTC().Truncate(time.Minute)

func testSites(t testing.TB, key *validate.SigningKey) []Site {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	letter := validate.LetterSite{Name: "Préfecture de police", Letterhead: []string{"PRÉFECTURE DE POLICE", "Direction de l'immigration"},
		City: "Paris", PostalAddress: []string{"Préfecture de police", "Bureau des étrangers", "1 bis rue de Lutèce", "75004 Paris"},
		Email: "titres-sejour@pp.invalid", Phone: "01 00 00 00 00"}
	return []Site{
		{ID: "pp", Name: "Préfecture de police", Departments: []string{"75"}, Location: paris, Letter: letter, SigningKey: key, InvitationValidDays: 90},
		{ID: "rhone", Name: "Préfecture du Rhône", Departments: []string{"69"}, Location: paris, InvitationValidDays: 90},
	}
}

type fixtureOption func(*Options)

// newFixture starts a server with the test accounts. The clock is real:
// sessions and audit days follow it.
func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, err := validate.GenerateKey("pp", fixtureClock, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, bucket: b, now: time.Now(), key: key}
	f.mailbox = &testMailroom{bucket: b}
	f.repro = &testReprocessor{}
	accounts := Accounts{Bucket: b}
	for _, a := range testAccounts {
		if _, err := accounts.Create(context.Background(), a, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	f.ts = httptest.NewUnstartedServer(nil)
	f.ts.StartTLS()
	o := Options{
		Bucket: b, Sites: testSites(t, &f.key), Logger: zerolog.New(io.Discard),
		BaseURL: f.ts.URL, LocalAccounts: true, Mailroom: f.mailbox, Reprocessor: f.repro,
		RefreshInterval: time.Hour,
	}
	if testing.Verbose() && os.Getenv("RECEVABLE_TEST_LOG") != "" {
		o.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ts.Config.Handler = srv
	t.Cleanup(f.ts.Close)
	return f
}

// client is a logged-in API/page client.
type client struct {
	*http.Client
	base string
	csrf string
}

// login opens a session for account id through the JSON API.
func (f *fixture) login(id string) *client {
	f.t.Helper()
	c := f.anonymous()
	body, _ := json.Marshal(apiLoginRequest{Login: id, Password: testPassword})
	resp, err := c.Post(f.ts.URL+"/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		f.t.Fatalf("login %s: %s %s", id, resp.Status, b)
	}
	var me apiMeResponse
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		f.t.Fatal(err)
	}
	c.csrf = me.CSRFToken
	return c
}

// anonymous is a client with a cookie jar and no session; it does not
// follow redirects, so tests see them.
func (f *fixture) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	hc := f.ts.Client()
	return &client{Client: &http.Client{Transport: hc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, base: f.ts.URL}
}

// do sends a request; state-changing API requests carry the CSRF header
// unless the caller set one.
func (c *client) do(t testing.TB, method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if method != http.MethodGet && strings.HasPrefix(path, "/api/") && c.csrf != "" && req.Header.Get(csrfHeader) == "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func (c *client) get(t testing.TB, path string) (*http.Response, []byte) {
	return c.do(t, http.MethodGet, path, nil, nil)
}

// postForm posts a page form with the session's CSRF token in the form.
func (c *client) postForm(t testing.TB, path string, v url.Values) (*http.Response, []byte) {
	if v == nil {
		v = url.Values{}
	}
	if c.csrf != "" && !v.Has(csrfField) {
		v.Set(csrfField, c.csrf)
	}
	return c.do(t, http.MethodPost, path, strings.NewReader(v.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

// dossierSpec describes a dossier to seed.
type dossierSpec struct {
	Site     string
	Seq      int
	Status   storage.Status
	Channel  storage.Channel
	Subject  string
	Sender   *storage.Party
	Received time.Time
	Postmark *time.Time
	Evidence []storage.Evidence
	Docs     []testDoc
	Assigned string
}

// testDoc is a document to store.
type testDoc struct {
	Name, Type string
	Data       []byte
	Problems   []string
}

// seedDossier writes a dossier the way the pipeline does: raw original,
// documents, queue marker, manifest.
func seedDossier(t testing.TB, b storage.Bucket, d dossierSpec) *storage.Manifest {
	t.Helper()
	ctx := context.Background()
	if d.Site == "" {
		d.Site = "pp"
	}
	if d.Status == "" {
		d.Status = storage.StatusRecevable
	}
	if d.Channel == "" {
		d.Channel = storage.ChannelEmail
	}
	if d.Received.IsZero() {
		d.Received = fixtureClock.Add(-time.Duration(d.Seq) * time.Hour)
	}
	number := storage.FormatNumber(d.Site, d.Received.Year(), d.Seq)
	raw := []byte(fmt.Sprintf("From: demandeur@example.org\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\nDossier %s\r\n", d.Subject, number, number))
	meta, err := storage.Raws{Bucket: b}.Store(ctx, storage.RawMeta{Source: "test", ReceivedAt: d.Received},
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	dossiers := storage.Dossiers{Bucket: b}
	m := &storage.Manifest{Number: number, Site: d.Site, Channel: d.Channel, ReceivedAt: d.Received, Raw: meta.SHA256,
		Subject: d.Subject, Sender: d.Sender, Evidence: d.Evidence, Status: d.Status, AssignedTo: d.Assigned,
		Decision: storage.Decision{Outcome: storage.OutcomeRecevable, Rule: "arrêté 2023-08-01 art. 4", At: d.Received,
			Reasons: []storage.Reason{{Code: "invitation_valid", Text: "Invitation de la préfecture vérifiée (signature et registre)."}}},
		History: []storage.HistoryEntry{{At: d.Received, Actor: "recevable", Action: "created"}}}
	if d.Channel == storage.ChannelPostal {
		m.Postal = &storage.Postal{Postmark: d.Postmark, Received: &d.Received, Source: "form"}
	}
	for i, doc := range d.Docs {
		sum := sha256.Sum256(doc.Data)
		sd := storage.Document{Name: doc.Name, SafeName: fmt.Sprintf("%02d-%s", i+1, doc.Name), Type: doc.Type,
			Size: int64(len(doc.Data)), SHA256: hex.EncodeToString(sum[:]), Role: "attachment", Problems: doc.Problems}
		if err := dossiers.PutDocument(ctx, number, sd, bytes.NewReader(doc.Data)); err != nil {
			t.Fatal(err)
		}
		m.Documents = append(m.Documents, sd)
	}
	if _, err := dossiers.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	pdfOnce  sync.Once
	pdfBytes []byte
)

// testPDF is a real one-page PDF with French text.
func testPDF(t testing.TB) []byte {
	pdfOnce.Do(func() {
		p := fpdf.New("P", "mm", "A4", "")
		p.SetCreationDate(fixtureClock)
		p.AddPage()
		p.SetFont("Helvetica", "B", 18)
		tr := p.UnicodeTranslatorFromDescriptor("")
		p.Cell(0, 12, tr("Titre de séjour — pièce d'identité"))
		p.Ln(14)
		p.SetFont("Helvetica", "", 12)
		p.MultiCell(0, 6, tr("Document de test de recevable : copie du passeport du demandeur."), "", "L", false)
		var buf bytes.Buffer
		if err := p.Output(&buf); err != nil {
			panic(err)
		}
		pdfBytes = buf.Bytes()
	})
	return pdfBytes
}

// invitationEvidence is verified invitation evidence with its checks.
func invitationEvidence(ref string) []storage.Evidence {
	return []storage.Evidence{{Kind: storage.EvidenceInvitation, Where: "document:1 (invitation.pdf) page 1 qr", Value: ref, Verdict: "valid",
		Checks: []storage.Check{
			{Name: "signature", OK: true, Detail: "Signature Ed25519 valide (clé PP-20260101-AB12)."},
			{Name: "registry", OK: true, Detail: "Invitation inscrite au registre le 02/02/2026."},
			{Name: "not_revoked", OK: true},
			{Name: "not_expired", OK: true, Detail: "Valable jusqu'au 03/05/2026 ; courriel reçu le 10/03/2026."},
			{Name: "site", OK: true},
		}}}
}

// testMailroom is a MailroomIntake that registers the letter at once in the
// real bucket, as the postal channel would: raw, number, documents,
// dossier.
type testMailroom struct {
	bucket  storage.Bucket
	mu      sync.Mutex
	seq     int
	numbers map[string]string
	last    MailroomSubmission
}

func (m *testMailroom) Submit(ctx context.Context, sub MailroomSubmission) (MailroomReceipt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all bytes.Buffer
	var docs []storage.Document
	var datas [][]byte
	for i, f := range sub.Files {
		rc, err := f.Open()
		if err != nil {
			return MailroomReceipt{}, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return MailroomReceipt{}, err
		}
		all.Write(data)
		sum := sha256.Sum256(data)
		docs = append(docs, storage.Document{Name: f.Name, SafeName: fmt.Sprintf("%02d-scan", i+1), Type: f.Type, Size: int64(len(data)),
			SHA256: hex.EncodeToString(sum[:]), Role: "scan"})
		datas = append(datas, data)
	}
	meta, err := storage.Raws{Bucket: m.bucket}.Store(ctx, storage.RawMeta{Source: "upload:" + sub.UploadedBy, ReceivedAt: *sub.Postal.Received},
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(all.Bytes())), nil })
	if err != nil {
		return MailroomReceipt{}, err
	}
	// Numbers from 900000 up: the seeded dossiers take theirs without the
	// counter, and must not collide. The same bytes get the same number.
	if m.numbers == nil {
		m.numbers = map[string]string{}
	}
	number, ok := m.numbers[meta.SHA256]
	if !ok {
		m.seq++
		number = storage.FormatNumber(sub.Site, sub.Postal.Received.Year(), 900000+m.seq)
		m.numbers[meta.SHA256] = number
	}
	d := storage.Dossiers{Bucket: m.bucket}
	for i, doc := range docs {
		if err := d.PutDocument(ctx, number, doc, bytes.NewReader(datas[i])); err != nil {
			return MailroomReceipt{}, err
		}
	}
	postal := sub.Postal
	sender := sub.Sender
	man := &storage.Manifest{Number: number, Site: sub.Site, Channel: storage.ChannelPostal, ReceivedAt: *sub.Postal.Received,
		Postal: &postal, Raw: meta.SHA256, Sender: &sender, Documents: docs, Status: storage.StatusIrrecevablePropose,
		Decision: storage.Decision{Outcome: storage.OutcomeIrrecevablePropose, Rule: "arrêté 2023-08-01 art. 4",
			Reasons: []storage.Reason{{Code: "no_evidence", Text: "Aucun justificatif trouvé."}}},
		History: []storage.HistoryEntry{{At: time.Now(), Actor: "recevable", Action: "created"}}}
	// The same bytes again are the same letter: the dossier exists already.
	if _, err := d.Create(ctx, man); err != nil && !errors.Is(err, storage.ErrExists) {
		return MailroomReceipt{}, err
	}
	m.last = sub
	return MailroomReceipt{Raw: meta.SHA256, Number: number}, nil
}

// testReprocessor records what it was asked to reprocess.
type testReprocessor struct {
	mu   sync.Mutex
	shas []string
}

func (r *testReprocessor) Reprocess(_ context.Context, sha string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shas = append(r.shas, sha)
	return nil
}

func (r *testReprocessor) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.shas...)
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withClock runs the server on c.
func withClock(c *testClock) fixtureOption { return func(o *Options) { o.Now = c.Now } }
