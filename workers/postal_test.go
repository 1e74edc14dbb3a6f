package workers

import (
	"context"
	"errors"
	"image"
	"testing"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// TestPostalBatch: a scanned batch of two letters with a separator sheet
// between them (intake's sample, as the mailroom's scanner leaves it)
// becomes two dossiers numbered by letter, each holding its letter as a
// PDF; processed again after losing its done marker (a crash before it), it
// finds the same two dossiers and makes no other.
func TestPostalBatch(t *testing.T) {
	ctx := context.Background()
	qr := func(s string) (image.Image, error) { return validate.EncodeQR(s) }
	scan, err := intake.SampleBatch(ctx, qr, "")
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket(t)
	o := testOptions(t, b)
	o.Sources = []Source{{
		ID: "drop:courrier", Site: "75", Channel: storage.ChannelPostal,
		Open:  func() (intake.Source, error) { return nil, errors.New("not polled in this test") },
		Split: intake.SplitOptions{Separators: true},
	}}
	p := newPipeline(t, o)
	item := memItem("drop:courrier", scan, map[string]string{intake.CoordDrop: "courrier", intake.CoordName: "lot-0001.pdf"})
	res, err := p.Handle(ctx, "75", storage.ChannelPostal, item, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != ResultStored || len(res.Numbers) != 2 {
		t.Fatalf("Handle = %+v; want two dossiers", res)
	}
	ms := dossiers(t, b)
	for i, n := range res.Numbers {
		m := ms[n]
		if m == nil || m.Channel != storage.ChannelPostal || len(m.Documents) != 1 || m.Documents[0].Role != "scan" ||
			m.Documents[0].Type != "application/pdf" || m.Postal == nil || m.Postal.Received == nil {
			t.Fatalf("letter %d: dossier %s = %+v; want one scanned PDF and a receipt date", i+1, n, m)
		}
		if want := "pages"; len(m.Documents[0].Path) < len(want) || m.Documents[0].Path[:len(want)] != want {
			t.Errorf("letter %d: document path %q, want its pages", i+1, m.Documents[0].Path)
		}
	}
	if err := b.Delete(ctx, "index/done/"+res.Raw); err != nil {
		t.Fatal(err)
	}
	o.Now = nil
	p2 := newPipeline(t, o)
	again, err := p2.Reprocess(ctx, res.Raw)
	if err != nil || again.Result != ResultStored || len(again.Numbers) != 2 || again.Numbers[0] != res.Numbers[0] || again.Numbers[1] != res.Numbers[1] {
		t.Fatalf("replay = %+v, %v; want the same two numbers %v", again, err, res.Numbers)
	}
	if n := len(dossiers(t, b)); n != 2 {
		t.Errorf("%d dossiers after the replay, want 2", n)
	}
	checkNumbers(t, b, dossiers(t, b), "75", 2026)
}
