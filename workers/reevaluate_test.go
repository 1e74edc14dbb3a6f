package workers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// fixedAssessor proposes one outcome, with one reason.
type fixedAssessor struct{ outcome storage.Outcome }

func (a fixedAssessor) Assess(_ context.Context, s *validate.Submission) (validate.Assessment, error) {
	if s.Dossier == "" {
		return validate.Assessment{}, fmt.Errorf("no dossier number in the submission")
	}
	return validate.Assessment{Decision: storage.Decision{Outcome: a.outcome,
		Reasons: []storage.Reason{{Code: "test_" + string(a.outcome), Text: "test"}}}}, nil
}

// TestReevaluate: reprocessing a registered item runs the assessment again
// on its dossiers, which keep their numbers; the status follows the new
// proposal while staff have not acted, and stays where staff put it
// otherwise.
func TestReevaluate(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	o := testOptions(t, b)
	o.Assessor = fixedAssessor{storage.OutcomeAVerifier}
	p := newPipeline(t, o)
	first, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", message("re1@example.org", "a@example.org", "s", "b", [2]string{"a.txt", "A"}), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", message("re2@example.org", "a@example.org", "s", "b", [2]string{"a.txt", "B"}), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Staff hand the second one over to instruction.
	d := storage.Dossiers{Bucket: b}
	m, etag, err := d.Get(ctx, second.Numbers[0])
	if err != nil {
		t.Fatal(err)
	}
	m.Status = storage.StatusEnInstruction
	if _, err := d.Update(ctx, m, etag); err != nil {
		t.Fatal(err)
	}

	o.Assessor = fixedAssessor{storage.OutcomeRecevable}
	p2 := newPipeline(t, o)
	res, err := p2.Reprocess(ctx, first.Raw)
	if err != nil || res.Numbers[0] != first.Numbers[0] {
		t.Fatalf("Reprocess = %+v, %v; want the same dossier %s", res, err, first.Numbers[0])
	}
	m1, _, _ := d.Get(ctx, first.Numbers[0])
	if m1.Status != storage.StatusRecevable || m1.Decision.Outcome != storage.OutcomeRecevable || m1.History[len(m1.History)-1].Action != "reevaluated" {
		t.Errorf("first dossier after re-evaluation: status %s, outcome %s, history %+v", m1.Status, m1.Decision.Outcome, m1.History)
	}
	if q := keys(t, b, storage.QueuePrefix("75", storage.StatusRecevable)); len(q) != 1 {
		t.Errorf("queue recevable holds %v, want the first dossier", q)
	}

	if err := p2.ReprocessLater(ctx, second.Raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, func() (bool, string) {
		m2, _, _ := d.Get(ctx, second.Numbers[0])
		return m2.Decision.Outcome == storage.OutcomeRecevable, "outcome " + string(m2.Decision.Outcome)
	})
	m2, _, _ := d.Get(ctx, second.Numbers[0])
	if m2.Status != storage.StatusEnInstruction {
		t.Errorf("second dossier status %s after re-evaluation, want en_instruction kept", m2.Status)
	}
	if n := len(dossiers(t, b)); n != 2 {
		t.Errorf("%d dossiers, want 2", n)
	}
	checkNumbers(t, b, dossiers(t, b), "75", 2026)
}
