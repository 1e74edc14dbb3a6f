package validate

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

// decisionCase is one submission and the decision it must get.
type decisionCase struct {
	name string
	// setup builds the submission in a fresh world; it may change the
	// assessor's options.
	setup func(t *testing.T, w *world) (*Submission, func(*AssessorOptions))
	want  storage.Outcome
	// code must be among the reasons.
	code string
}

func decisionCases() []decisionCase {
	subject := func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
		inv := w.valid()
		s := w.sub("75-2026-000001")
		s.Subject = "Dépôt de mon dossier – référence " + inv.Reference
		return s, nil
	}
	return []decisionCase{
		{"valid invitation in the subject", subject, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid invitation typed in the body, lower case with spaces", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			typed := strings.ToLower(strings.ReplaceAll(inv.Reference, "-", " "))
			s.Texts = []Text{{Where: "corps du message", Body: "Bonjour,\nMa référence est " + typed + ".\nCordialement"}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid invitation in an HTML body", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps HTML", HTML: true, Body: "<html><body><p>Référence&nbsp;: <b>" + inv.Reference + "</b></p></body></html>"}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid invitation in the PDF text layer of the letter", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "lettre-prefecture.pdf", "application/pdf", w.letterPDF(inv))}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid invitation only as a QR code on a scanned page (2°, noise, 300 dpi JPEG in a PDF)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			scan := scannedLetterPDF(t, w.letter(inv), 2, 18)
			postmark := date(2026, 3, 6)
			s := &Submission{
				Site: "75", Channel: storage.ChannelPostal, ReceivedAt: w.now.UTC(), Postmark: &postmark,
				Sender:    storage.Party{Name: "Élodie N'Diaye"},
				Documents: []Doc{docOf(0, "scan-0001.pdf", "application/pdf", scan)},
				Dossier:   "75-2026-000001",
			}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"forged signature (expiry changed in the QR code)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, forge(t, inv.Token)))}
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonForged},
		{"valid signature of an untrusted key", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			c := testClaims(t, "75")
			tok, err := SignToken(c, w.keys["untrusted"])
			if err != nil {
				t.Fatal(err)
			}
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, tok))}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonKeyUnknown},
		{"key no longer trusted, token in the registry", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, inv.Token))}
			return s, func(o *AssessorOptions) {
				ks, err := NewKeySet("75", w.keys["93"].Public())
				if err != nil {
					t.Fatal(err)
				}
				o.Sites[0].Keys = ks
			}
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"altered reference (one character)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Subject = "Référence " + typo(inv.Reference)
			return s, nil
		}, storage.OutcomeAVerifier, ReasonReferenceTypo},
		{"reference with valid check digits never issued", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			ref, err := NewReference("75", 2026, newTestRand(99))
			if err != nil {
				t.Fatal(err)
			}
			s := w.sub("75-2026-000001")
			s.Subject = "Référence " + ref.String()
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonUnknown},
		{"expired (email)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("75", "Élodie N'Diaye", "75", date(2025, 12, 1), date(2026, 3, 1))
			s := w.sub("75-2026-000001")
			s.Subject = inv.Reference
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonExpired},
		{"expired at receipt, posted in time (postmark)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("75", "Élodie N'Diaye", "75", date(2025, 12, 1), date(2026, 3, 1))
			postmark := date(2026, 2, 27)
			s := w.sub("75-2026-000001")
			s.Channel, s.Postmark, s.Subject = storage.ChannelPostal, &postmark, ""
			s.Texts = []Text{{Where: "lettre", Body: "Référence : " + inv.Reference}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"expired at receipt, letter without a recorded postmark", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("75", "Élodie N'Diaye", "75", date(2025, 12, 1), date(2026, 3, 1))
			s := w.sub("75-2026-000001")
			s.Channel, s.Subject = storage.ChannelPostal, ""
			s.Texts = []Text{{Where: "lettre", Body: "Référence : " + inv.Reference}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonExpiredNoPostmark},
		{"revoked", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			ref, _ := ParseReference(inv.Reference)
			if _, err := w.reg.Revoke(context.Background(), "75", ref, "agent-2", "délivrée par erreur", w.now.Add(-48*time.Hour)); err != nil {
				t.Fatal(err)
			}
			s := w.sub("75-2026-000001")
			s.Subject = inv.Reference
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonRevoked},
		{"revoked after it was sent", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			ref, _ := ParseReference(inv.Reference)
			if _, err := w.reg.Revoke(context.Background(), "75", ref, "agent-2", "doublon", w.now.Add(72*time.Hour)); err != nil {
				t.Fatal(err)
			}
			s := w.sub("75-2026-000001")
			s.Subject = inv.Reference
			return s, nil
		}, storage.OutcomeAVerifier, ReasonRevokedAfterSending},
		{"another prefecture's invitation (reference)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("93", "Élodie N'Diaye", "93", date(2026, 3, 2), date(2026, 6, 1))
			s := w.sub("75-2026-000001")
			s.Subject = inv.Reference
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonOtherSite},
		{"another prefecture's invitation (QR code)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("93", "Élodie N'Diaye", "93", date(2026, 3, 2), date(2026, 6, 1))
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, inv.Token))}
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonOtherSite},
		{"invitation of this site for a department it does not serve", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.issue("75", "Élodie N'Diaye", "93", date(2026, 3, 2), date(2026, 6, 1))
			s := w.sub("75-2026-000001")
			s.Subject = inv.Reference
			return s, nil
		}, storage.OutcomeAVerifier, ReasonTerritoryDepartment},
		{"sender's address outside the site's departments", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s, o := subject(t, w)
			s.Sender.Address = "12, rue de la République\n93200 Saint-Denis"
			return s, o
		}, storage.OutcomeAVerifier, ReasonTerritoryAddress},
		{"consumed twice by different names", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			first := w.sub("75-2026-000001")
			first.Subject = inv.Reference
			as, err := w.assessor(nil).Assess(context.Background(), first)
			if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
				t.Fatalf("first use: %v, %v", as.Decision, err)
			}
			second := w.sub("75-2026-000002")
			second.Subject, second.Sender = inv.Reference, storage.Party{Name: "Jean Martin", Email: "jm@example.org"}
			return second, nil
		}, storage.OutcomeAVerifier, ReasonConsumedByOther},
		{"same applicant sends again (linked)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			first := w.sub("75-2026-000001")
			first.Subject = inv.Reference
			if _, err := w.assessor(nil).Assess(context.Background(), first); err != nil {
				t.Fatal(err)
			}
			second := w.sub("75-2026-000002")
			second.Subject = "Pièces manquantes " + inv.Reference
			return second, nil
		}, storage.OutcomeRecevable, ReasonInvitationReused},
		{"name of the sender differs, applicant's name in the text", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			s.Sender = storage.Party{Name: "Association d'aide aux migrants", Email: "contact@asso.example"}
			s.Texts = []Text{{Where: "corps du message", Body: "Nous envoyons le dossier de Mme N’DIAYE Élodie, référence " + inv.Reference + "."}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"name of the sender differs, applicant's name nowhere", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s, o := subject(t, w)
			s.Sender = storage.Party{Name: "Jean Martin", Email: "jm@example.org"}
			return s, o
		}, storage.OutcomeAVerifier, ReasonNameMismatch},
		{"valid invitation beside a reference never issued", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s, o := subject(t, w)
			ref, _ := NewReference("75", 2026, newTestRand(98))
			s.Texts = []Text{{Where: "corps du message", Body: "Autre référence : " + ref.String()}}
			return s, o
		}, storage.OutcomeAVerifier, ReasonEvidenceConflict},
		{"CCC email forwarded as an attachment, DKIM valid", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			raw := w.cccEmail(cccBody, cccSelector)
			s.Embedded = []Embedded{{Where: "partie 2", Open: opener(raw), Size: int64(len(raw))}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonCCCEmailVerified},
		{"CCC email as an .eml document, DKIM valid, stored with LF line ends", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			raw := bytes.ReplaceAll(w.cccEmail(cccBody, cccSelector), []byte("\r\n"), []byte("\n"))
			s.Documents = []Doc{docOf(0, "attestation CCC.eml", "message/rfc822", raw)}
			return s, nil
		}, storage.OutcomeRecevable, ReasonCCCEmailVerified},
		{"CCC email, body altered after signing", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			raw := bytes.Replace(w.cccEmail(cccBody, cccSelector), []byte("2 mars 2026"), []byte("9 mars 2026"), 1)
			s.Embedded = []Embedded{{Where: "partie 2", Open: opener(raw), Size: int64(len(raw))}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCDKIMFailed},
		{"CCC email signed with a selector that is not pinned", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			raw := w.cccEmail(cccBody, "s2027")
			s.Embedded = []Embedded{{Where: "partie 2", Open: opener(raw), Size: int64(len(raw))}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCKeyUnknown},
		{"genuine CCC email without an impossibility statement", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			raw := w.cccEmail("Bonjour,\nVotre demande a bien été enregistrée.\n", cccSelector)
			s.Embedded = []Embedded{{Where: "partie 2", Open: opener(raw), Size: int64(len(raw))}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCNoStatement},
		{"CCC ticket in the registry", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			w.importTickets("ticket;date;département\nCCC-2026-004711;02/03/2026;75\n")
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps du message", Body: "Le CCC m'a donné le ticket n° CCC-2026-004711."}}
			return s, nil
		}, storage.OutcomeRecevable, ReasonCCCTicketRegistered},
		{"CCC ticket not in the registry", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			w.importTickets("ticket\nCCC-2026-000001\n")
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps du message", Body: "Le CCC m'a donné le ticket n° CCC-2026-004711."}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCTicketUnknown},
		{"CCC ticket, no registry", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps du message", Body: "Ticket : CCC-2026-004711"}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCTicketUnverified},
		{"CCC email pasted into the body", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps du message", Body: "---------- Message transféré ---------\nDe : Centre de contact citoyens <ne-pas-repondre@ccc.ants.gouv.fr>\n\nNous constatons l'IMPOSSIBILITE TECHNIQUE de déposer."}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonCCCPrintout},
		{"impossibility stated without proof", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			s.Texts = []Text{{Where: "corps du message", Body: "Il m'a été impossible de déposer ma demande sur internet."}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonImpossibilityStated},
		{"no evidence at all", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{docOf(0, "passeport.png", "image/png", qrPNG(t, "https://example.org/not-an-invitation"))}
			return s, nil
		}, storage.OutcomeIrrecevablePropose, ReasonNoEvidence},
		{"evidence possibly in an unreadable attachment", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			d := docOf(0, "invitation.pdf", "application/pdf", []byte("%PDF-1.7 garbage"))
			d.Problems = []Problem{{Code: ProblemPDFUnparseable}}
			s.Documents = []Doc{d}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonDocumentNotSearched},
		{"evidence possibly in a quarantined attachment (content not available)", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			s.Documents = []Doc{{Index: 0, Name: "lettre.heic", Type: "image/heic", Size: 2 << 20}}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonDocumentNotSearched},
		{"forged invitation beside an unreadable attachment", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			inv := w.valid()
			s := w.sub("75-2026-000001")
			bad := docOf(1, "scan.tiff", "image/tiff", []byte("II*\x00broken"))
			s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, forge(t, inv.Token))), bad}
			return s, nil
		}, storage.OutcomeAVerifier, ReasonForged},
		{"QR search stopped at its bound", func(t *testing.T, w *world) (*Submission, func(*AssessorOptions)) {
			s := w.sub("75-2026-000001")
			blank := qrPNG(t, "https://example.org/a")
			s.Documents = []Doc{docOf(0, "a.png", "image/png", blank), docOf(1, "b.png", "image/png", blank)}
			return s, func(o *AssessorOptions) { o.Search.MaxQRImages = 1 }
		}, storage.OutcomeAVerifier, ReasonSearchBounded},
	}
}

// typo changes one character of the random part of a reference.
func typo(ref string) string {
	b := []byte(ref)
	i := len("INV-75-2026-") + 1
	if b[i] == 'X' {
		b[i] = 'Y'
	} else {
		b[i] = 'X'
	}
	return string(b)
}

// TestAssessDecision runs the whole assessment (search, verification,
// decision) over the cases the art. 4 rules must get right.
func TestAssessDecision(t *testing.T) {
	t.Parallel()
	for _, tc := range decisionCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			s, mod := tc.setup(t, w)
			as, trace, err := w.assessor(mod).Explain(context.Background(), s)
			if err != nil {
				t.Fatalf("Assess(%s): %v", tc.name, err)
			}
			for _, r := range as.Decision.Reasons {
				t.Logf("%s: %s", r.Code, r.Text)
			}
			if got := as.Decision.Outcome; got != tc.want {
				t.Errorf("Decide(%s) = %v, want %v\nreasons: %+v\nevidence: %+v\ntrace:\n  %s", tc.name, got, tc.want,
					as.Decision.Reasons, as.Evidence, strings.Join(trace, "\n  "))
			}
			if codes := reasonCodes(as.Decision); !slices.Contains(codes, tc.code) {
				t.Errorf("Decide(%s) reasons = %v, want %s among them", tc.name, codes, tc.code)
			}
			if as.Decision.Rule != Rule || as.Decision.At.IsZero() {
				t.Errorf("Decide(%s): rule %q at %v", tc.name, as.Decision.Rule, as.Decision.At)
			}
			for _, r := range as.Decision.Reasons {
				if r.Text == "" || r.Text == r.Code || strings.Contains(r.Text, "%!") {
					t.Errorf("Decide(%s): reason %s has text %q", tc.name, r.Code, r.Text)
				}
			}
		})
	}
}
