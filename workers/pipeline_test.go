package workers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestHandleEmail: one message becomes one dossier with its documents,
// manifest, queue marker and done marker; the same bytes again are a
// duplicate that creates nothing.
func TestHandleEmail(t *testing.T) {
	b := newBucket(t)
	p := newPipeline(t, testOptions(t, b))
	ctx := context.Background()
	raw := message("a1@example.org", "demandeur@example.org", "Dépôt", "Bonjour",
		[2]string{"passeport.txt", "PASSEPORT"}, [2]string{"justificatif.txt", "JUSTIFICATIF"})
	var acks ackRecorder
	res, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, map[string]string{"mailbox": "INBOX", "uid": "7"}), acks.ack)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != ResultStored || res.Raw != sha(raw) || len(res.Numbers) != 1 || res.Numbers[0] != "75-2026-000001" {
		t.Fatalf("Handle = %+v; want stored as 75-2026-000001, raw %s", res, sha(raw))
	}
	if len(acks.got) != 1 || acks.got[0] != intake.Processed {
		t.Errorf("acks = %v, want [processed]", acks.got)
	}
	ms := dossiers(t, b)
	m := ms["75-2026-000001"]
	if m == nil {
		t.Fatalf("no manifest; dossiers: %v", keys(t, b, "dossiers/"))
	}
	var names []string
	for _, d := range m.Documents {
		names = append(names, d.SafeName+":"+d.Role)
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "passeport.txt:attachment") || !strings.Contains(got, "justificatif.txt:attachment") || !strings.Contains(got, ":body-text") {
		t.Errorf("documents %s; want both attachments and the body", got)
	}
	if m.Raw != res.Raw || m.Status != storage.StatusAVerifier || m.Decision.Rule != ruleArt4 || m.Source["uid"] != "7" || m.Source["source"] != "imap:test/INBOX" {
		t.Errorf("manifest raw %s status %s rule %q source %v", m.Raw, m.Status, m.Decision.Rule, m.Source)
	}
	if q := keys(t, b, storage.QueuePrefix("75", storage.StatusAVerifier)); len(q) != 1 {
		t.Errorf("queue a_verifier holds %v, want one marker", q)
	}
	if d, err := p.raws.GetDone(ctx, res.Raw); err != nil || len(d.Numbers) != 1 {
		t.Errorf("done marker %+v, %v", d, err)
	}

	res2, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), acks.ack)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Result != ResultDuplicate || res2.Numbers[0] != "75-2026-000001" || len(dossiers(t, b)) != 1 {
		t.Errorf("same bytes again: %+v, %d dossiers; want a duplicate of 75-2026-000001 and no new dossier", res2, len(dossiers(t, b)))
	}
}

// TestMessageIDCopies: the same message with other bytes (another trace
// header), the same sender and the same attachments is a duplicate recorded
// on the first dossier; with another sender, or other attachments, it is a
// dossier of its own, linked to the first.
func TestMessageIDCopies(t *testing.T) {
	b := newBucket(t)
	p := newPipeline(t, testOptions(t, b))
	ctx := context.Background()
	first := message("same@example.org", "demandeur@example.org", "Dépôt", "Bonjour", [2]string{"a.txt", "A"})
	copy1 := append([]byte("Received: from relay2.example.org\r\n"), first...)
	other := message("same@example.org", "quelquun@example.net", "Dépôt", "Bonjour", [2]string{"a.txt", "A"})
	morePieces := message("same@example.org", "demandeur@example.org", "Dépôt", "Bonjour", [2]string{"a.txt", "A"}, [2]string{"b.txt", "B"})

	r1, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", first, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", copy1, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Result != ResultDuplicate || r2.DuplicateOf != r1.Raw || r2.Numbers[0] != r1.Numbers[0] {
		t.Errorf("copy = %+v; want a duplicate of %s (%s)", r2, r1.Raw, r1.Numbers[0])
	}
	m, _, err := p.dossiers.Get(ctx, r1.Numbers[0])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range m.History {
		found = found || h.Action == "duplicate_received" && strings.Contains(h.Detail, r2.Raw)
	}
	if !found {
		t.Errorf("history of %s = %+v; want the copy %s recorded", m.Number, m.History, r2.Raw)
	}

	for _, tc := range []struct {
		name string
		raw  []byte
	}{{"other sender", other}, {"other attachments", morePieces}} {
		r3, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", tc.raw, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r3.Result != ResultStored || r3.Numbers[0] == r1.Numbers[0] {
			t.Fatalf("same Message-ID, %s = %+v; want a dossier of its own", tc.name, r3)
		}
		m3, _, err := p.dossiers.Get(ctx, r3.Numbers[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(m3.Linked) != 1 || m3.Linked[0] != r1.Numbers[0] {
			t.Errorf("same Message-ID, %s: linked = %v, want [%s]", tc.name, m3.Linked, r1.Numbers[0])
		}
	}
	if n := len(dossiers(t, b)); n != 3 {
		t.Errorf("%d dossiers, want 3 (first, other sender, other attachments)", n)
	}
	checkNumbers(t, b, dossiers(t, b), "75", 2026)
}

// TestPermanentFailures: over a MIME limit, over the document limit, or a
// panic in a step: quarantined at once with the reason and the limit, the
// raw kept, nothing in dossiers/, no number taken.
func TestPermanentFailures(t *testing.T) {
	many := make([][2]string, 5)
	for i := range many {
		many[i] = [2]string{fmt.Sprintf("p%d.txt", i), "x"}
	}
	for _, tc := range []struct {
		name     string
		raw      []byte
		assessor validate.Assessor
		limit    string
		reason   string
	}{
		{"mime-bomb", mimeBomb(40), nil, intake.LimitMIMEDepth, "mime_depth"},
		{"documents", message("m@example.org", "a@example.org", "s", "b", many...), nil, LimitDocuments, "exceed the limit of 4"},
		{"panic", message("p@example.org", "a@example.org", "s", "b"), panicAssessor{}, "", "panic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBucket(t)
			o := testOptions(t, b)
			o.MaxDocuments = 4
			o.Assessor = tc.assessor
			p := newPipeline(t, o)
			var acks ackRecorder
			res, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", tc.raw, nil), acks.ack)
			if err != nil {
				t.Fatal(err)
			}
			if res.Result != ResultQuarantined || res.Quarantine == nil || len(acks.got) != 1 || acks.got[0] != intake.Quarantined {
				t.Fatalf("Handle = %+v, acks %v; want quarantined", res, acks.got)
			}
			qs := quarantined(t, b)
			if len(qs) != 1 || qs[0].Raw != sha(tc.raw) || qs[0].Limit != tc.limit || !strings.Contains(qs[0].Reason, tc.reason) || qs[0].Attempts != 1 {
				t.Errorf("quarantine = %+v; want one entry for %s, limit %q, reason containing %q, 1 attempt", qs, sha(tc.raw), tc.limit, tc.reason)
			}
			if tc.name == "panic" && !strings.Contains(qs[0].Reason, sha(tc.raw)) {
				t.Errorf("panic reason %q does not name the raw sha", qs[0].Reason)
			}
			if _, err := p.raws.Head(context.Background(), sha(tc.raw)); err != nil {
				t.Errorf("raw not kept: %v", err)
			}
			if k := keys(t, b, "dossiers/"); len(k) != 0 {
				t.Errorf("dossiers/ holds %v, want nothing", k)
			}
			// The panic happens after the number was reserved: it stays bound
			// to the item and is not reused (and reprocessing gets it back).
			if tc.name != "panic" {
				if last, _ := p.counter.Last(context.Background(), "75", 2026); last != 0 {
					t.Errorf("counter at %d, want no number taken", last)
				}
			}
		})
	}
}

type panicAssessor struct{}

func (panicAssessor) Assess(context.Context, *validate.Submission) (validate.Assessment, error) {
	var m map[string]int
	m["boom"]++ // a nil-map write: a real runtime panic
	return validate.Assessment{}, nil
}

// flakyBucket wraps a real bucket and fails Put calls while fail says so,
// the way an S3 endpoint answers 503.
type flakyBucket struct {
	storage.Bucket
	mu    sync.Mutex
	fails int // Puts still to fail; -1: all
	seen  int
}

var errUnavailable = errors.New("503 Service Unavailable (test double)")

func (f *flakyBucket) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.ETag, error) {
	f.mu.Lock()
	fail := f.fails != 0
	if f.fails > 0 {
		f.fails--
	}
	if fail {
		f.seen++
	}
	f.mu.Unlock()
	if fail {
		return "", fmt.Errorf("put %s: %w", key, errUnavailable)
	}
	return f.Bucket.Put(ctx, key, r, o)
}

// TestRetry: Puts failing with a 5xx are retried and the item goes through;
// when they keep failing past the budget the item is quarantined (if the
// quarantine itself can be written) or left at the source (if not).
func TestRetry(t *testing.T) {
	raw := message("r@example.org", "a@example.org", "s", "b", [2]string{"a.txt", "A"})
	t.Run("recovers", func(t *testing.T) {
		fb := &flakyBucket{Bucket: newBucket(t), fails: 2}
		o := testOptions(t, fb)
		p := newPipeline(t, o)
		var acks ackRecorder
		res, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), acks.ack)
		if err != nil || res.Result != ResultStored {
			t.Fatalf("Handle = %+v, %v; want stored after retries", res, err)
		}
		if got := testutil.ToFloat64(o.Metrics.IntakeItems.WithLabelValues("imap:test/INBOX", ResultRetried)); got != 2 {
			t.Errorf("retried = %v, want 2 (two failed puts)", got)
		}
		checkNumbers(t, fb, dossiers(t, fb), "75", 2026)
	})
	t.Run("budget", func(t *testing.T) {
		fb := &flakyBucket{Bucket: newBucket(t)}
		o := testOptions(t, fb)
		o.Assessor = failingAssessor{fb: fb}
		p := newPipeline(t, o)
		var acks ackRecorder
		res, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), acks.ack)
		if err != nil || res.Result != ResultQuarantined || res.Quarantine.Limit != LimitRetries {
			t.Fatalf("Handle = %+v, %v; want quarantined with limit %s", res, err, LimitRetries)
		}
		if !strings.Contains(res.Quarantine.Reason, "gave up after 3 attempts") || !strings.Contains(res.Quarantine.Reason, "503") {
			t.Errorf("reason %q; want the attempts and the last error", res.Quarantine.Reason)
		}
		if len(acks.got) != 1 || acks.got[0] != intake.Quarantined {
			t.Errorf("acks %v, want [quarantined]", acks.got)
		}
	})
	t.Run("unstored", func(t *testing.T) {
		fb := &flakyBucket{Bucket: newBucket(t), fails: -1}
		p := newPipeline(t, testOptions(t, fb))
		var acks ackRecorder
		_, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), acks.ack)
		if !errors.Is(err, errAbandoned) || !errors.Is(err, errUnavailable) || len(acks.got) != 0 {
			t.Errorf("Handle with the bucket down = %v, acks %v; want the item left at its source, not acked", err, acks.got)
		}
		if fb.seen != 3 {
			t.Errorf("%d puts tried, want 3 (the budget)", fb.seen)
		}
	})
}

// failingAssessor fails like an unreachable registry (a temporary error);
// the quarantine entry can still be written.
type failingAssessor struct{ fb *flakyBucket }

func (a failingAssessor) Assess(context.Context, *validate.Submission) (validate.Assessment, error) {
	return validate.Assessment{}, fmt.Errorf("invitation registry: %w", errUnavailable)
}

// TestRecoverAndReprocess: a raw item stored by a process that died before
// processing it is finished by the recovery scan; a quarantined item is
// turned into a dossier by Reprocess once the cause is fixed.
func TestRecoverAndReprocess(t *testing.T) {
	b := newBucket(t)
	ctx := context.Background()
	raw := message("rec@example.org", "a@example.org", "s", "b", [2]string{"a.txt", "A"})
	raws := storage.Raws{Bucket: b}
	_, err := raws.Store(ctx, storage.RawMeta{Source: "imap:test/INBOX", Coordinates: map[string]string{CoordSite: "75", CoordChannel: "email"}}, memItem("", raw, nil).Open)
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, b)
	// Recovery takes items older than the grace: look from a little later.
	o.Now = func() time.Time { return time.Now().Add(time.Minute) }
	p := newPipeline(t, o)
	n, err := p.RecoverOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RecoverOnce = %d, %v; want 1 item", n, err)
	}
	if ms := dossiers(t, b); len(ms) != 1 {
		t.Fatalf("%d dossiers after recovery, want 1", len(ms))
	}
	if n, err := p.RecoverOnce(ctx); err != nil || n != 0 {
		t.Errorf("second RecoverOnce = %d, %v; want nothing left", n, err)
	}

	bomb := mimeBomb(40)
	res, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", bomb, nil), nil)
	if err != nil || res.Result != ResultQuarantined {
		t.Fatalf("bomb: %+v, %v", res, err)
	}
	// Again without a fix: one more attempt on the same entry.
	res, err = p.Reprocess(ctx, res.Raw)
	if err != nil || res.Result != ResultQuarantined || res.Quarantine.Attempts != 2 {
		t.Fatalf("Reprocess unfixed = %+v, %v; want quarantined again, attempt 2", res, err)
	}
	// The fix: a deeper limit.
	o = testOptions(t, b)
	o.MIMELimits.MaxDepth = 64
	p2 := newPipeline(t, o)
	res, err = p2.Reprocess(ctx, res.Raw)
	if err != nil || res.Result != ResultStored {
		t.Fatalf("Reprocess fixed = %+v, %v; want stored", res, err)
	}
	if qs := quarantined(t, b); len(qs) != 0 {
		t.Errorf("quarantine after a successful reprocess: %+v", qs)
	}
	checkNumbers(t, b, dossiers(t, b), "75", 2026)
}

// TestConcurrentNumbers: items handled at once by many goroutines and two
// pipelines (two holders) on one bucket get numbers 1..n, none twice.
func TestConcurrentNumbers(t *testing.T) {
	b := newBucket(t)
	p1 := newPipeline(t, testOptions(t, b))
	p2 := newPipeline(t, testOptions(t, b))
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		raw := message(fmt.Sprintf("c%d@example.org", i), "a@example.org", "s", "b", [2]string{"a.txt", fmt.Sprint(i)})
		for _, p := range []*Pipeline{p1, p2} { // each item reaches both replicas
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ms := dossiers(t, b)
	if len(ms) != n {
		t.Errorf("%d dossiers, want %d", len(ms), n)
	}
	checkNumbers(t, b, ms, "75", 2026)
}

// TestMetrics reads the workers' series from a fresh registry after a few
// items: one stored, one duplicate, one quarantined.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := newBucket(t)
	o := testOptions(t, b)
	o.Metrics = NewMetrics(reg)
	p := newPipeline(t, o)
	ctx := context.Background()
	src := "imap:test/INBOX"
	raw := message("met@example.org", "a@example.org", "s", "b", [2]string{"a.txt", "A"})
	for _, r := range [][]byte{raw, raw, mimeBomb(40)} {
		if _, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem(src, r, nil), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.countQuarantine(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"stored", testutil.ToFloat64(o.Metrics.IntakeItems.WithLabelValues(src, ResultStored)), 1},
		{"duplicate", testutil.ToFloat64(o.Metrics.IntakeItems.WithLabelValues(src, ResultDuplicate)), 1},
		{"quarantined", testutil.ToFloat64(o.Metrics.IntakeItems.WithLabelValues(src, ResultQuarantined)), 1},
		{"dossiers", testutil.ToFloat64(o.Metrics.DossiersCreated.WithLabelValues("75", "email", "a_verifier")), 1},
		{"quarantine_items", testutil.ToFloat64(o.Metrics.QuarantineItems), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Every stage ran at least once for the stored item.
	n, err := testutil.GatherAndCount(reg, "recevable_stage_duration_seconds")
	if err != nil || n != 6 {
		t.Errorf("stage_duration_seconds has %d series (%v), want 6 (fetch, store_raw, parse, validate, verify, write_dossier)", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP recevable_quarantine_items Quarantine entries in the bucket.
# TYPE recevable_quarantine_items gauge
recevable_quarantine_items 1
`), "recevable_quarantine_items"); err != nil {
		t.Error(err)
	}
}
