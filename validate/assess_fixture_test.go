package validate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"image/png"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/rs/zerolog"

	"recevable/storage"
)

// The world of the assessment tests: two prefectures sharing a bucket — the
// préfecture de police (site 75, Paris) and the préfecture of
// Seine-Saint-Denis (site 93) — with their signing keys, a third key nobody
// trusts, a CCC domain with a pinned DKIM key, and a fixed clock.

// testPhrases are the configuration's default impossibility phrases.
var testPhrases = []string{
	"impossibilité technique", "impossibilité de déposer", "impossible de déposer",
	"n'a pas pu déposer", "n'avez pas pu déposer", "dépôt en ligne impossible", "solution de substitution",
}

// testTicketPattern is the configuration's default ticket pattern.
var testTicketPattern = regexp.MustCompile(`(?i)\bticket\s*(?:n[°o]\.?\s*)?:?\s*([a-z0-9][a-z0-9-]{5,23})\b`)

const (
	cccDomain   = "ccc.ants.gouv.fr"
	cccSelector = "s2026"
)

type world struct {
	t        testing.TB
	bucket   storage.Bucket
	reg      *Registry
	keys     map[string]SigningKey
	sites    []SiteInfo
	paris    *time.Location
	now      time.Time
	cccKey   ed25519.PrivateKey
	tickets  *BucketTickets
	lookupTX func(string) ([]string, error)
}

func newWorld(t testing.TB) *world {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, bucket: b, reg: NewRegistry(b), paris: paris,
		now: time.Date(2026, 3, 10, 10, 0, 0, 0, paris),
		keys: map[string]SigningKey{
			"75":        testKey(t, "75", date(2026, 1, 5), 11),
			"93":        testKey(t, "93", date(2026, 1, 6), 12),
			"untrusted": testKey(t, "75", date(2026, 1, 7), 13),
		},
		tickets: NewBucketTickets(b),
	}
	trusted := []PublicKey{w.keys["75"].Public(), w.keys["93"].Public()}
	for _, s := range []struct{ id, name, dept string }{{"75", "Préfecture de police", "75"}, {"93", "Préfecture de la Seine-Saint-Denis", "93"}} {
		ks, err := NewKeySet(s.id, trusted...)
		if err != nil {
			t.Fatal(err)
		}
		w.sites = append(w.sites, SiteInfo{ID: s.id, Name: s.name, Departments: []string{s.dept}, Location: paris, Keys: ks})
	}
	_, priv, err := ed25519.GenerateKey(newTestRand(14))
	if err != nil {
		t.Fatal(err)
	}
	w.cccKey = priv
	pinned := map[string]string{
		cccSelector + "._domainkey." + cccDomain: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
	}
	w.lookupTX = func(name string) ([]string, error) {
		if rec, ok := pinned[strings.ToLower(name)]; ok {
			return []string{rec}, nil
		}
		return nil, errors.New("no pinned DKIM key for " + name)
	}
	return w
}

// options are the assessor options of the world; mod may change them.
func (w *world) options() AssessorOptions {
	return AssessorOptions{
		Bucket: w.bucket,
		Sites:  w.sites,
		CCC: CCCOptions{
			Domains: []string{cccDomain}, LookupTXT: w.lookupTX, Phrases: testPhrases,
			Ticket: testTicketPattern, Tickets: []TicketRegistry{w.tickets},
		},
		Now: func() time.Time { return w.now },
		Log: zerolog.Nop(),
	}
}

func (w *world) assessor(mod func(*AssessorOptions)) *EvidenceAssessor {
	w.t.Helper()
	o := w.options()
	if mod != nil {
		mod(&o)
	}
	a, err := NewAssessor(o)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// issue records an invitation of site for name, issued on day, valid
// through expires, signed with the site's key.
func (w *world) issue(site, name, dept string, day, expires time.Time) Invitation {
	w.t.Helper()
	inv, err := w.reg.Issue(context.Background(), IssueRequest{
		Site: site, Department: dept, Name: name, IssuedBy: "agent-1",
		Now: time.Date(day.Year(), day.Month(), day.Day(), 11, 0, 0, 0, w.paris), ExpiresOn: expires,
	}, w.keys[site])
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

// valid is a current invitation of site 75 for Élodie N'Diaye.
func (w *world) valid() Invitation {
	return w.issue("75", "Élodie N'Diaye", "75", date(2026, 3, 2), date(2026, 6, 1))
}

// letter is the letter of inv.
func (w *world) letter(inv Invitation) Letter {
	w.t.Helper()
	ref, err := ParseReference(inv.Reference)
	if err != nil {
		w.t.Fatal(err)
	}
	return Letter{
		Site: LetterSite{
			Name: "Préfecture de police", City: "Paris",
			PostalAddress: []string{"Préfecture de police – DPG", "9, boulevard du Palais", "75195 Paris Cedex 04"},
			Email:         "pp-depot-sejour@interieur.gouv.fr",
		},
		Date: inv.IssuedAt.In(w.paris), ApplicantName: inv.Name, Reference: ref,
		Token: inv.Token, Expires: inv.ExpiresOn,
	}
}

func (w *world) letterPDF(inv Invitation) []byte {
	w.t.Helper()
	var buf bytes.Buffer
	if err := RenderLetter(&buf, w.letter(inv)); err != nil {
		w.t.Fatal(err)
	}
	return buf.Bytes()
}

// sub is an email submission to site 75 from Élodie N'Diaye, received now.
func (w *world) sub(dossier string) *Submission {
	return &Submission{
		Site: "75", Channel: storage.ChannelEmail, ReceivedAt: w.now.UTC(),
		Subject: "Demande de titre de séjour",
		Sender:  storage.Party{Name: "Élodie N'DIAYE", Email: "elodie@example.org"},
		Texts:   []Text{{Where: "corps du message", Body: "Bonjour, veuillez trouver mon dossier ci-joint."}},
		Dossier: dossier,
	}
}

func opener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

func docOf(i int, name, typ string, data []byte) Doc {
	return Doc{Index: i, Name: name, SafeName: name, Type: typ, Size: int64(len(data)), Open: opener(data)}
}

// qrPNG is a photo-like PNG of a QR code carrying payload.
func qrPNG(t testing.TB, payload string) []byte {
	t.Helper()
	img, err := EncodeQR(payload)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// forge changes the expiry of a token and keeps its signature.
func forge(t testing.TB, token string) string {
	t.Helper()
	c, _, sig, err := splitToken(token)
	if err != nil {
		t.Fatal(err)
	}
	c.ExpiresOn = c.ExpiresOn.AddDate(1, 0, 0)
	packed, err := packClaims(c)
	if err != nil {
		t.Fatal(err)
	}
	return TokenPrefix + base45Encode(append(packed, sig...))
}

// cccEmail is an email of the CCC, DKIM-signed with the pinned key (or
// with selector sel when it is not the pinned one).
func (w *world) cccEmail(body, sel string) []byte {
	w.t.Helper()
	raw := "From: Centre de contact citoyens <ne-pas-repondre@" + cccDomain + ">\r\n" +
		"To: elodie@example.org\r\n" +
		"Subject: =?utf-8?q?Votre_demande_aupr=C3=A8s_du_CCC?=\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n" +
		"Message-ID: <ccc-1234@" + cccDomain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n")
	var signed bytes.Buffer
	err := dkim.Sign(&signed, strings.NewReader(raw), &dkim.SignOptions{
		Domain: cccDomain, Selector: sel, Signer: w.cccKey,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return signed.Bytes()
}

const cccBody = "Bonjour,\n\nSuite à votre appel du 2 mars 2026 (ticket n° CCC-2026-004711), nous constatons " +
	"l'impossibilité technique de déposer votre demande de titre de séjour sur l'ANEF.\n" +
	"Vous pouvez recourir à la solution de substitution auprès de votre préfecture.\n\n" +
	"Le centre de contact citoyens\n"

// importTickets imports a CSV into the world's ticket registry.
func (w *world) importTickets(csv string) {
	w.t.Helper()
	if _, err := w.tickets.Import(context.Background(), strings.NewReader(csv), "test", w.now); err != nil {
		w.t.Fatal(err)
	}
}

// reasonCodes lists the codes of a decision's reasons.
func reasonCodes(d storage.Decision) []string {
	out := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		out[i] = r.Code
	}
	return out
}
