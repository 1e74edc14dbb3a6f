package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// cliWorld is a configuration on disk for the art. 4 commands: sites 75
// and 93 with keys made by `recevable keys generate`, a filesystem bucket,
// a CCC domain with a pinned Ed25519 DKIM key.
type cliWorld struct {
	t      *testing.T
	dir    string
	cfg    string
	keys   map[string]cliKey
	cccKey ed25519.PrivateKey
}

type cliKey struct{ id, pub, file string }

// runCLI runs recevable in-process and returns its status and outputs.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustCLI runs recevable and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("recevable %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

var (
	reKeyLine = regexp.MustCompile(`Key (\S+) of site (\S+) written to (\S+) \(mode 0600`)
	rePubLine = regexp.MustCompile(`public_key: (\S+)`)
	reRefLine = regexp.MustCompile(`Invitation (INV-\S+) issued`)
)

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	w := &cliWorld{t: t, dir: t.TempDir(), keys: map[string]cliKey{}}
	for _, site := range []string{"75", "93"} {
		out := mustCLI(t, "keys", "generate", "--site", site, "--dir", w.dir)
		m, p := reKeyLine.FindStringSubmatch(out), rePubLine.FindStringSubmatch(out)
		if m == nil || p == nil || m[2] != site {
			t.Fatalf("keys generate output:\n%s", out)
		}
		w.keys[site] = cliKey{id: m[1], pub: p[1], file: m[3]}
	}
	_, priv, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	w.cccKey = priv
	k75, k93 := w.keys["75"], w.keys["93"]
	yaml := `log: {format: json, level: error}
storage:
  backend: fs
  fs: {dir: ` + filepath.Join(w.dir, "bucket") + `}
sites:
  - id: "75"
    name: Préfecture de police
    departments: ["75"]
    postal_address: ["Préfecture de police – DPG", "9, boulevard du Palais", "75195 Paris Cedex 04"]
    email: depot-sejour@pp.example
    phone: "01 53 71 53 71"
    signing_key_file: ` + k75.file + `
    trusted_keys:
      - {id: ` + k75.id + `, public_key: "` + k75.pub + `"}
      - {id: ` + k93.id + `, site: "93", public_key: "` + k93.pub + `"}
  - id: "93"
    name: Préfecture de la Seine-Saint-Denis
    departments: ["93"]
    postal_address: ["Préfecture de la Seine-Saint-Denis", "1, esplanade Jean-Moulin", "93007 Bobigny Cedex"]
    email: depot-sejour@93.example
    phone: "01 41 60 60 60"
    signing_key_file: ` + k93.file + `
    trusted_keys:
      - {id: ` + k93.id + `, public_key: "` + k93.pub + `"}
ccc:
  domains:
    - domain: ccc.ants.gouv.fr
      selectors:
        - {selector: s2026, key_type: ed25519, public_key: "` + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)) + `"}
`
	w.cfg = filepath.Join(w.dir, "recevable.yaml")
	if err := os.WriteFile(w.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(w.cfg); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	return w
}

// issue issues an invitation of site 75 and returns its reference and
// letter.
func (w *cliWorld) issue(name string, extra ...string) (string, string) {
	w.t.Helper()
	letter := filepath.Join(w.dir, "lettre-"+strings.Fields(name)[0]+".pdf")
	args := append([]string{"invitation", "issue", "--config", w.cfg, "--site", "75", "--name", name, "--out", letter, "--by", "agent-1"}, extra...)
	out := mustCLI(w.t, args...)
	m := reRefLine.FindStringSubmatch(out)
	if m == nil {
		w.t.Fatalf("invitation issue output:\n%s", out)
	}
	return m[1], letter
}

// eml writes a message from Élodie N'Diaye with this subject and body.
func (w *cliWorld) eml(name, subject, body string) string {
	w.t.Helper()
	raw := "From: =?utf-8?q?=C3=89lodie_N'Diaye?= <elodie@example.org>\r\n" +
		"To: depot-sejour@pp.example\r\nSubject: " + subject + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + name + "@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" + body
	path := filepath.Join(w.dir, name+".eml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// checkJSON runs `recevable check --json` and decodes its report.
func (w *cliWorld) checkJSON(file string, extra ...string) checkReport {
	w.t.Helper()
	out := mustCLI(w.t, append([]string{"check", file, "--config", w.cfg, "--site", "75", "--json"}, extra...)...)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		w.t.Fatalf("check --json: %v\n%s", err, out)
	}
	return rep
}

func TestInvitationCommands(t *testing.T) {
	w := newCLIWorld(t)
	ref, letter := w.issue("Élodie N'Diaye", "--email", "elodie@example.org", "--address", "3, rue des Lilas", "--address", "75020 Paris")

	// The letter: 0600, and its QR code carries a token the site verifies.
	st, err := os.Stat(letter)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("letter %s: %v, mode %v", letter, err, st.Mode())
	}
	data, _ := os.ReadFile(letter)
	imgs, err := validate.ExtractPDFImages(context.Background(), bytes.NewReader(data), validate.Limits{})
	if err != nil || len(imgs) != 1 {
		t.Fatalf("letter images: %+v, %v", imgs, err)
	}
	payloads, err := validate.DecodeQR(context.Background(), imgs[0].Image)
	if err != nil || len(payloads) != 1 {
		t.Fatalf("letter QR: %q, %v", payloads, err)
	}
	c, err := LoadConfig(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := validateSites(c)
	if err != nil {
		t.Fatal(err)
	}
	if claims, err := validate.VerifyToken(payloads[0], sites[0].Keys); err != nil || claims.Reference.String() != ref {
		t.Errorf("letter token: %+v, %v; want reference %s", claims, err, ref)
	}

	// Printed again: the same bytes.
	again := filepath.Join(w.dir, "again.pdf")
	mustCLI(t, "invitation", "letter", ref, "--config", w.cfg, "--out", again)
	if b, _ := os.ReadFile(again); !bytes.Equal(b, data) {
		t.Error("the letter printed again differs from the first")
	}
	if code, _, errOut := runCLI(t, "invitation", "letter", ref, "--config", w.cfg, "--out", again); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("letter over an existing file: status %d, %s", code, errOut)
	}

	// Territorial competence at issue.
	code, _, errOut := runCLI(t, "invitation", "issue", "--config", w.cfg, "--site", "75", "--name", "X Y", "--department", "93")
	if code != 1 || !strings.Contains(errOut, "competent site is 93") {
		t.Errorf("issue for department 93 on site 75: status %d, %s", code, errOut)
	}

	show := mustCLI(t, "invitation", "show", ref, "--config", w.cfg)
	for _, want := range []string{ref, "valid", "Élodie N'Diaye", "elodie@example.org", "Department  75", "agent-1"} {
		if !strings.Contains(show, want) {
			t.Errorf("invitation show lacks %q:\n%s", want, show)
		}
	}
	list := mustCLI(t, "invitation", "list", "--config", w.cfg, "--site", "75")
	if !strings.Contains(list, ref) || !strings.Contains(list, "valid") {
		t.Errorf("invitation list:\n%s", list)
	}
	var views []invitationView
	if err := json.Unmarshal([]byte(mustCLI(t, "invitation", "list", "--config", w.cfg, "--site", "75", "--json")), &views); err != nil || len(views) != 1 || views[0].Token != "" {
		t.Errorf("invitation list --json: %+v, %v (tokens are left out)", views, err)
	}

	// check: the letter as a scan, then an email quoting the reference;
	// nothing is consumed.
	if rep := w.checkJSON(letter); rep.Decision.Outcome != storage.OutcomeRecevable || rep.Channel != storage.ChannelPostal {
		t.Errorf("check letter.pdf: %+v", rep.Decision)
	}
	mail := w.eml("m1", "Mon dossier "+ref, "Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici mon dossier.\r\n")
	if rep := w.checkJSON(mail); rep.Decision.Outcome != storage.OutcomeRecevable || rep.Channel != storage.ChannelEmail {
		t.Errorf("check mail: %+v", rep.Decision)
	}
	text := mustCLI(t, "check", mail, "--config", w.cfg, "--site", "75")
	for _, want := range []string{"Decision: recevable", "invitation " + ref + " — valid", "[ok  ] registry", "[ok  ] name: nom de l'invitation retrouvé : nom de l'expéditeur", "dry run"} {
		if !strings.Contains(text, want) {
			t.Errorf("check output lacks %q:\n%s", want, text)
		}
	}
	if show := mustCLI(t, "invitation", "show", ref, "--config", w.cfg); strings.Contains(show, "Presented in") {
		t.Errorf("check consumed the invitation:\n%s", show)
	}

	// Revoked today: an email of today is proposed inadmissible.
	if code, _, _ := runCLI(t, "invitation", "revoke", ref, "--config", w.cfg); code != 2 {
		t.Errorf("revoke without a reason: status %d, want 2", code)
	}
	mustCLI(t, "invitation", "revoke", strings.ToLower(ref), "--reason", "délivrée par erreur", "--config", w.cfg, "--by", "superviseur-1")
	if show := mustCLI(t, "invitation", "show", ref, "--config", w.cfg); !strings.Contains(show, "revoked") || !strings.Contains(show, "superviseur-1") {
		t.Errorf("show after revoke:\n%s", show)
	}
	if rep := w.checkJSON(mail); rep.Decision.Outcome != storage.OutcomeIrrecevablePropose {
		t.Errorf("check after revoke: %+v", rep.Decision)
	}

	// Every action is in the audit log, without names.
	b, err := storage.NewFS(filepath.Join(w.dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	err = (storage.Audit{Bucket: b}).Day(context.Background(), time.Now(), func(e storage.AuditEvent) error {
		actions[e.Action]++
		if strings.Contains(e.Detail, "Diaye") {
			t.Errorf("audit event with a name: %+v", e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"invitation.issue", "invitation.letter", "invitation.revoke", "invitation.read"} {
		if actions[a] == 0 {
			t.Errorf("no %s audit event (got %v)", a, actions)
		}
	}
}
