package validate

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// TestAssessConsumption: a real run records the dossier on the invitation
// (once, however often it is reprocessed); a dry run records nothing.
func TestAssessConsumption(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	ref, _ := ParseReference(inv.Reference)
	ctx := context.Background()

	dry := w.sub("")
	dry.Subject = inv.Reference
	as, err := w.assessor(func(o *AssessorOptions) { o.DryRun = true }).Assess(ctx, dry)
	if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
		t.Fatalf("dry run: %v, %v", as.Decision, err)
	}
	dry.Dossier = "75-2026-000009"
	if _, err := w.assessor(func(o *AssessorOptions) { o.DryRun = true }).Assess(ctx, dry); err != nil {
		t.Fatal(err)
	}
	got, _, err := w.reg.Get(ctx, "75", ref)
	if err != nil || len(got.ConsumedBy) != 0 {
		t.Fatalf("after dry runs: consumed by %+v, %v", got.ConsumedBy, err)
	}

	s := w.sub("75-2026-000001")
	s.Subject = inv.Reference
	a := w.assessor(nil)
	for i := 0; i < 2; i++ { // reprocessing is harmless
		as, err := a.Assess(ctx, s)
		if err != nil || as.Decision.Outcome != storage.OutcomeRecevable || len(as.Linked) != 0 {
			t.Fatalf("run %d: %+v, linked %v, %v", i, as.Decision, as.Linked, err)
		}
	}
	got, _, err = w.reg.Get(ctx, "75", ref)
	if err != nil || len(got.ConsumedBy) != 1 || got.ConsumedBy[0].Dossier != s.Dossier || got.ConsumedBy[0].NameHash != inv.NameHash {
		t.Fatalf("consumed by %+v, %v; want once by %s with the invitation's name", got.ConsumedBy, err, s.Dossier)
	}

	again := w.sub("75-2026-000002")
	again.Subject = inv.Reference
	as, err = a.Assess(ctx, again)
	if err != nil || as.Decision.Outcome != storage.OutcomeRecevable || len(as.Linked) != 1 || as.Linked[0] != s.Dossier {
		t.Errorf("second sending: %+v, linked %v, %v; want recevable linked to %s", as.Decision, as.Linked, err, s.Dossier)
	}
}

// TestAssessCheapFirst: when the texts give a valid invitation, no image is
// decoded.
func TestAssessCheapFirst(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	s := w.sub("75-2026-000001")
	s.Documents = []Doc{
		docOf(0, "lettre.pdf", "application/pdf", w.letterPDF(inv)),
		docOf(1, "photo.png", "image/png", qrPNG(t, forge(t, inv.Token))),
	}
	as, trace, err := w.assessor(nil).Explain(context.Background(), s)
	if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
		t.Fatalf("Explain: %+v, %v", as.Decision, err)
	}
	joined := strings.Join(trace, "\n")
	if !strings.Contains(joined, "QR phase skipped") || strings.Contains(joined, "QR code(s)") {
		t.Errorf("the QR phase ran although the text layer gave a valid invitation:\n%s", joined)
	}

	// Without the letter, the photo's (forged) code is read.
	s.Documents = s.Documents[1:]
	as, trace, err = w.assessor(nil).Explain(context.Background(), s)
	if err != nil || as.Decision.Outcome != storage.OutcomeIrrecevablePropose {
		t.Fatalf("Explain(photo only): %+v, %v\n%s", as.Decision, err, strings.Join(trace, "\n"))
	}
}

// TestVerifyInvitationEveryToken: of two codes of the same invitation, one
// forged makes it forged, whichever comes first.
func TestVerifyInvitationEveryToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	a := w.assessor(func(o *AssessorOptions) { o.DryRun = true })
	site, _ := a.territory.Site("75")
	good := tokenSighting{where: "photo 1", token: inv.Token}
	bad := tokenSighting{where: "photo 2", token: forge(t, inv.Token)}
	for _, order := range [][]tokenSighting{{good, bad}, {bad, good}} {
		s := w.sub("")
		e := newEvidenceSearch(a, s)
		f, err := a.verifyInvitation(context.Background(), a.newVerification(site, s, e), groupInvitations(nil, order)[0])
		if err != nil || f.Evidence.Verdict != VerdictInvalid || f.Reason.Code != ReasonForged {
			t.Errorf("verifyInvitation(%s first) = %s %s, %v; want invalid %s", order[0].where, f.Evidence.Verdict, f.Reason.Code, err, ReasonForged)
		}
	}
	s := w.sub("")
	e := newEvidenceSearch(a, s)
	f, err := a.verifyInvitation(context.Background(), a.newVerification(site, s, e), groupInvitations(nil, []tokenSighting{good, good})[0])
	if err != nil || f.Evidence.Verdict != VerdictValid {
		t.Errorf("verifyInvitation(good twice) = %+v, %v", f, err)
	}
}

// TestAssessQRStopsAtAVerifiedToken: once a page gives a token the site
// verifies, the other pages are not decoded.
func TestAssessQRStopsAtAVerifiedToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	s := w.sub("75-2026-000001")
	other := qrPNG(t, "https://example.org/x")
	s.Documents = []Doc{
		docOf(0, "lettre-invitation.png", "image/png", qrPNG(t, inv.Token)),
		docOf(1, "b.png", "image/png", other), docOf(2, "c.png", "image/png", other),
	}
	as, trace, err := w.assessor(nil).Explain(context.Background(), s)
	if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
		t.Fatalf("Explain: %+v, %v", as.Decision, err)
	}
	if joined := strings.Join(trace, "\n"); !strings.Contains(joined, "QR phase: 1 image(s) decoded") {
		t.Errorf("the QR phase went on after a verified token:\n%s", joined)
	}
}

// failingBucket fails every read, like an unreachable S3.
type failingBucket struct{ storage.Bucket }

var errUnreachable = errors.New("bucket unreachable")

func (failingBucket) Get(context.Context, string) (io.ReadCloser, storage.Info, error) {
	return nil, storage.Info{}, errUnreachable
}

// TestAssessErrors: infrastructure failures are errors for the worker to
// retry, never a decision; so is an unknown site and a cancelled context.
func TestAssessErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	s := w.sub("75-2026-000001")
	s.Subject = inv.Reference
	a := w.assessor(func(o *AssessorOptions) { o.Bucket = failingBucket{o.Bucket} })
	if _, err := a.Assess(context.Background(), s); !errors.Is(err, errUnreachable) {
		t.Errorf("Assess with the registry unreachable: %v, want the bucket's error", err)
	}
	s.Site = "13"
	if _, err := w.assessor(nil).Assess(context.Background(), s); err == nil {
		t.Error("Assess for a site not configured gave no error")
	}
	s.Site = "75"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Documents = []Doc{docOf(0, "photo.png", "image/png", qrPNG(t, "x"))}
	s.Subject = ""
	if _, err := w.assessor(nil).Assess(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Assess(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := NewAssessor(AssessorOptions{Bucket: w.bucket, Sites: append(w.sites, SiteInfo{ID: "7-5"})}); err == nil {
		t.Error("NewAssessor accepted two sites with the same reference code")
	}
}

// TestAssessLogsNoPersonalData: the log line carries ids and codes only.
func TestAssessLogsNoPersonalData(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inv := w.valid()
	var buf bytes.Buffer
	s := w.sub("75-2026-000001")
	s.Subject = "Dossier de Élodie N'DIAYE " + inv.Reference
	s.Sender.Address = "3 rue des Lilas 75020 Paris"
	if _, err := w.assessor(func(o *AssessorOptions) { o.Log = zerolog.New(&buf) }).Assess(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if !strings.Contains(line, `"dossier":"75-2026-000001"`) || !strings.Contains(line, `"outcome":"recevable"`) {
		t.Errorf("log line lacks the dossier or the outcome: %s", line)
	}
	for _, personal := range []string{"DIAYE", "Diaye", "elodie", "Lilas", "Dossier de", inv.Reference} {
		if strings.Contains(line, personal) {
			t.Errorf("log line holds %q: %s", personal, line)
		}
	}
}

// BenchmarkAssessCheapPath: an email with the letter as a PDF attachment;
// the reference is in its text layer.
func BenchmarkAssessCheapPath(b *testing.B) {
	w := newWorld(b)
	inv := w.valid()
	s := w.sub("")
	s.Documents = []Doc{docOf(0, "lettre.pdf", "application/pdf", w.letterPDF(inv))}
	a := w.assessor(func(o *AssessorOptions) { o.DryRun = true })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, err := a.Assess(context.Background(), s)
		if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
			b.Fatalf("%+v, %v", as.Decision, err)
		}
	}
}

// BenchmarkAssessQRPath: a letter received by post, scanned; the token is
// read from the page image.
func BenchmarkAssessQRPath(b *testing.B) {
	w := newWorld(b)
	inv := w.valid()
	s := w.sub("")
	s.Texts, s.Subject = nil, ""
	s.Documents = []Doc{docOf(0, "scan.pdf", "application/pdf", scannedLetterPDF(b, w.letter(inv), 2, 18))}
	a := w.assessor(func(o *AssessorOptions) { o.DryRun = true })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, err := a.Assess(context.Background(), s)
		if err != nil || as.Decision.Outcome != storage.OutcomeRecevable {
			b.Fatalf("%+v, %v", as.Decision, err)
		}
	}
}

// BenchmarkAssessScanWithoutCode: three scanned pages of text without any
// code (a letter whose code was painted over), the worst case: every QR pass
// runs on every page.
func BenchmarkAssessScanWithoutCode(b *testing.B) {
	w := newWorld(b)
	scan := scannedLetterPDF(b, w.letter(w.valid()), 1, 15)
	imgs, err := ExtractPDFImages(context.Background(), bytes.NewReader(scan), Limits{})
	if err != nil || len(imgs) != 1 {
		b.Fatalf("%+v, %v", imgs, err)
	}
	page := toGray(imgs[0].Image)
	r := page.Bounds()
	draw.Draw(page, image.Rect(r.Dx()*55/100, 0, r.Dx(), r.Dy()*22/100), image.White, image.Point{}, draw.Src)
	var pages [][]byte
	for i := 0; i < 3; i++ {
		page.Pix[i] ^= 0xff // three different images: identical ones are stored once
		var jpg bytes.Buffer
		if err := jpeg.Encode(&jpg, page, &jpeg.Options{Quality: 75}); err != nil {
			b.Fatal(err)
		}
		pages = append(pages, jpg.Bytes())
	}
	s := w.sub("")
	s.Texts, s.Subject = nil, ""
	s.Documents = []Doc{docOf(0, "pieces.pdf", "application/pdf", imagesToPDF(b, pages...))}
	a := w.assessor(func(o *AssessorOptions) { o.DryRun = true })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, trace, err := a.Explain(context.Background(), s)
		if err != nil || as.Decision.Outcome != storage.OutcomeIrrecevablePropose {
			b.Fatalf("%+v, %v", as.Decision, err)
		}
		if !strings.Contains(strings.Join(trace, "\n"), "QR phase: 3 image(s) decoded") {
			b.Fatalf("trace: %q", trace)
		}
	}
}
