package web

import (
	"slices"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

// TestWorkflowApplies lists which actions apply to which status: the
// transitions of dossier_workflow.go, read back as a table.
func TestWorkflowApplies(t *testing.T) {
	want := map[*actionDef][]storage.Status{
		actTake:                {"recevable", "a_verifier", "irrecevable_propose", "en_instruction", "pieces_manquantes", "irrecevable"},
		actRelease:             {"recevable", "a_verifier", "irrecevable_propose", "en_instruction", "pieces_manquantes", "irrecevable"},
		actConfirmAdmissible:   {"a_verifier", "irrecevable_propose", "pieces_manquantes"},
		actHandOver:            {"recevable"},
		actRequestPieces:       {"recevable", "a_verifier", "en_instruction"},
		actConfirmInadmissible: {"a_verifier", "irrecevable_propose"},
		actClose:               {"en_instruction", "pieces_manquantes", "irrecevable"},
		actReprocess:           {"recevable", "a_verifier", "irrecevable_propose", "en_instruction", "pieces_manquantes", "irrecevable"},
	}
	for _, a := range actions {
		var got []storage.Status
		for _, st := range storage.Statuses {
			if a.applies(st) {
				got = append(got, st)
			}
		}
		if !slices.Equal(got, want[a]) {
			t.Errorf("%s applies to %v, want %v", a.API, got, want[a])
		}
	}
}

// TestWorkflowApply checks each action's parameters and effects.
func TestWorkflowApply(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 3, 10, 22, 30, 0, 0, time.UTC) // 23:30 in Paris; +30 days crosses into summer time
	agent := &Principal{ID: "agent1", Roles: []Role{RoleAgent}}
	sup := &Principal{ID: "sup1", Roles: []Role{RoleSuperviseur}}
	tests := []struct {
		name     string
		status   storage.Status
		assigned string
		who      *Principal
		a        *actionDef
		p        actionParams
		refused  string // part of the refusal, "" for success
		status2  storage.Status
		detail   string
	}{
		{"take", "recevable", "", agent, actTake, actionParams{}, "", "recevable", ""},
		{"take again", "recevable", "agent1", agent, actTake, actionParams{}, "déjà pris", "", ""},
		{"take another's", "recevable", "agent2", agent, actTake, actionParams{}, "déjà pris par agent2", "", ""},
		{"supervisor takes over", "recevable", "agent2", sup, actTake, actionParams{}, "", "recevable", "repris à agent2"},
		{"release nobody's", "recevable", "", agent, actRelease, actionParams{}, "n'est pris par personne", "", ""},
		{"act on another's", "recevable", "agent2", agent, actHandOver, actionParams{ANEF: "7501-2026-1"}, "pris en charge par agent2", "", ""},
		{"hand over", "recevable", "", agent, actHandOver, actionParams{ANEF: " 7501-2026-0004521 "}, "", "en_instruction", "n° ANEF 7501-2026-0004521"},
		{"hand over without number", "recevable", "", agent, actHandOver, actionParams{}, "numéro ANEF", "", ""},
		{"hand over a verifier", "a_verifier", "", agent, actHandOver, actionParams{ANEF: "7501-2026-1"}, "Action impossible", "", ""},
		{"admissible without note", "a_verifier", "", agent, actConfirmAdmissible, actionParams{}, "Indiquez ce que vous avez vérifié", "", ""},
		{"admissible", "irrecevable_propose", "", agent, actConfirmAdmissible, actionParams{Comment: "Invitation retrouvée au registre"}, "", "recevable", "Invitation retrouvée au registre"},
		{"pieces arrived", "pieces_manquantes", "", agent, actConfirmAdmissible, actionParams{}, "", "recevable", ""},
		{"pieces", "recevable", "", agent, actRequestPieces, actionParams{Pieces: []string{"Passeport\n", " ", "Justificatif de domicile"}, Deadline: now.AddDate(0, 0, 30)}, "", "pieces_manquantes", "2 pièce(s), au plus tard le 10/04/2026"},
		{"pieces due today", "recevable", "", agent, actRequestPieces, actionParams{Pieces: []string{"Passeport"}, Deadline: now.Add(20 * time.Minute)}, "postérieure à aujourd'hui", "", ""},
		{"pieces none", "recevable", "", agent, actRequestPieces, actionParams{Pieces: []string{" "}, Deadline: now.AddDate(0, 0, 30)}, "au moins une pièce", "", ""},
		{"inadmissible without reason", "irrecevable_propose", "", agent, actConfirmInadmissible, actionParams{}, "motif", "", ""},
		{"inadmissible", "irrecevable_propose", "", agent, actConfirmInadmissible, actionParams{Reason: "Invitation révoquée", Comment: "vu au registre"}, "", "irrecevable", "Invitation révoquée — vu au registre"},
		{"close", "irrecevable", "", agent, actClose, actionParams{Reason: "Irrecevabilité notifiée"}, "", "clos", "Irrecevabilité notifiée"},
		{"close a recevable", "recevable", "", agent, actClose, actionParams{Reason: "x"}, "Action impossible", "", ""},
		{"too long", "irrecevable_propose", "", agent, actConfirmInadmissible, actionParams{Reason: strings.Repeat("é", maxText+1)}, "trop long", "", ""},
	}
	for _, tc := range tests {
		m := &storage.Manifest{Status: tc.status, AssignedTo: tc.assigned}
		err := tc.a.apply(m, tc.p, tc.who, now, paris)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s: %v, want a refusal with %q", tc.name, err, tc.refused)
			}
			if len(m.History) != 0 || m.Status != tc.status {
				t.Errorf("%s: a refused action changed the manifest", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		h := m.History[len(m.History)-1]
		if m.Status != tc.status2 || h.Actor != tc.who.ID || h.Action != tc.a.Code || h.Detail != tc.detail {
			t.Errorf("%s: status %s, history %+v; want %s, detail %q", tc.name, m.Status, h, tc.status2, tc.detail)
		}
	}
}
