package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// The demo's submissions: five emails to the prefecture's dedicated address
// and one batch scan of the mailroom, made so that the proposed decisions
// cover the three outcomes of arrêté 2023-08-01 art. 4 (DESIGN.md,
// "Admissibility"). People, addresses and numbers are fictitious; email
// domains are those of RFC 2606, the CCC's is a .invalid one whose DKIM key
// the demo pins.

// demoSample is one submission of the demo.
type demoSample struct {
	// File is its name under samples/.
	File string
	// Channel is how it reaches the prefecture.
	Channel storage.Channel
	// Shows says, for the summary, what it is and what it demonstrates;
	// Letters does so per letter of a batch scan.
	Shows   string
	Letters []string
	// Want is the outcome the demo means it to get, one per letter for a
	// batch (the demo's test holds the pipeline to it).
	Want []storage.Outcome
}

// CCC domain and selector of the demo's pinned DKIM key.
const (
	demoCCCDomain   = "ccc.demo.invalid" // RFC 2606 §2: never resolves
	demoCCCSelector = "demo"
)

// demoBatchFile is the name of the batch scan, in samples/ and in the drop.
const demoBatchFile = "lot-courrier-demo.pdf"

// demoSamples lists the submissions in the order they are delivered.
var demoSamples = []demoSample{
	{File: "1-invitation-dans-l-objet.eml", Channel: storage.ChannelEmail, Want: []storage.Outcome{storage.OutcomeRecevable},
		Shows: "invitation reference in the subject, form (PDF) and passport (JPEG)"},
	{File: "2-attestation-ccc-transferee.eml", Channel: storage.ChannelEmail, Want: []storage.Outcome{storage.OutcomeRecevable},
		Shows: "CCC email forwarded as an attachment, DKIM signature verified"},
	{File: "3-ticket-ccc-inconnu.eml", Channel: storage.ChannelEmail, Want: []storage.Outcome{storage.OutcomeAVerifier},
		Shows: "CCC ticket number in the text, in no registry"},
	{File: "4-sans-justificatif.eml", Channel: storage.ChannelEmail, Want: []storage.Outcome{storage.OutcomeIrrecevablePropose},
		Shows: "no invitation, no CCC document"},
	{File: "5-invitation-revoquee.eml", Channel: storage.ChannelEmail, Want: []storage.Outcome{storage.OutcomeIrrecevablePropose},
		Shows: "reference of an invitation revoked before the sending"},
	{File: demoBatchFile, Channel: storage.ChannelPostal,
		Want:    []storage.Outcome{storage.OutcomeRecevable, storage.OutcomeIrrecevablePropose},
		Shows:   "batch scan: two letters and a separator sheet",
		Letters: []string{"letter 1: copy of the invitation letter, read from its QR code", "letter 2: no invitation, no CCC document"}},
}

// demoInvitations are the invitations the samples present.
type demoInvitations struct {
	Email   validate.Invitation // reference in the subject of sample 1
	Postal  validate.Invitation // QR code in letter 1 of the batch
	Revoked validate.Invitation // reference in sample 5, revoked
}

// demoPeople are the applicants the demo's invitations were issued to,
// matched by name in the registry when the demo runs again.
var demoPeople = struct {
	Email, Postal, Revoked demoPerson
}{
	Email:   demoPerson{Name: "Amina Ben Salah", Email: "amina.bensalah@example.org", Address: []string{"12 rue des Panoyaux", "75020 Paris"}},
	Postal:  demoPerson{Name: "Mamadou Diallo", Address: []string{"41 rue Riquet", "75019 Paris"}},
	Revoked: demoPerson{Name: "Thi Lan Nguyen", Email: "thilan.nguyen@example.com", Address: []string{"3 rue Baudricourt", "75013 Paris"}},
}

// demoPerson is a fictitious applicant.
type demoPerson struct {
	Name    string
	Email   string
	Address []string
}

// buildDemoSamples makes every sample's bytes, keyed by file name. The
// emails carry today's date; the CCC email is signed with cccKey.
func buildDemoSamples(ctx context.Context, inv demoInvitations, cccKey crypto.Signer, now time.Time) (map[string][]byte, error) {
	out := map[string][]byte{}
	builders := []func(demoInvitations, crypto.Signer, time.Time) ([]byte, error){
		sampleInvitationSubject, sampleForwardedCCC, sampleTicket, sampleNoEvidence, sampleRevoked,
	}
	for i, build := range builders {
		b, err := build(inv, cccKey, now)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", demoSamples[i].File, err)
		}
		out[demoSamples[i].File] = b
	}
	qr := func(s string) (image.Image, error) { return validate.EncodeQR(s) }
	batch, err := intake.SampleBatch(ctx, qr, inv.Postal.Token)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", demoBatchFile, err)
	}
	out[demoBatchFile] = batch
	return out, nil
}

func sampleInvitationSubject(inv demoInvitations, _ crypto.Signer, now time.Time) ([]byte, error) {
	p := demoPeople.Email
	form, err := demoPDF("Demande de titre de séjour — formulaire", []string{
		"Nom : BEN SALAH", "Prénom : Amina", "Né(e) le : 14/05/1991 à Sfax (Tunisie)", "Nationalité : tunisienne",
		"Adresse : 12 rue des Panoyaux, 75020 Paris", "",
		"Titre demandé : carte de séjour pluriannuelle « salarié »",
		"Titre actuel : carte de séjour temporaire, valable jusqu'au 30/06/2026", "",
		"Pièces jointes : passeport, justificatif de domicile, photographies", "",
		"Fait à Paris, le " + now.Format("02/01/2006"), "Signature : A. Ben Salah",
	})
	if err != nil {
		return nil, err
	}
	passport, err := demoIDCard("PASSEPORT — SPÉCIMEN", []string{
		"Nom : BEN SALAH", "Prénoms : AMINA", "Nationalité : TUNISIENNE", "Né(e) le : 14 05 1991", "N° : Z0000000", "Expire le : 01 01 2030",
	}, []string{"P<TUNBEN<SALAH<<AMINA<<<<<<<<<<<<<<<<<<<<<<<", "Z0000000<0TUN9105148F3001019<<<<<<<<<<<<<<00"})
	if err != nil {
		return nil, err
	}
	return demoMail(demoMessage{
		From: p, Subject: "Demande de titre de séjour – invitation " + inv.Email.Reference, Date: now, ID: "1",
		Text: "Madame, Monsieur,\n\n" +
			"Suite à votre courrier d'invitation, je vous adresse ma demande de renouvellement de titre de séjour " +
			"(carte de séjour pluriannuelle « salarié »).\n\n" +
			"Vous trouverez ci-joints le formulaire de demande complété et la copie de mon passeport.\n\n" +
			"Je reste à votre disposition pour tout complément.\n\nCordialement,\n\n" +
			p.Name + "\n" + strings.Join(p.Address, ", ") + "\n",
		Attachments: []demoAttachment{
			{Name: "formulaire-demande-titre-séjour.pdf", Type: "application/pdf", Data: form},
			{Name: "passeport.jpg", Type: "image/jpeg", Data: passport},
		},
	}), nil
}

func sampleForwardedCCC(_ demoInvitations, key crypto.Signer, now time.Time) ([]byte, error) {
	p := demoPerson{Name: "Karim Haddad", Email: "karim.haddad@example.net", Address: []string{"8 rue Myrha", "75018 Paris"}}
	called := now.AddDate(0, 0, -3)
	ccc, err := demoCCCEmail(p, called, key)
	if err != nil {
		return nil, err
	}
	proof, err := demoPDF("Attestation d'hébergement", []string{
		"Je soussignée Nadia Haddad, demeurant 8 rue Myrha, 75018 Paris,",
		"atteste héberger à mon domicile mon frère Karim Haddad depuis le 1er mars 2024.", "",
		"Fait pour servir et valoir ce que de droit.", "",
		"Fait à Paris, le " + now.Format("02/01/2006"), "Signature : N. Haddad",
	})
	if err != nil {
		return nil, err
	}
	return demoMail(demoMessage{
		From: p, Subject: "Fwd: Votre demande auprès du centre de contact citoyens", Date: now, ID: "2",
		Text: "Bonjour,\n\n" +
			"Le site de l'ANEF refuse ma demande de titre de séjour à chaque tentative. Le centre de contact citoyens " +
			"m'a envoyé le message ci-joint et m'a indiqué de vous écrire à cette adresse.\n\n" +
			"Vous trouverez aussi mon attestation d'hébergement.\n\nBien cordialement,\n\n" +
			p.Name + "\n" + strings.Join(p.Address, ", ") + "\n",
		Forwarded: ccc, ForwardedName: "attestation-ccc.eml",
		Attachments: []demoAttachment{{Name: "attestation-hébergement.pdf", Type: "application/pdf", Data: proof}},
	}), nil
}

// demoCCCEmail is the CCC's answer to a call, DKIM-signed (RFC 6376) for
// demoCCCDomain with key, as the CCC's mail server would sign it.
func demoCCCEmail(p demoPerson, called time.Time, key crypto.Signer) ([]byte, error) {
	body := "Bonjour,\r\n\r\n" +
		"Suite à votre appel du " + validate.FrenchDate(called) + ", nous avons constaté l'impossibilité technique de déposer " +
		"votre demande de titre de séjour sur le site de l'administration numérique pour les étrangers en France (ANEF), " +
		"malgré l'accompagnement proposé.\r\n\r\n" +
		"Conformément à l'article 4 de l'arrêté du 1er août 2023, vous pouvez déposer votre demande auprès de la " +
		"préfecture de votre département de résidence, par courrier ou à l'adresse électronique qu'elle a dédiée à " +
		"cet effet, en joignant le présent message.\r\n\r\n" +
		"Le centre de contact citoyens\r\n" +
		"Ce message est envoyé automatiquement, merci de ne pas y répondre.\r\n"
	raw := "From: " + mime.QEncoding.Encode("utf-8", "Centre de contact citoyens") + " <ne-pas-repondre@" + demoCCCDomain + ">\r\n" +
		"To: " + p.Email + "\r\n" +
		"Subject: " + mime.QEncoding.Encode("utf-8", "Votre demande auprès du centre de contact citoyens") + "\r\n" +
		"Date: " + called.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + shortHash(p.Email+called.String()) + "@" + demoCCCDomain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
	var signed bytes.Buffer
	err := dkim.Sign(&signed, strings.NewReader(raw), &dkim.SignOptions{
		Domain: demoCCCDomain, Selector: demoCCCSelector, Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	return signed.Bytes(), nil
}

func sampleTicket(_ demoInvitations, _ crypto.Signer, now time.Time) ([]byte, error) {
	p := demoPerson{Name: "Oksana Kovalenko", Email: "oksana.kovalenko@example.com", Address: []string{"27 rue de la Roquette", "75011 Paris"}}
	card, err := demoIDCard("TITRE DE SÉJOUR — SPÉCIMEN", []string{
		"Nom : KOVALENKO", "Prénom : OKSANA", "Nationalité : UKRAINIENNE", "Type : protection temporaire", "Valable jusqu'au : 04 03 2026",
	}, []string{"IRFRAXX00000000<0000000000000", "9002281F2603042UKR<<<<<<<<<<<0", "KOVALENKO<<OKSANA<<<<<<<<<<<<<"})
	if err != nil {
		return nil, err
	}
	return demoMail(demoMessage{
		From: p, Subject: "Demande de titre de séjour", Date: now, ID: "3",
		Text: "Bonjour,\n\n" +
			"Le site de l'ANEF affiche une erreur à l'étape du paiement et je ne peux pas terminer ma demande. " +
			"J'ai appelé le centre de contact citoyens le " + validate.FrenchDate(now.AddDate(0, 0, -5)) +
			" ; ma demande porte le ticket n° CCC-2026-118342.\n\n" +
			"Je vous joins la copie de mon titre de séjour actuel.\n\nCordialement,\n\n" +
			p.Name + "\n" + strings.Join(p.Address, ", ") + "\n",
		Attachments: []demoAttachment{{Name: "titre-séjour-actuel.jpg", Type: "image/jpeg", Data: card}},
	}), nil
}

func sampleNoEvidence(_ demoInvitations, _ crypto.Signer, now time.Time) ([]byte, error) {
	p := demoPerson{Name: "Lucía Fernández Ruiz", Email: "lucia.fernandez@example.org", Address: []string{"5 avenue de Choisy", "75013 Paris"}}
	form, err := demoPDF("Demande de titre de séjour — formulaire", []string{
		"Nom : FERNÁNDEZ RUIZ", "Prénom : Lucía", "Née le : 02/11/1995 à Bogotá (Colombie)", "Nationalité : colombienne",
		"Adresse : 5 avenue de Choisy, 75013 Paris", "",
		"Titre demandé : carte de séjour temporaire « étudiant »", "",
		"Fait à Paris, le " + now.Format("02/01/2006"), "Signature : L. Fernández Ruiz",
	})
	if err != nil {
		return nil, err
	}
	return demoMail(demoMessage{
		From: p, Subject: "Renouvellement de mon titre de séjour", Date: now, ID: "4",
		Text: "Bonjour,\n\n" +
			"Mon titre de séjour expire le 15 juillet. Vous trouverez ci-joint ma demande de renouvellement.\n\n" +
			"Merci de m'indiquer la suite de la procédure.\n\nCordialement,\n\n" +
			p.Name + "\n" + strings.Join(p.Address, ", ") + "\n",
		Attachments: []demoAttachment{{Name: "demande-renouvellement.pdf", Type: "application/pdf", Data: form}},
	}), nil
}

func sampleRevoked(inv demoInvitations, _ crypto.Signer, now time.Time) ([]byte, error) {
	p := demoPeople.Revoked
	form, err := demoPDF("Demande de titre de séjour — formulaire", []string{
		"Nom : NGUYEN", "Prénoms : Thi Lan", "Née le : 21/08/1988 à Hanoï (Viêt Nam)", "Nationalité : vietnamienne",
		"Adresse : 3 rue Baudricourt, 75013 Paris", "",
		"Titre demandé : carte de séjour temporaire « vie privée et familiale »", "",
		"Fait à Paris, le " + now.Format("02/01/2006"), "Signature : T. L. Nguyen",
	})
	if err != nil {
		return nil, err
	}
	return demoMail(demoMessage{
		From: p, Subject: "Dépôt de ma demande de titre de séjour", Date: now, ID: "5",
		Text: "Madame, Monsieur,\n\n" +
			"Comme suite à votre lettre (référence " + inv.Revoked.Reference + "), je vous adresse ma demande de titre de séjour.\n\n" +
			"Veuillez agréer, Madame, Monsieur, l'expression de mes salutations distinguées.\n\n" +
			p.Name + "\n" + strings.Join(p.Address, ", ") + "\n",
		Attachments: []demoAttachment{{Name: "formulaire.pdf", Type: "application/pdf", Data: form}},
	}), nil
}

// demoMessage is an applicant's email.
type demoMessage struct {
	From    demoPerson
	Subject string
	Date    time.Time
	// ID makes the Message-ID unique among the samples.
	ID          string
	Text        string
	Attachments []demoAttachment
	// Forwarded is a message attached whole (message/rfc822), as a mail
	// client's "forward as attachment" does.
	Forwarded     []byte
	ForwardedName string
}

// demoAttachment is an attached file.
type demoAttachment struct {
	Name string
	Type string
	Data []byte
}

// demoMail writes m as an RFC 5322 message with CRLF line ends: a
// multipart/mixed of the text, the forwarded message and the attachments.
func demoMail(m demoMessage) []byte {
	var b bytes.Buffer
	boundary := "=_demo_" + shortHash(m.From.Email+m.ID)
	fmt.Fprintf(&b, "From: %s <%s>\r\n", mime.QEncoding.Encode("utf-8", m.From.Name), m.From.Email)
	b.WriteString("To: " + mime.QEncoding.Encode("utf-8", "Préfecture de démonstration") + " <titres-sejour@demo.invalid>\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", m.Subject) + "\r\n")
	b.WriteString("Date: " + m.Date.Format(time.RFC1123Z) + "\r\n")
	fmt.Fprintf(&b, "Message-ID: <demo-%s.%s@%s>\r\n", m.ID, shortHash(m.Date.String()), domainOf(m.From.Email))
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a multi-part message in MIME format.\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n"))) // writes to a bytes.Buffer do not fail
	qp.Close()
	b.WriteString("\r\n")
	if m.Forwarded != nil {
		// 8bit, never re-encoded: the DKIM signature covers these bytes.
		fmt.Fprintf(&b, "--%s\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n",
			boundary, m.ForwardedName)
		b.Write(m.Forwarded)
		b.WriteString("\r\n")
	}
	for _, a := range m.Attachments {
		// RFC 2231 §4 for the accented names, as current mail clients do.
		disp := mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})
		ctype := mime.FormatMediaType(a.Type, map[string]string{"name": a.Name})
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: %s\r\n\r\n", boundary, ctype, disp)
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 { // RFC 2045 §6.8
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "example.org"
}
