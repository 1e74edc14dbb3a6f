package web

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"recevable/storage"
)

// The review workflow: which action applies to which status, what it
// needs, and what it changes in the manifest. The pipeline proposes
// (recevable, a_verifier, irrecevable_propose); staff decide (arrêté
// 2023-08-01 art. 4: never refuse automatically), and every decision is
// written in the manifest's history and the audit log.
//
//	a_verifier ──────────┐ confirm admissible
//	irrecevable_propose ─┤──────────────────► recevable ──hand over (ANEF n°)──► en_instruction ──close──► clos
//	pieces_manquantes ───┘                       │  ▲                               │
//	            ▲       request pieces (L114-5)  │  └──────────────────────────────┘ (request pieces)
//	            └────────────────────────────────┘
//	irrecevable_propose / a_verifier ──confirm inadmissible (reason)──► irrecevable ──close──► clos
//
// Take and release change only who holds the dossier; reprocess runs the
// pipeline again on the original.

// actionDef describes one action.
type actionDef struct {
	// Code is written in the manifest's history; Audit in the audit log;
	// API is the action's name in /api/dossiers/{number}/<API>.
	Code, Audit, API string
	// Label is the button's French label; Done the confirmation shown.
	Label, Done string
	// From lists the statuses it applies to; nil: every status but clos.
	From []storage.Status
	// To is the status it sets; "" keeps the status.
	To storage.Status
}

var (
	actTake = &actionDef{Code: "prise", Audit: "dossier.take", API: "take",
		Label: "Prendre le dossier", Done: "Vous avez pris ce dossier."}
	actRelease = &actionDef{Code: "liberation", Audit: "dossier.release", API: "release",
		Label: "Libérer le dossier", Done: "Le dossier est libéré."}
	actConfirmAdmissible = &actionDef{Code: "recevabilite_confirmee", Audit: "dossier.admissible", API: "confirm-admissible",
		Label: "Confirmer la recevabilité", Done: "La recevabilité est confirmée.",
		From: []storage.Status{storage.StatusAVerifier, storage.StatusIrrecevablePropose, storage.StatusPiecesManquantes},
		To:   storage.StatusRecevable}
	actHandOver = &actionDef{Code: "transmission_instruction", Audit: "dossier.hand_over", API: "hand-over",
		Label: "Transmettre à l'instruction", Done: "Le dossier est transmis à l'instruction.",
		From: []storage.Status{storage.StatusRecevable}, To: storage.StatusEnInstruction}
	actRequestPieces = &actionDef{Code: "pieces_demandees", Audit: "dossier.pieces", API: "request-pieces",
		Label: "Demander des pièces", Done: "La demande de pièces est enregistrée.",
		From: []storage.Status{storage.StatusRecevable, storage.StatusAVerifier, storage.StatusEnInstruction},
		To:   storage.StatusPiecesManquantes}
	actConfirmInadmissible = &actionDef{Code: "irrecevabilite_confirmee", Audit: "dossier.inadmissible", API: "confirm-inadmissible",
		Label: "Confirmer l'irrecevabilité", Done: "L'irrecevabilité est confirmée.",
		From: []storage.Status{storage.StatusIrrecevablePropose, storage.StatusAVerifier},
		To:   storage.StatusIrrecevable}
	actClose = &actionDef{Code: "cloture", Audit: "dossier.close", API: "close",
		Label: "Clore le dossier", Done: "Le dossier est clos.",
		From: []storage.Status{storage.StatusEnInstruction, storage.StatusIrrecevable, storage.StatusPiecesManquantes},
		To:   storage.StatusClos}
	actReprocess = &actionDef{Code: "retraitement", Audit: "dossier.reprocess", API: "reprocess",
		Label: "Retraiter", Done: "Le retraitement est demandé : le dossier sera réévalué."}
)

// actions lists every action, in the order the dossier page shows them.
var actions = []*actionDef{actTake, actRelease, actConfirmAdmissible, actHandOver, actRequestPieces, actConfirmInadmissible, actClose, actReprocess}

// actionParams are what an agent typed for an action.
type actionParams struct {
	ANEF     string    `json:"anef,omitempty"`
	Pieces   []string  `json:"pieces,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Comment  string    `json:"comment,omitempty"`
}

// actionError is a refusal to show the agent, in French.
type actionError struct{ msg string }

func (e *actionError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &actionError{fmt.Sprintf(format, args...)} }

// applies reports whether a applies to a dossier in status st.
func (a *actionDef) applies(st storage.Status) bool {
	if a.From == nil {
		return st != storage.StatusClos
	}
	return slices.Contains(a.From, st)
}

// anefPattern accepts the forms an ANEF application number takes once
// typed: letters, digits and separators, 6 to 40 characters. Its exact
// format is ANEF's; this only refuses what cannot be one.
var anefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ./-]{4,38}[A-Za-z0-9]$`)

// maxText bounds free text typed in an action (reasons, pieces, comments).
const maxText = 1000

// apply changes m for action a by actor (who holds roles), at now, in the
// site's time zone loc. It changes nothing and returns an *actionError when
// the action does not apply or its parameters are wrong.
func (a *actionDef) apply(m *storage.Manifest, p actionParams, actor *Principal, now time.Time, loc *time.Location) error {
	if !a.applies(m.Status) {
		return refuse("Action impossible : le dossier est « %s ».", statusLabel(m.Status))
	}
	supervisor := actor.Has(RoleSuperviseur)
	if m.AssignedTo != "" && m.AssignedTo != actor.ID && !supervisor && a != actTake {
		return refuse("Ce dossier est pris en charge par %s : seul lui ou un superviseur peut agir dessus.", m.AssignedTo)
	}
	if utf8Len(p.Reason) > maxText || utf8Len(p.Comment) > maxText || len(p.Pieces) > 50 {
		return refuse("Le texte saisi est trop long (%d caractères au plus).", maxText)
	}
	detail := strings.TrimSpace(p.Comment)
	switch a {
	case actTake:
		switch {
		case m.AssignedTo == actor.ID:
			return refuse("Vous avez déjà pris ce dossier.")
		case m.AssignedTo != "" && !supervisor:
			return refuse("Ce dossier est déjà pris par %s. Seul un superviseur peut le reprendre.", m.AssignedTo)
		case m.AssignedTo != "":
			detail = "repris à " + m.AssignedTo
		}
		m.AssignedTo = actor.ID
	case actRelease:
		if m.AssignedTo == "" {
			return refuse("Ce dossier n'est pris par personne.")
		}
		m.AssignedTo = ""
	case actConfirmAdmissible:
		if detail == "" && m.Status != storage.StatusPiecesManquantes {
			return refuse("Indiquez ce que vous avez vérifié pour confirmer la recevabilité.")
		}
		m.Missing = nil
	case actHandOver:
		anef := strings.TrimSpace(p.ANEF)
		if !anefPattern.MatchString(anef) {
			return refuse("Le numéro ANEF est requis (6 à 40 lettres, chiffres, points, tirets ou barres obliques).")
		}
		m.ANEF = anef
		detail = "n° ANEF " + anef
	case actRequestPieces:
		var pieces []string
		for _, piece := range p.Pieces {
			if piece = strings.TrimSpace(piece); piece != "" {
				pieces = append(pieces, piece)
			}
		}
		if len(pieces) == 0 {
			return refuse("Indiquez au moins une pièce manquante.")
		}
		today := civilDay(now, loc)
		if p.Deadline.IsZero() || !civilDay(p.Deadline, loc).After(today) {
			return refuse("Indiquez une date limite postérieure à aujourd'hui (CRPA L114-5).")
		}
		m.Missing = &storage.MissingPieces{Pieces: pieces, Deadline: p.Deadline.UTC()}
		detail = fmt.Sprintf("%d pièce(s), au plus tard le %s", len(pieces), p.Deadline.In(loc).Format("02/01/2006"))
	case actConfirmInadmissible, actClose:
		reason := strings.TrimSpace(p.Reason)
		if reason == "" {
			return refuse("Indiquez le motif.")
		}
		detail = joinNonEmpty(" — ", reason, detail)
	case actReprocess:
		// The caller has asked the Reprocessor first.
	}
	if a.To != "" {
		m.Status = a.To
	}
	m.History = append(m.History, storage.HistoryEntry{At: now.UTC(), Actor: actor.ID, Action: a.Code, Detail: detail})
	return nil
}

// civilDay is t's calendar day in loc.
func civilDay(t time.Time, loc *time.Location) time.Time {
	y, mo, d := t.In(loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, loc)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func utf8Len(s string) int { return len([]rune(s)) }
