package web

import (
	"context"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"recevable/storage"
)

// updateScreenshots writes the screenshots of docs/ (the queue and dossier
// pages) from the browser test. Off by default, so that CI never dirties
// the tree: go test ./web/ -run TestBrowser -update-screenshots
var updateScreenshots = flag.Bool("update-screenshots", false, "write docs/*.png from the browser test")

// chromiumPath is Debian's Chromium, installed by .ci/run in CI.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium for the test, or skips (fails in
// CI) when there is none.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("RECEVABLE_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s: in CI the browser tests must run (.ci/run installs it)", path)
		}
		t.Skipf("chromium not found at %s: browser tests skipped (they run in CI)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "fr-FR"),
		// The fixture serves TLS with httptest's own certificate.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1440, 1000),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser, no timeout on its life
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// newSession opens a tab in a browser context of its own: its own cookies,
// as a second agent on another computer would have.
func newSession(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Alerts and confirms are recorded, never shown: an injected script
	// that calls alert() leaves window.__alerts > 0.
	script := `window.__alerts = 0; window.alert = function(){ window.__alerts++; }; window.confirm = function(){ return true; };`
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// step bounds one browser step: a hung page fails the test rather than the
// whole run.
func step(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// textContent is an element's text as written, before CSS transforms it.
func textContent(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text content of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// submit clicks a submit button and waits for the page it leads to.
func submit(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("submit %s: %v", sel, err)
	}
	return resp.Status
}

// browserLogin logs in through the login form, starting from path.
func browserLogin(t *testing.T, ctx context.Context, base, path, login string) {
	t.Helper()
	step(t, ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), testPassword))
	if status := submit(t, ctx, `form[action="/connexion"] button[type=submit]`); status != http.StatusOK {
		t.Fatalf("login %s: status %d", login, status)
	}
}

// screenshot writes a PNG of the page to docs/ with -update-screenshots.
func screenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	action := chromedp.CaptureScreenshot()
	if full {
		action = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(sctx, action)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// disguisedHTML is an HTML file named and declared as a PDF. If any of it
// ran or loaded, the server would see a request under /pwned.
const disguisedHTML = `<!doctype html><html><head><link rel="stylesheet" href="/pwned-css"></head><body>
<h1>Facture</h1><img src="/pwned-img" alt="">
<script>var x = new XMLHttpRequest(); x.open("GET", "/pwned-script", false); x.send(); parent.document.title = "pwned";</script>
</body></html>`

// browserFixture is the fixture of the browser tests, with a realistic
// queue, a dossier to hand over, a hostile one, and a trap for requests
// that must never happen.
type browserFixture struct {
	*fixture
	pwned   atomic.Int64
	handOff *storage.Manifest
	race    *storage.Manifest
	hostile *storage.Manifest
}

func newBrowserFixture(t *testing.T) *browserFixture {
	f := &browserFixture{fixture: newFixture(t)}
	inner := f.ts.Config.Handler
	f.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/pwned"):
			f.pwned.Add(1)
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/control/disguised":
			// The control: the same bytes without the server's headers.
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(disguisedHTML))
		default:
			inner.ServeHTTP(w, r)
		}
	})
	seedRealistic(t, f.bucket, 140, fixtureClock)
	f.handOff = seedDossier(t, f.bucket, dossierSpec{Seq: 900, Received: fixtureClock.Add(-400 * time.Hour),
		Sender:  &storage.Party{Name: "Awa Diallo", Email: "awa.diallo@example.org"},
		Subject: "Demande de titre de séjour — invitation " + fixtureReference(900), Evidence: invitationEvidence(fixtureReference(900)),
		Docs: []testDoc{{Name: "passeport.pdf", Type: "application/pdf", Data: testPDF(t)},
			{Name: "lettre-invitation.pdf", Type: "application/pdf", Data: testPDF(t)}}})
	f.race = seedDossier(t, f.bucket, dossierSpec{Seq: 901, Received: fixtureClock.Add(-390 * time.Hour),
		Sender: &storage.Party{Name: "Mohamed Benali"}, Evidence: invitationEvidence(fixtureReference(901))})
	f.hostile = seedDossier(t, f.bucket, dossierSpec{Seq: 902, Status: storage.StatusAVerifier, Received: fixtureClock.Add(-380 * time.Hour),
		Subject: `<img src=x onerror=alert(1)>`, Sender: &storage.Party{Name: `<script>alert(2)</script>`, Email: `"><svg onload=alert(3)>@example.org`},
		Docs: []testDoc{{Name: `facture.pdf`, Type: "text/html", Data: []byte(disguisedHTML), Problems: []string{"type_mismatch: le contenu (text/html) ne correspond pas au type annoncé (application/pdf)"}},
			{Name: `<img src=x onerror=alert(4)>.pdf`, Type: "application/pdf", Data: testPDF(t)}}})
	return f
}

// TestBrowser drives the interface in a real headless Chromium: an agent's
// review of a dossier up to its hand-over to instruction, two agents acting
// at once, hostile strings, and the mailroom's limits.
func TestBrowser(t *testing.T) {
	browser := newBrowser(t)
	f := newBrowserFixture(t)
	base := f.ts.URL

	t.Run("review and hand over", func(t *testing.T) {
		ctx := newSession(t, browser)
		browserLogin(t, ctx, base, "/dossiers", "agent1")
		if loc := eval[string](t, ctx, "location.pathname"); loc != "/dossiers" {
			t.Fatalf("after login: at %s, want back at /dossiers", loc)
		}
		tiles := text(t, ctx, ".tiles")
		for _, want := range []string{"Recevable", "À vérifier", "Irrecevable proposé", "En instruction", "Pièces manquantes", "Clos"} {
			if !strings.Contains(tiles, want) {
				t.Errorf("queue counters %q lack %q", tiles, want)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("tbody tr").length`); n != pageSize {
			t.Errorf("queue shows %d rows, want a full page of %d", n, pageSize)
		}
		screenshot(t, ctx, "screenshot-file-attente.png", true)

		// Open the dossier from the queue: it is the oldest "recevable"
		// one, so it is on the first page.
		link := `a[href="/dossiers/` + f.handOff.Number + `"]`
		if status := submit(t, ctx, link); status != http.StatusOK {
			t.Fatalf("open dossier: status %d", status)
		}
		step(t, ctx, chromedp.WaitVisible(chromedp.CSS("#apercu-document")))
		// The preview frame holds the PDF as a PDF (the viewer), not a
		// download and not text.
		tree, err := chromedp.Call(ctx, cdppage.GetFrameTree, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		var preview *cdp.Frame
		for _, c := range tree.FrameTree.ChildFrames {
			if strings.Contains(c.Frame.URL, "/documents/") {
				preview = c.Frame
			}
		}
		if preview == nil || preview.MimeType != "application/pdf" {
			t.Fatalf("preview frame %+v, want the document shown as application/pdf", preview)
		}
		if *updateScreenshots {
			// Only for the picture: a viewport as tall as the page (the PDF
			// viewer, a frame of its own, is painted only in the viewport)
			// and time for the viewer to paint, which nothing observable
			// announces.
			h := eval[int64](t, ctx, "document.documentElement.scrollHeight")
			step(t, ctx, chromedp.EmulateViewport(1440, h), chromedp.Sleep(3*time.Second))
			screenshot(t, ctx, "screenshot-dossier.png", false)
			step(t, ctx, chromedp.EmulateViewport(1440, 1000))
		}

		step(t, ctx, chromedp.SendKeys(chromedp.CSS("#anef-input"), "7501-2026-0004521"))
		if status := submit(t, ctx, "#action-hand-over button"); status != http.StatusOK {
			t.Fatalf("hand over: status %d", status)
		}
		if got := text(t, ctx, "#message"); !strings.Contains(got, "transmis à l'instruction") {
			t.Errorf("after hand-over the page says %q", got)
		}
		if got := textContent(t, ctx, "#statut"); got != "En instruction" {
			t.Errorf("status badge %q, want En instruction", got)
		}
		if got := text(t, ctx, "#anef"); got != "7501-2026-0004521" {
			t.Errorf("ANEF number shown %q", got)
		}
		hist := text(t, ctx, "#historique")
		if !strings.Contains(hist, "Transmis à l'instruction") || !strings.Contains(hist, "agent1") || !strings.Contains(hist, "n° ANEF 7501-2026-0004521") {
			t.Errorf("history %q lacks the hand-over by agent1 with the ANEF number", hist)
		}
		m, _, err := f.srv.dossiers.Get(context.Background(), f.handOff.Number)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != storage.StatusEnInstruction || m.ANEF != "7501-2026-0004521" {
			t.Errorf("stored manifest: status %s, ANEF %q", m.Status, m.ANEF)
		}
	})

	t.Run("two agents at once", func(t *testing.T) {
		a := newSession(t, browser)
		b := newSession(t, browser)
		path := "/dossiers/" + f.race.Number
		browserLogin(t, a, base, path, "agent1")
		browserLogin(t, b, base, path, "agent2")
		// Both have the dossier open. The first acts.
		step(t, a, chromedp.SendKeys(chromedp.CSS("#anef-input"), "7501-2026-0009999"))
		if status := submit(t, a, "#action-hand-over button"); status != http.StatusOK {
			t.Fatalf("first agent: status %d", status)
		}
		// The second, on the page loaded before, acts too.
		step(t, b, chromedp.SendKeys(chromedp.CSS("#pieces"), "Justificatif de domicile de moins de 3 mois"))
		if status := submit(t, b, "#action-request-pieces button"); status != http.StatusConflict {
			t.Errorf("second agent: status %d, want 409", status)
		}
		msg := text(t, b, "#conflit")
		for _, want := range []string{"modifié par quelqu'un d'autre", "Demander des pièces", "n'a pas été appliquée", "Transmis à l'instruction", "agent1"} {
			if !strings.Contains(msg, want) {
				t.Errorf("conflict message %q lacks %q", msg, want)
			}
		}
		if got := textContent(t, b, "#statut"); got != "En instruction" {
			t.Errorf("after the conflict the page shows status %q, want the current En instruction", got)
		}
		m, _, err := f.srv.dossiers.Get(context.Background(), f.race.Number)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != storage.StatusEnInstruction || m.Missing != nil || m.ANEF != "7501-2026-0009999" {
			t.Errorf("stored manifest: status %s, missing %v, ANEF %q: the second action must not have landed", m.Status, m.Missing, m.ANEF)
		}
	})

	t.Run("hostile strings stay inert", func(t *testing.T) {
		ctx := newSession(t, browser)
		browserLogin(t, ctx, base, "/dossiers/"+f.hostile.Number, "agent1")
		if got := text(t, ctx, "#objet"); got != `<img src=x onerror=alert(1)>` {
			t.Errorf("subject shown as %q, want the literal text", got)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("#objet *, .facts img, .facts svg, .facts script").length`); n != 0 {
			t.Errorf("%d elements were created from outside strings", n)
		}
		// The disguised HTML "PDF" is shown in its sandbox.
		doc := f.hostile.Documents[0].SafeName
		step(t, ctx, chromedp.Navigate(base+"/dossiers/"+f.hostile.Number+"?doc="+doc), chromedp.WaitVisible(chromedp.CSS("#apercu-document")))
		if n := eval[int](t, ctx, "window.__alerts"); n != 0 {
			t.Errorf("%d alert() calls ran", n)
		}
		if title := eval[string](t, ctx, "document.title"); title == "pwned" {
			t.Error("the disguised document reached into the page")
		}
		if n := f.pwned.Load(); n != 0 {
			t.Errorf("the disguised document made %d requests", n)
		}
		// Control: the same bytes without the document headers do run and
		// call home, so the assertion above can fail.
		step(t, ctx, chromedp.Navigate(base+"/control/disguised"))
		if f.pwned.Load() == 0 {
			t.Error("control: the disguised document made no request even unprotected; the check above proves nothing")
		}
	})

	t.Run("mailroom uploads a letter", func(t *testing.T) {
		ctx := newSession(t, browser)
		step(t, ctx, chromedp.Navigate(base+"/connexion"), chromedp.WaitVisible(chromedp.CSS("#login")))
		screenshot(t, ctx, "screenshot-connexion.png", false)
		browserLogin(t, ctx, base, "/courrier", "courrier1")
		scan := filepath.Join(t.TempDir(), "lettre-scannee.pdf")
		if err := os.WriteFile(scan, testPDF(t), 0o600); err != nil {
			t.Fatal(err)
		}
		today := time.Now().In(f.srv.sites[0].Location)
		step(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#fichiers"), []string{scan}),
			chromedp.SetValue(chromedp.CSS("#cachet"), today.AddDate(0, 0, -2).Format("2006-01-02")),
			chromedp.SendKeys(chromedp.CSS("#recommande"), "1A 234 567 8901 2"),
			chromedp.SendKeys(chromedp.CSS("#expediteur_nom"), "Oksana Kovalenko"))
		if status := submit(t, ctx, `form[action="/courrier"] button[type=submit]`); status != http.StatusOK {
			t.Fatalf("upload: status %d", status)
		}
		number := textContent(t, ctx, "#recu strong")
		m, _, err := f.srv.dossiers.Get(context.Background(), number)
		if err != nil {
			t.Fatalf("receipt shows %q: %v", number, err)
		}
		if m.Channel != storage.ChannelPostal || m.Postal.Registered != "1A 234 567 8901 2" || m.Sender.Name != "Oksana Kovalenko" ||
			m.Postal.Postmark == nil || !m.Postal.Postmark.Equal(civilDay(today.AddDate(0, 0, -2), today.Location())) {
			t.Errorf("registered letter: %+v %+v %+v", m.Channel, m.Postal, m.Sender)
		}
		screenshot(t, ctx, "screenshot-courrier.png", false)
	})

	t.Run("supervisor pages", func(t *testing.T) {
		ctx := newSession(t, browser)
		browserLogin(t, ctx, base, "/invitations/nouvelle", "sup1")
		step(t, ctx, chromedp.SendKeys(chromedp.CSS("#nom"), "Mariam Keïta"),
			chromedp.SendKeys(chromedp.CSS("#courriel"), "mariam.keita@example.org"),
			chromedp.SendKeys(chromedp.CSS("#adresse"), "8 rue de la Roquette\n75011 Paris"))
		if status := submit(t, ctx, `form[action="/invitations"] button[type=submit]`); status != http.StatusOK {
			t.Fatalf("issue: status %d", status)
		}
		ref := textContent(t, ctx, "h1 .mono")
		if !strings.HasPrefix(ref, "INV-PP-") {
			t.Fatalf("invitation page shows %q", ref)
		}
		screenshot(t, ctx, "screenshot-invitation.png", false)
		step(t, ctx, chromedp.Navigate(base+"/journal"), chromedp.WaitVisible(chromedp.CSS("table")))
		if got := text(t, ctx, "table"); !strings.Contains(got, "Émission d'une invitation") || !strings.Contains(got, "agent1") {
			t.Errorf("audit page lacks today's events")
		}
		screenshot(t, ctx, "screenshot-journal.png", false)
	})

	t.Run("mailroom cannot open a dossier", func(t *testing.T) {
		ctx := newSession(t, browser)
		browserLogin(t, ctx, base, "/", "courrier1")
		if loc := eval[string](t, ctx, "location.pathname"); loc != "/courrier" {
			t.Errorf("mailroom home is %s, want /courrier", loc)
		}
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/dossiers/"+f.handOff.Number))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusForbidden {
			t.Errorf("courrier opening a dossier: status %d, want 403", resp.Status)
		}
		if got := text(t, ctx, "main"); !strings.Contains(got, "Accès refusé") || strings.Contains(got, "Awa Diallo") {
			t.Errorf("courrier sees %q", got)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('nav a[href="/dossiers"]').length`); n != 0 {
			t.Error("the mailroom menu offers the queue")
		}
	})
}
