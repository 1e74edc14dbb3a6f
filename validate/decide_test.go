package validate

import (
	"slices"
	"testing"
	"time"

	"recevable/storage"
)

// TestDecide checks the decision table itself, on findings built by hand.
func TestDecide(t *testing.T) {
	t.Parallel()
	item := func(verdict, code string, flags ...string) Finding {
		f := Finding{Evidence: storage.Evidence{Kind: storage.EvidenceInvitation, Verdict: verdict}, Reason: reason(code)}
		for _, fl := range flags {
			f.Flags = append(f.Flags, reason(fl))
		}
		return f
	}
	valid := item(VerdictValid, ReasonInvitationValid)
	unverifiable := item(VerdictUnverifiable, ReasonKeyUnknown)
	invalid := item(VerdictInvalid, ReasonForged)
	gap := Gap{Reason: reason(ReasonDocumentNotSearched)}
	stated := reason(ReasonImpossibilityStated)
	address := reason(ReasonTerritoryAddress)

	for _, tc := range []struct {
		name  string
		f     Findings
		want  storage.Outcome
		first string // first reason
	}{
		{"nothing", Findings{}, storage.OutcomeIrrecevablePropose, ReasonNoEvidence},
		{"valid", Findings{Items: []Finding{valid}}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid and unverifiable", Findings{Items: []Finding{unverifiable, valid}}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid and a gap", Findings{Items: []Finding{valid}, Gaps: []Gap{gap}}, storage.OutcomeRecevable, ReasonInvitationValid},
		{"valid with a flag", Findings{Items: []Finding{item(VerdictValid, ReasonInvitationValid, ReasonNameMismatch)}}, storage.OutcomeAVerifier, ReasonNameMismatch},
		{"valid and a submission flag", Findings{Items: []Finding{valid}, Flags: []storage.Reason{address}}, storage.OutcomeAVerifier, ReasonTerritoryAddress},
		{"valid and invalid", Findings{Items: []Finding{valid, invalid}}, storage.OutcomeAVerifier, ReasonEvidenceConflict},
		{"unverifiable", Findings{Items: []Finding{unverifiable}}, storage.OutcomeAVerifier, ReasonKeyUnknown},
		{"unverifiable and invalid", Findings{Items: []Finding{invalid, unverifiable}}, storage.OutcomeAVerifier, ReasonKeyUnknown},
		{"gap only", Findings{Gaps: []Gap{gap}}, storage.OutcomeAVerifier, ReasonDocumentNotSearched},
		{"invalid and a gap", Findings{Items: []Finding{invalid}, Gaps: []Gap{gap}}, storage.OutcomeAVerifier, ReasonDocumentNotSearched},
		{"stated only", Findings{Stated: []storage.Reason{stated}}, storage.OutcomeAVerifier, ReasonImpossibilityStated},
		{"invalid", Findings{Items: []Finding{invalid}}, storage.OutcomeIrrecevablePropose, ReasonForged},
		{"invalid with a submission flag", Findings{Items: []Finding{invalid}, Flags: []storage.Reason{address}}, storage.OutcomeIrrecevablePropose, ReasonForged},
		{"nothing but a submission flag", Findings{Flags: []storage.Reason{address}}, storage.OutcomeIrrecevablePropose, ReasonNoEvidence},
		{"unknown verdict", Findings{Items: []Finding{item("", ReasonCodeUnreadable)}}, storage.OutcomeAVerifier, ReasonCodeUnreadable},
	} {
		at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
		d := Decide(tc.f, at)
		if d.Outcome != tc.want {
			t.Errorf("Decide(%s) = %v, want %v (reasons %v)", tc.name, d.Outcome, tc.want, reasonCodes(d))
			continue
		}
		if len(d.Reasons) == 0 || d.Reasons[0].Code != tc.first {
			t.Errorf("Decide(%s) reasons = %v, want %s first", tc.name, reasonCodes(d), tc.first)
		}
		codes := reasonCodes(d)
		if d.Outcome == storage.OutcomeIrrecevablePropose && !slices.Contains(codes, ReasonConfirmRefusal) {
			t.Errorf("Decide(%s): a proposed refusal must say that staff confirm it: %v", tc.name, codes)
		}
		if d.Outcome != storage.OutcomeIrrecevablePropose && slices.Contains(codes, ReasonConfirmRefusal) {
			t.Errorf("Decide(%s): %s without a proposed refusal", tc.name, ReasonConfirmRefusal)
		}
		if d.Rule != Rule || !d.At.Equal(at) {
			t.Errorf("Decide(%s): rule %q at %v", tc.name, d.Rule, d.At)
		}
		// Every flag and every failed piece is written in the reasons: no
		// verification failure passes silently.
		for _, it := range tc.f.Items {
			if it.Evidence.Verdict != VerdictValid && !slices.Contains(codes, it.Reason.Code) {
				t.Errorf("Decide(%s): reason %s of a non-valid piece is missing from %v", tc.name, it.Reason.Code, codes)
			}
			for _, fl := range it.Flags {
				if !slices.Contains(codes, fl.Code) {
					t.Errorf("Decide(%s): flag %s missing from %v", tc.name, fl.Code, codes)
				}
			}
		}
		for _, fl := range tc.f.Flags {
			if !slices.Contains(codes, fl.Code) {
				t.Errorf("Decide(%s): flag %s missing from %v", tc.name, fl.Code, codes)
			}
		}
	}
}

// TestReasonTexts: every code has a French sentence whose arguments match
// what the code gives.
func TestReasonTexts(t *testing.T) {
	t.Parallel()
	codes := ReasonCodes()
	if !slices.IsSorted(codes) || len(codes) < 30 {
		t.Fatalf("ReasonCodes() = %v", codes)
	}
	for _, c := range codes {
		if reasonTexts[c] == "" {
			t.Errorf("reason %s has no text", c)
		}
	}
}
