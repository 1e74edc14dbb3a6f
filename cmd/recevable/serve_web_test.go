package main

import (
	"bytes"
	"context"
	"image"
	"io"
	"testing"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
	"recevable/web"
	"recevable/workers"
)

// TestPipelineMailroom: an upload through the adapter gets its number at
// once; a refused upload is a permanent error (shown to the clerk), and
// nothing is stored for it.
func TestPipelineMailroom(t *testing.T) {
	ctx := context.Background()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A nil Assessor is for tests only: dossiers are proposed a_verifier.
	p, err := workers.New(workers.Options{Bucket: b, Sites: []workers.Site{{ID: "pp"}}, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	qr := func(s string) (image.Image, error) { return validate.EncodeQR(s) }
	pages, err := intake.ScanPages([]intake.SimPage{{Lines: []string{"Madame, Monsieur,"}}}, intake.ScanStyle{DPI: 100}, qr)
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	m := pipelineMailroom{p}
	r, err := m.Submit(ctx, web.MailroomSubmission{Site: "pp", UploadedBy: "u1",
		Files: []web.MailroomFile{{Name: "lettre.jpg", Type: "image/jpeg", Size: int64(len(pages[0])), Open: open(pages[0])}}})
	if err != nil || r.Raw == "" || r.Number == "" {
		t.Fatalf("Submit = %+v, %v; want a raw sha and a number", r, err)
	}
	_, err = m.Submit(ctx, web.MailroomSubmission{Site: "pp", Files: []web.MailroomFile{
		{Name: "a.jpg", Open: open(pages[0])}, {Name: "b.pdf", Open: open([]byte("%PDF-1.4\n"))}}})
	if !intake.IsPermanent(err) {
		t.Errorf("image + PDF: %v, want a permanent error", err)
	}
	if err := (pipelineReprocessor{p}).Reprocess(ctx, "0000000000000000000000000000000000000000000000000000000000000000"); err == nil {
		t.Errorf("Reprocess of an unknown raw item accepted, want an error (nothing queued)")
	}
}
