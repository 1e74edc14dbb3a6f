package main

import (
	"bytes"
	"context"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"recevable/intake"
	"recevable/validate"
)

// TestSeparatorCommand: the sheets asked for, with the fields given, and
// the usage errors.
func TestSeparatorCommand(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "sep.pdf")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"separator", "--count", "3", "--postmark", "2026-03-12", "--ar", "1a 123 456 7890 1", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := intake.OpenScan(context.Background(), bytes.NewReader(data), intake.ScanLimits{})
	if err != nil || s.Pages() != 3 {
		t.Fatalf("separator PDF: %v, %v pages", err, s)
	}
	stdout.Reset()
	if code := run([]string{"separator"}, &stdout, &stderr); code != 0 || !bytes.HasPrefix(stdout.Bytes(), []byte("%PDF-")) {
		t.Errorf("separator to stdout: exit %d, %d bytes", code, stdout.Len())
	}
	for _, args := range [][]string{
		{"--count", "0"}, {"--count", "501"}, {"--postmark", "12/03/2026"}, {"--received", "2026-02-30"},
		{"--ar", "12"}, {"--ar", "1A-123-456 7890 1 é"}, {"extra"},
	} {
		stderr.Reset()
		if code := run(append([]string{"separator"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("separator %q: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

// TestSeparatorPrintedAndScanned: the sheets the command prints, rasterised
// at 300 dpi (pdftoppm, as a printer and a scanner would see them), askew
// and noisy, between letters of a batch: the split finds them, with their
// fields. pdftoppm is required under CI=true.
func TestSeparatorPrintedAndScanned(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftoppm (poppler-utils) is required in CI")
		}
		t.Skip("pdftoppm (poppler-utils) not installed")
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	pdf := filepath.Join(dir, "sep.pdf")
	if code := run([]string{"separator", "--postmark", "2026-03-12", "--received", "2026-03-14", "--ar", "RR123456789FR", "-o", pdf}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"separator", "-o", filepath.Join(dir, "bare.pdf")}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	scanSheet := func(name string, angle float64, seed uint64) []byte {
		out := filepath.Join(dir, name)
		if b, err := exec.Command("pdftoppm", "-r", "300", "-gray", "-png", "-singlefile", filepath.Join(dir, name+".pdf"), out).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v: %s", err, b)
		}
		f, err := os.Open(out + ".png")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		g := image.NewGray(img.Bounds())
		draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
		var j bytes.Buffer
		if err := jpeg.Encode(&j, intake.Degrade(g, intake.ScanStyle{Angle: angle, Noise: 12, Specks: 20, Seed: seed}), &jpeg.Options{Quality: 75}); err != nil {
			t.Fatal(err)
		}
		return j.Bytes()
	}
	qr := func(s string) (image.Image, error) { return validate.EncodeQR(s) }
	letters, err := intake.ScanPages([]intake.SimPage{{Lines: []string{"Lettre 1"}}, {Lines: []string{"Lettre 2"}}, {Lines: []string{"Lettre 3"}}},
		intake.ScanStyle{Angle: -1, Noise: 12, Seed: 5}, qr)
	if err != nil {
		t.Fatal(err)
	}
	pages := [][]byte{letters[0], scanSheet("sep", 1.8, 1), letters[1], scanSheet("bare", -1.6, 2), letters[2]}
	var batch bytes.Buffer
	if err := intake.AssembleImages(context.Background(), &batch, pages, intake.ScanLimits{}); err != nil {
		t.Fatal(err)
	}
	scan, err := intake.OpenScan(context.Background(), bytes.NewReader(batch.Bytes()), intake.ScanLimits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := intake.Split(context.Background(), scan, intake.SplitOptions{Separators: true, FindCodes: validate.DecodeQR})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]int
	for _, l := range b.Letters {
		got = append(got, l.Pages)
	}
	if want := [][]int{{1}, {3}, {5}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("letters %v, want %v (pages %+v)", got, want, b.Pages)
	}
	sep := b.Letters[1].Separator
	if sep == nil || sep.Postmark.String() != "2026-03-12" || sep.Received.String() != "2026-03-14" || sep.Registered != "RR123456789FR" {
		t.Errorf("letter 2's sheet: %+v", sep)
	}
	if sep := b.Letters[2].Separator; sep == nil || !sep.IsZero() {
		t.Errorf("letter 3's sheet: %+v, want a bare one", sep)
	}
}
