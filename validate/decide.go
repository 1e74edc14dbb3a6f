package validate

import (
	"fmt"
	"slices"
	"time"

	"recevable/storage"
)

// The proposed decision (DESIGN.md, "Admissibility"). arrêté 2023-08-01
// art. 4 al. 2: the dossier is admissible only with an invitation of the
// territorially competent prefecture or, by exception, a document of the CCC
// attesting that filing online was impossible. The pipeline proposes, staff
// decide:
//
//	recevable            valid evidence, verified (signature, DKIM or registry),
//	                     and nothing that calls for a look (no flag, no false
//	                     evidence beside it)
//	a_verifier           evidence present but not machine-verifiable; or valid
//	                     evidence with a flag; or no conclusive evidence while
//	                     something could not be searched (an unreadable
//	                     document, the search bound) or the applicant states the
//	                     impossibility without proof
//	irrecevable_propose  no evidence at all, or only evidence proven false
//	                     (forged, revoked, expired, unknown, another
//	                     prefecture's); staff confirm before anything is sent
//
// A false refusal takes away a person's only way to file, so every doubt
// goes to a_verifier, and every failed check is written in the reasons.

// Rule is the rule every decision cites.
const Rule = "arrêté 2023-08-01 art. 4"

// Evidence verdicts (storage.Evidence.Verdict).
const (
	VerdictValid        = "valid"
	VerdictUnverifiable = "unverifiable"
	VerdictInvalid      = "invalid"
)

// Finding is one piece of evidence as assessed: the evidence with its checks
// and verdict, the reason it gives the decision, and the flags that keep a
// valid piece from making the dossier admissible without a look.
type Finding struct {
	Evidence storage.Evidence
	Reason   storage.Reason
	Flags    []storage.Reason
	// Linked are other dossiers that presented the same invitation.
	Linked []string
	// Notes are informative reasons (a second sending linked…).
	Notes []storage.Reason
}

// Gap is a place where evidence could be and was not searched: a document
// that could not be read, or the search bound that was reached.
type Gap struct {
	Reason storage.Reason
}

// Findings is everything the search and the verification found in one
// submission.
type Findings struct {
	Items []Finding
	Gaps  []Gap
	// Stated: the applicant's own texts state the impossibility of filing
	// online, without any proof (impossibility_stated).
	Stated []storage.Reason
	// Flags concern the submission as a whole (territory_address…).
	Flags []storage.Reason
}

// Decide turns findings into the proposed decision, dated at.
func Decide(f Findings, at time.Time) storage.Decision {
	var valid, unverifiable, invalid []Finding
	for _, it := range f.Items {
		switch it.Evidence.Verdict {
		case VerdictValid:
			valid = append(valid, it)
		case VerdictInvalid:
			invalid = append(invalid, it)
		default: // unverifiable, or anything unexpected: a person looks
			unverifiable = append(unverifiable, it)
		}
	}
	d := storage.Decision{Rule: Rule, At: at.UTC()}
	add := func(rs ...storage.Reason) { d.Reasons = append(d.Reasons, rs...) }
	reasonsOf := func(items []Finding) {
		for _, it := range items {
			add(it.Reason)
			add(it.Flags...)
		}
	}
	gaps := func() {
		for _, g := range f.Gaps {
			add(g.Reason)
		}
	}
	switch {
	case len(valid) > 0:
		var flags []storage.Reason
		for _, it := range valid {
			flags = append(flags, it.Flags...)
		}
		flags = append(flags, f.Flags...)
		if len(flags) == 0 && len(invalid) == 0 {
			d.Outcome = storage.OutcomeRecevable
			for _, it := range valid {
				add(it.Reason)
				add(it.Notes...)
			}
			// What could not be verified beside is said too, after.
			reasonsOf(unverifiable)
			d.Reasons = dedupReasons(d.Reasons)
			return d
		}
		// Valid evidence beside a flag or beside false evidence: someone
		// looks before the dossier goes to instruction.
		d.Outcome = storage.OutcomeAVerifier
		add(flags...)
		if len(invalid) > 0 {
			add(reason(ReasonEvidenceConflict))
			reasonsOf(invalid)
		}
		for _, it := range valid {
			add(it.Reason)
			add(it.Notes...)
		}
		reasonsOf(unverifiable)
	case len(unverifiable) > 0 || len(f.Gaps) > 0 || len(f.Stated) > 0:
		d.Outcome = storage.OutcomeAVerifier
		reasonsOf(unverifiable)
		gaps()
		add(f.Stated...)
		reasonsOf(invalid)
		add(f.Flags...)
	case len(invalid) > 0:
		d.Outcome = storage.OutcomeIrrecevablePropose
		reasonsOf(invalid)
		add(f.Flags...)
		add(reason(ReasonConfirmRefusal))
	default:
		d.Outcome = storage.OutcomeIrrecevablePropose
		add(reason(ReasonNoEvidence))
		add(f.Flags...)
		add(reason(ReasonConfirmRefusal))
	}
	for _, it := range f.Items {
		add(it.Notes...)
	}
	d.Reasons = dedupReasons(d.Reasons)
	return d
}

func dedupReasons(rs []storage.Reason) []storage.Reason {
	seen := map[storage.Reason]bool{}
	out := rs[:0]
	for _, r := range rs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Reason codes. They are stored in manifests and queues are filtered on
// them: never rename one.
const (
	// recevable
	ReasonInvitationValid     = "invitation_valid"
	ReasonCCCEmailVerified    = "ccc_email_verified"
	ReasonCCCTicketRegistered = "ccc_ticket_registered"

	// informative
	ReasonInvitationReused = "invitation_reused"

	// flags: valid evidence, but a person looks (a_verifier)
	ReasonNameMismatch        = "invitation_name_mismatch"
	ReasonConsumedByOther     = "invitation_consumed_by_other_applicant"
	ReasonTerritoryDepartment = "territory_department"
	ReasonTerritoryAddress    = "territory_address"
	ReasonEvidenceConflict    = "evidence_conflict"

	// unverifiable (a_verifier)
	ReasonKeyUnknown           = "invitation_key_unknown"
	ReasonCodeUnreadable       = "invitation_code_unreadable"
	ReasonReferenceTypo        = "invitation_reference_typo"
	ReasonNotInRegistry        = "invitation_not_in_registry"
	ReasonRegistryMismatch     = "invitation_registry_mismatch"
	ReasonSiteUnknown          = "invitation_site_unknown"
	ReasonOtherSiteCheck       = "invitation_other_site_check"
	ReasonRevokedAfterSending  = "invitation_revoked_after_sending"
	ReasonExpiredNoPostmark    = "invitation_expired_postmark_missing"
	ReasonKeyRetiredRegistered = "invitation_key_retired"
	ReasonCCCUnsigned          = "ccc_email_unsigned"
	ReasonCCCKeyUnknown        = "ccc_email_key_unknown"
	ReasonCCCDKIMFailed        = "ccc_email_dkim_failed"
	ReasonCCCNoStatement       = "ccc_email_no_statement"
	ReasonCCCTicketUnknown     = "ccc_ticket_unknown"
	ReasonCCCTicketUnverified  = "ccc_ticket_unverified"
	ReasonCCCPrintout          = "ccc_printout"
	ReasonImpossibilityStated  = "impossibility_stated"
	ReasonDocumentNotSearched  = "search_incomplete"
	ReasonSearchBounded        = "search_bounded"

	// invalid (irrecevable_propose)
	ReasonForged         = "invitation_forged"
	ReasonRevoked        = "invitation_revoked"
	ReasonExpired        = "invitation_expired"
	ReasonUnknown        = "invitation_unknown"
	ReasonOtherSite      = "invitation_other_site"
	ReasonNoEvidence     = "no_evidence"
	ReasonConfirmRefusal = "refusal_to_confirm"
)

// reasonTexts are the French sentences staff read; %s/%d take reason's
// arguments in order.
var reasonTexts = map[string]string{
	ReasonInvitationValid:     "Invitation de la préfecture %s vérifiée (%s), valable jusqu'au %s inclus.",
	ReasonCCCEmailVerified:    "Courriel du centre de contact citoyens (%s) joint au dossier : signature DKIM vérifiée, il atteste l'impossibilité de déposer en ligne.",
	ReasonCCCTicketRegistered: "Numéro de ticket du centre de contact citoyens %s présent dans le registre importé.",

	ReasonInvitationReused: "Cette invitation a déjà été présentée dans le(s) dossier(s) %s : les dossiers sont liés (un second envoi du même demandeur est normal).",

	ReasonNameMismatch:        "Le nom de l'expéditeur ne correspond pas à celui de l'invitation %s, et ce nom n'a pas été retrouvé dans les textes du dossier : vérifier qu'il s'agit bien du demandeur invité (l'envoi peut venir d'un tiers qui l'aide).",
	ReasonConsumedByOther:     "L'invitation %s a déjà été présentée dans le(s) dossier(s) %s sous un autre nom : vérifier qu'elle n'est pas utilisée par une autre personne.",
	ReasonTerritoryDepartment: "L'invitation %s a été délivrée pour le département %s, que ce site ne dessert pas (%s).",
	ReasonTerritoryAddress:    "L'adresse de l'expéditeur est dans le département %s, que ce site ne dessert pas (%s) : vérifier la compétence territoriale.",
	ReasonEvidenceConflict:    "Le dossier contient à la fois un justificatif valable et un justificatif faux ou invalide : à examiner.",

	ReasonKeyUnknown:           "Le code QR de l'invitation %s est signé par une clé inconnue de ce site (%s) : authenticité non vérifiable automatiquement.",
	ReasonCodeUnreadable:       "Un code d'invitation a été trouvé (%s) mais n'a pas pu être lu entièrement : le vérifier à l'œil.",
	ReasonReferenceTypo:        "La référence « %s » ressemble à une référence d'invitation mais comporte une erreur (%s)%s.",
	ReasonNotInRegistry:        "L'invitation %s porte une signature valide de la préfecture mais ne figure pas dans son registre : à vérifier.",
	ReasonRegistryMismatch:     "L'invitation %s figure au registre, mais le code QR présenté n'est pas celui de la lettre délivrée : à vérifier.",
	ReasonSiteUnknown:          "La référence %s désigne un service (%s) qui n'est pas configuré ici : authenticité non vérifiable automatiquement.",
	ReasonOtherSiteCheck:       "L'invitation %s a été délivrée par %s, autre service du même département ou compétent pour le demandeur : vérifier la compétence.",
	ReasonRevokedAfterSending:  "L'invitation %s a été révoquée le %s, après la date retenue pour l'envoi (%s) : à examiner.",
	ReasonExpiredNoPostmark:    "L'invitation %s a expiré le %s ; le courrier est arrivé le %s mais la date du cachet de la poste n'a pas été enregistrée : la vérifier (elle fait foi, CRPA L112-1).",
	ReasonKeyRetiredRegistered: "L'invitation %s figure au registre mais est signée d'une clé retirée avant sa date de délivrance : à vérifier.",
	ReasonCCCUnsigned:          "Un courriel du centre de contact citoyens (%s) est joint mais n'est pas signé par un domaine configuré : authenticité non vérifiable automatiquement.",
	ReasonCCCKeyUnknown:        "Le courriel du centre de contact citoyens (%s) est signé par une clé DKIM non épinglée dans la configuration (%s) : authenticité non vérifiable automatiquement.",
	ReasonCCCDKIMFailed:        "La signature DKIM du courriel du centre de contact citoyens (%s) ne correspond plus à son contenu (%s) : il a pu être modifié, ou transformé par une messagerie. À vérifier.",
	ReasonCCCNoStatement:       "Le courriel du centre de contact citoyens (%s) est authentique mais aucune formule attestant l'impossibilité de déposer en ligne n'y a été trouvée : le lire.",
	ReasonCCCTicketUnknown:     "Le numéro de ticket du centre de contact citoyens %s ne figure pas dans le registre importé : à vérifier.",
	ReasonCCCTicketUnverified:  "Numéro de ticket du centre de contact citoyens %s trouvé ; aucun registre n'est configuré pour le vérifier.",
	ReasonCCCPrintout:          "Une copie (impression ou transfert dans le corps du message) d'un courriel du centre de contact citoyens a été trouvée (%s) : sans l'original signé, elle n'est pas vérifiable automatiquement.",
	ReasonImpossibilityStated:  "Le demandeur indique ne pas avoir pu déposer en ligne (%s), sans justificatif vérifiable : à examiner.",
	ReasonDocumentNotSearched:  "Contenu non examiné : %s (%s) ; un justificatif peut s'y trouver.",
	ReasonSearchBounded:        "La recherche de codes QR a été arrêtée à sa limite (%s) : des images ou des pages n'ont pas été examinées.",

	ReasonForged:         "Le code QR de l'invitation %s n'est pas authentique (%s).",
	ReasonRevoked:        "L'invitation %s a été révoquée le %s.",
	ReasonExpired:        "L'invitation %s a expiré le %s ; date retenue : %s.",
	ReasonUnknown:        "La référence %s n'a jamais été délivrée par %s (absente de son registre).",
	ReasonOtherSite:      "L'invitation %s a été délivrée par %s, qui n'est pas la préfecture compétente pour ce site.",
	ReasonNoEvidence:     "Aucun justificatif de l'article 4 n'a été trouvé : ni invitation de la préfecture, ni document du centre de contact citoyens.",
	ReasonConfirmRefusal: "Irrecevabilité seulement proposée : un agent doit la confirmer avant toute réponse au demandeur.",
}

// reason builds a Reason; args fill the French sentence.
func reason(code string, args ...any) storage.Reason {
	text, ok := reasonTexts[code]
	if !ok {
		text = code
	}
	if len(args) > 0 {
		text = fmt.Sprintf(text, args...)
	}
	return storage.Reason{Code: code, Text: text}
}

// ReasonCodes lists every reason code Decide and the verification may give,
// for documentation and for the staff interface's filters.
func ReasonCodes() []string {
	out := make([]string, 0, len(reasonTexts))
	for c := range reasonTexts {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// frenchDay writes a calendar day as "2 mars 2026".
func frenchDay(t time.Time) string { return FrenchDate(t) }
