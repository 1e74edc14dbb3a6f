package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"recevable/storage"
)

// The French words of the interface for the codes the pipeline stores.
// A code without a label is shown as is: an unknown value is displayed,
// never hidden.

var statusLabels = map[storage.Status]string{
	storage.StatusRecevable:          "Recevable",
	storage.StatusAVerifier:          "À vérifier",
	storage.StatusIrrecevablePropose: "Irrecevable proposé",
	storage.StatusEnInstruction:      "En instruction",
	storage.StatusPiecesManquantes:   "Pièces manquantes",
	storage.StatusIrrecevable:        "Irrecevable",
	storage.StatusClos:               "Clos",
}

func statusLabel(st storage.Status) string { return labelOr(statusLabels[st], string(st)) }

var channelLabels = map[storage.Channel]string{
	storage.ChannelEmail:  "Courriel",
	storage.ChannelPostal: "Courrier postal",
	storage.ChannelUpload: "Dépôt au guichet",
}

func channelLabel(c storage.Channel) string { return labelOr(channelLabels[c], string(c)) }

var outcomeLabels = map[storage.Outcome]string{
	storage.OutcomeRecevable:          "Recevable",
	storage.OutcomeAVerifier:          "À vérifier",
	storage.OutcomeIrrecevablePropose: "Irrecevable proposé",
}

func outcomeLabel(o storage.Outcome) string { return labelOr(outcomeLabels[o], string(o)) }

var evidenceLabels = map[storage.EvidenceKind]string{
	storage.EvidenceInvitation: "Invitation de la préfecture",
	storage.EvidenceCCCEmail:   "Courriel du CCC (transféré)",
	storage.EvidenceCCCTicket:  "Numéro de ticket du CCC",
	storage.EvidenceCCCPrint:   "Courriel du CCC imprimé",
}

func evidenceLabel(k storage.EvidenceKind) string { return labelOr(evidenceLabels[k], string(k)) }

var verdictLabels = map[string]string{
	"valid":        "Vérifiée",
	"unverifiable": "Non vérifiable automatiquement",
	"invalid":      "Invalide",
}

func verdictLabel(v string) string { return labelOr(verdictLabels[v], v) }

// checkLabels name the verifications of evidence in plain French.
var checkLabels = map[string]string{
	"signature":          "Signature électronique du code QR",
	"reference_checksum": "Caractères de contrôle de la référence",
	"registry":           "Invitation inscrite au registre de la préfecture",
	"not_revoked":        "Invitation non révoquée",
	"not_expired":        "Invitation encore valable à la date d'envoi",
	"site":               "Invitation émise par cette préfecture",
	"competence":         "Département de résidence relevant de la préfecture",
	"not_consumed":       "Invitation non utilisée par un autre dossier",
	"name":               "Nom du demandeur conforme à l'invitation",
	"dkim":               "Signature DKIM du courriel du CCC",
	"ccc_domain":         "Courriel émis par un domaine du CCC",
	"ccc_registry":       "Ticket inscrit au registre du CCC",
	"impossibility":      "Mention de l'impossibilité de déposer en ligne",
}

func checkLabel(name string) string { return labelOr(checkLabels[name], name) }

// historyLabels name the actions of a dossier's history.
var historyLabels = map[string]string{
	"created":                  "Enregistrement du dossier",
	"decision":                 "Proposition de décision",
	"prise":                    "Dossier pris en charge",
	"liberation":               "Dossier libéré",
	"recevabilite_confirmee":   "Recevabilité confirmée",
	"transmission_instruction": "Transmis à l'instruction",
	"pieces_demandees":         "Pièces manquantes demandées",
	"irrecevabilite_confirmee": "Irrecevabilité confirmée",
	"cloture":                  "Dossier clos",
	"retraitement":             "Retraitement demandé",
}

func historyLabel(a string) string { return labelOr(historyLabels[a], a) }

var auditLabels = map[string]string{
	"dossier.read":         "Consultation d'un dossier",
	"document.read":        "Consultation d'un document",
	"raw.read":             "Téléchargement d'un original",
	"dossier.take":         "Prise en charge",
	"dossier.release":      "Libération",
	"dossier.admissible":   "Recevabilité confirmée",
	"dossier.hand_over":    "Transmission à l'instruction",
	"dossier.pieces":       "Demande de pièces",
	"dossier.inadmissible": "Irrecevabilité confirmée",
	"dossier.close":        "Clôture",
	"dossier.reprocess":    "Retraitement d'un dossier",
	"dossier.search":       "Recherche dans la file",
	"quarantine.read":      "Consultation de la quarantaine",
	"quarantine.raw":       "Téléchargement d'un original en quarantaine",
	"quarantine.reprocess": "Retraitement d'un élément en quarantaine",
	"courrier.upload":      "Dépôt d'un courrier numérisé",
	"invitation.issue":     "Émission d'une invitation",
	"invitation.read":      "Consultation d'une invitation",
	"invitation.letter":    "Lettre d'invitation",
	"invitation.revoke":    "Révocation d'une invitation",
	"audit.read":           "Consultation du journal",
	"auth.login":           "Connexion",
	"auth.login_failed":    "Échec de connexion",
	"auth.logout":          "Déconnexion",
	"account.password":     "Changement de mot de passe",
	"account.create":       "Création d'un compte",
	"account.disable":      "Désactivation d'un compte",
	"account.enable":       "Réactivation d'un compte",
}

func auditLabel(a string) string { return labelOr(auditLabels[a], a) }

func labelOr(label, code string) string {
	if label == "" {
		return code
	}
	return label
}

// statusClass is the CSS class of a status badge.
func statusClass(st storage.Status) string {
	switch st {
	case storage.StatusRecevable, storage.StatusEnInstruction:
		return "badge badge-ok"
	case storage.StatusAVerifier, storage.StatusPiecesManquantes:
		return "badge badge-warn"
	case storage.StatusIrrecevablePropose, storage.StatusIrrecevable:
		return "badge badge-ko"
	}
	return "badge"
}

// dateTime formats t in loc as 02/01/2006 15:04.
func dateTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("02/01/2006 15:04")
}

// dateTimeSec formats t in loc to the second, for the audit log.
func dateTimeSec(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("02/01/2006 15:04:05")
}

// dateOnly formats t in loc as 02/01/2006.
func dateOnly(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("02/01/2006")
}

// age says how long ago t was, in the largest unit that fits.
func age(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	default:
		return fmt.Sprintf("%d j", int(d.Hours()/24))
	}
}

// humanBytes writes a size the French way: 1,2 Mo.
func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d o", n)
	case n < k*k:
		return strings.Replace(fmt.Sprintf("%.1f Ko", float64(n)/k), ".", ",", 1)
	case n < k*k*k:
		return strings.Replace(fmt.Sprintf("%.1f Mo", float64(n)/(k*k)), ".", ",", 1)
	}
	return strings.Replace(fmt.Sprintf("%.1f Go", float64(n)/(k*k*k)), ".", ",", 1)
}

// templateFuncs are the functions templates may call.
func templateFuncs(v *views) template.FuncMap {
	return template.FuncMap{
		"statusLabel":   statusLabel,
		"statusClass":   statusClass,
		"outcomeClass":  func(o storage.Outcome) string { return statusClass(storage.Status(o)) },
		"channelLabel":  channelLabel,
		"outcomeLabel":  outcomeLabel,
		"evidenceLabel": evidenceLabel,
		"verdictLabel":  verdictLabel,
		"checkLabel":    checkLabel,
		"historyLabel":  historyLabel,
		"auditLabel":    auditLabel,
		"roleLabel":     roleLabel,
		"dateTime":      dateTime,
		"dateTimeSec":   dateTimeSec,
		"dateOnly":      dateOnly,
		"age":           age,
		"bytes":         humanBytes,
		"static": func(name string) string {
			return "/static/" + name + "?v=" + v.version[name]
		},
		"has": func(s *session, r string) bool { return s != nil && s.Has(Role(r)) },
		"add": func(a, b int) int { return a + b },
	}
}
