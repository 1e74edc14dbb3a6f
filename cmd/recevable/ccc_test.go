package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"recevable/storage"
)

// cccMessage is an email of the CCC signed with the world's pinned key.
func (w *cliWorld) cccMessage(body string) string {
	w.t.Helper()
	raw := "From: Centre de contact citoyens <ne-pas-repondre@ccc.ants.gouv.fr>\r\n" +
		"To: elodie@example.org\r\nSubject: Votre appel\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(raw), &dkim.SignOptions{Domain: "ccc.ants.gouv.fr", Selector: "s2026", Signer: w.cccKey}); err != nil {
		w.t.Fatal(err)
	}
	return signed.String()
}

// forwarded is a multipart body carrying msg as a message/rfc822 part.
func forwarded(text, msg string) string {
	return "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"ccc.eml\"\r\n\r\n" + msg + "\r\n" +
		"--b1--\r\n"
}

func TestCCCCommands(t *testing.T) {
	w := newCLIWorld(t)
	if out := mustCLI(t, "ccc", "status", "--config", w.cfg); !strings.Contains(out, "No ticket was ever imported") {
		t.Errorf("ccc status before import:\n%s", out)
	}
	ticketMail := w.eml("t1", "Dossier", "Content-Type: text/plain; charset=utf-8\r\n\r\nLe CCC m'a donné le ticket n° CCC-2026-004711.\r\n")
	if rep := w.checkJSON(ticketMail); rep.Decision.Outcome != storage.OutcomeAVerifier || !hasCode(rep.Decision, "ccc_ticket_unverified") {
		t.Errorf("ticket without a registry: %+v", rep.Decision)
	}

	bad := filepath.Join(w.dir, "bad.csv")
	os.WriteFile(bad, []byte("ticket;date\nCCC-2026-004711;2026-03-02\n???;2026-03-03\n"), 0o600)
	if code, _, errOut := runCLI(t, "ccc", "import", bad, "--config", w.cfg); code != 1 || !strings.Contains(errOut, "line 3") {
		t.Errorf("import of a bad file: status %d, %s", code, errOut)
	}
	good := filepath.Join(w.dir, "tickets.csv")
	os.WriteFile(good, []byte("ticket;date;département\nCCC-2026-004711;02/03/2026;75\nCCC-2026-004712;;\n"), 0o600)
	if out := mustCLI(t, "ccc", "import", good, "--config", w.cfg); !strings.Contains(out, "2 ticket(s) imported: 2 new") {
		t.Errorf("ccc import:\n%s", out)
	}
	if out := mustCLI(t, "ccc", "status", "--config", w.cfg); !strings.Contains(out, "2 row(s)") {
		t.Errorf("ccc status:\n%s", out)
	}
	if rep := w.checkJSON(ticketMail); rep.Decision.Outcome != storage.OutcomeRecevable || !hasCode(rep.Decision, "ccc_ticket_registered") {
		t.Errorf("ticket in the registry: %+v", rep.Decision)
	}

	// A CCC email forwarded as an attachment, DKIM verified with the pinned
	// key; the same altered is a_verifier.
	msg := w.cccMessage("Nous constatons l'impossibilité technique de déposer votre demande en ligne.\r\n")
	fwd := w.eml("f1", "Attestation", forwarded("Voici l'attestation du CCC.", msg))
	if rep := w.checkJSON(fwd); rep.Decision.Outcome != storage.OutcomeRecevable || !hasCode(rep.Decision, "ccc_email_verified") {
		t.Errorf("forwarded CCC email: %+v\n%v", rep.Decision, rep.Searched)
	}
	altered := w.eml("f2", "Attestation", forwarded("Voici l'attestation du CCC.", strings.Replace(msg, "technique", "absolue", 1)))
	if rep := w.checkJSON(altered); rep.Decision.Outcome != storage.OutcomeAVerifier || !hasCode(rep.Decision, "ccc_email_dkim_failed") {
		t.Errorf("altered CCC email: %+v", rep.Decision)
	}
}

func hasCode(d storage.Decision, code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
