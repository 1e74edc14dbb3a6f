package web

import (
	"fmt"
	"testing"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// Names of the realistic queue: the variety of a prefecture's mail
// (accents, apostrophes, hyphens, several scripts transliterated).
var fixtureNames = []string{
	"Awa Diallo", "Mohamed Benali", "Nguyen Thi Lan", "Oksana Kovalenko", "Jean-Baptiste Mbeki",
	"Fatoumata Traoré", "Ahmed El Amrani", "Li Wei", "Ana Pereira", "Yusuf Demir",
	"Chloé Lœtitia N'Diaye-Çelik", "Mariam Keïta", "Ivan Petrov", "Sofia Rossi", "Kofi Mensah",
	"Amina Haddad", "Carlos Gómez", "Aïcha Ben Saïd", "Dmitri Volkov", "Priya Raman",
}

// realisticSpec is the i-th dossier of a realistic queue: statuses,
// channels and evidence in the proportions a prefecture sees.
func realisticSpec(i int, now time.Time) dossierSpec {
	name := fixtureNames[i%len(fixtureNames)]
	d := dossierSpec{Seq: i + 1, Received: now.Add(-time.Duration(i*97+30) * time.Minute),
		Sender:  &storage.Party{Name: name, Email: fmt.Sprintf("demandeur%d@example.org", i+1)},
		Subject: "Demande de titre de séjour — dépôt par courriel"}
	switch i % 10 {
	case 0, 1, 2, 3:
		d.Status = storage.StatusRecevable
		d.Evidence = invitationEvidence(fixtureReference(i))
	case 4, 5:
		d.Status = storage.StatusAVerifier
		d.Evidence = []storage.Evidence{{Kind: storage.EvidenceCCCTicket, Where: "corps du message", Value: fmt.Sprintf("CCC-%06d", 400000+i),
			Verdict: "unverifiable", Checks: []storage.Check{{Name: "ccc_registry", OK: false, Detail: "Aucun registre du CCC n'est importé : vérification manuelle."}}}}
	case 6:
		d.Status = storage.StatusIrrecevablePropose
	case 7:
		d.Status = storage.StatusEnInstruction
		d.Evidence = invitationEvidence(fixtureReference(i))
	case 8:
		d.Status = storage.StatusPiecesManquantes
		d.Evidence = invitationEvidence(fixtureReference(i))
	case 9:
		d.Status = storage.StatusClos
	}
	if i%3 == 1 {
		d.Channel = storage.ChannelPostal
		d.Subject = ""
		pm := d.Received.Add(-52 * time.Hour)
		if i%6 != 1 {
			d.Postmark = &pm
		}
		d.Sender.Email = ""
	}
	return d
}

// seedRealistic seeds n realistic dossiers.
func seedRealistic(t testing.TB, b storage.Bucket, n int, now time.Time) {
	t.Helper()
	for i := range n {
		seedDossier(t, b, realisticSpec(i, now))
	}
}

// fixtureReference is a well-formed invitation reference (valid check
// digits) numbered i.
func fixtureReference(i int) string {
	return validate.Reference{Code: "PP", Year: 2026, Body: fmt.Sprintf("%08d", i)}.String()
}
