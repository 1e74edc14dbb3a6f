package workers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"testing"
	"time"

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

// TestUpload: a letter uploaded as the images of its two pages, with the
// postmark and registered-letter number the clerk typed, becomes one
// dossier holding one PDF of two pages and those postal data; several
// files that are not all images are refused before anything is stored.
func TestUpload(t *testing.T) {
	ctx := context.Background()
	qr := func(s string) (image.Image, error) { return validate.EncodeQR(s) }
	pages, err := intake.ScanPages([]intake.SimPage{
		{Lines: []string{"Madame, Monsieur,", "Veuillez trouver ma demande."}},
		{Lines: []string{"Pièces jointes."}},
	}, intake.ScanStyle{DPI: 150}, qr)
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket(t)
	p := newPipeline(t, testOptions(t, b))
	postmark := time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)
	var files []UploadFile
	for i, pg := range pages {
		files = append(files, UploadFile{Name: fmt.Sprintf("page%d.jpg", i+1), Size: int64(len(pg)), Open: openBytes(pg)})
	}
	res, err := p.Upload(ctx, Upload{
		Site: "75", Files: files, UploadedBy: "agent-courrier",
		Postal: storage.Postal{Postmark: &postmark, Registered: "RR123456789FR"},
		Sender: storage.Party{Name: "Demandeur"},
	})
	if err != nil || res.Result != ResultStored || len(res.Numbers) != 1 {
		t.Fatalf("Upload = %+v, %v; want one dossier", res, err)
	}
	m := dossiers(t, b)[res.Numbers[0]]
	if m.Channel != storage.ChannelPostal || len(m.Documents) != 1 || m.Documents[0].Path != "pages 1-2" ||
		m.Postal == nil || m.Postal.Postmark == nil || m.Postal.Postmark.Format(time.DateOnly) != "2026-03-12" ||
		m.Postal.Registered != "RR123456789FR" || m.Sender == nil || m.Sender.Name != "Demandeur" ||
		m.Source[CoordUploadedBy] != "agent-courrier" {
		t.Errorf("dossier %s: channel %s, documents %+v, postal %+v, sender %+v, source %v", m.Number, m.Channel, m.Documents, m.Postal, m.Sender, m.Source)
	}

	_, err = p.Upload(ctx, Upload{Site: "75", Files: []UploadFile{files[0], {Name: "x.pdf", Open: openBytes([]byte("%PDF-1.4\n"))}}})
	if !errors.Is(err, ErrUpload) {
		t.Errorf("image + PDF: %v, want ErrUpload", err)
	}
	if n := len(keys(t, b, "raw/")); n != 1 {
		t.Errorf("%d raw objects, want 1 (the refused upload stores nothing)", n)
	}
}

func openBytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
