package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"slices"
	"sync"
	"testing"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"

	"recevable/intake"
)

// The batch split is tested on simulated scans (intake.SimulatedBatch):
// pages drawn at 300 dpi, then printed-and-scanned as a mailroom does it —
// grey paper, 1 to 2 degrees askew, sensor noise, dust, JPEG — and
// assembled into a PDF. The split finds separator codes with decodeQR
// (qr_helpers_test.go); the worker wires decodeQR.

func splitOptions() intake.SplitOptions {
	return intake.SplitOptions{Separators: true, FindCodes: decodeQR}
}

// threeLetters is a batch of three letters and two separator sheets, in
// duplex: blank backs after some pages. The second sheet carries postal
// data for the third letter.
var threeLetters = struct {
	pages   []intake.SimPage
	letters [][]int // expected pages of each letter
	sep3    intake.Separator
}{
	pages: []intake.SimPage{
		/* 1 */ {Lines: []string{"Lettre A, page 1", "Madame, Monsieur, je sollicite un titre de séjour."}},
		/* 2 */ {Blank: true, ShowThrough: true},
		/* 3 */ {Lines: []string{"Lettre A, page 2", "Pièces jointes."}, Code: "INVITATION-A-FOR-TEST"},
		/* 4 */ {Separator: &intake.Separator{}},
		/* 5 */ {Blank: true},
		/* 6 */ {Lines: []string{"Lettre B, page unique"}},
		/* 7 */ {Separator: &intake.Separator{Postmark: intake.Date{Year: 2026, Month: 3, Day: 12}, Registered: "1A12345678901"}},
		/* 8 */ {Lines: []string{"Lettre C, page 1"}},
		/* 9 */ {Blank: true, ShowThrough: true},
		/* 10 */ {Lines: []string{"Lettre C, page 2", "Salutations."}},
	},
	letters: [][]int{{1, 3}, {6}, {8, 10}},
	sep3:    intake.Separator{Postmark: intake.Date{Year: 2026, Month: 3, Day: 12}, Registered: "1A12345678901"},
}

var (
	threeLettersOnce sync.Once
	threeLettersPDF  []byte
	threeLettersErr  error
)

// threeLettersScan renders the batch once for all tests: angles alternate
// between +1.8 and -1.3 degrees, noise σ 12, 25 specks of dust a page.
func threeLettersScan(t testing.TB) []byte {
	t.Helper()
	threeLettersOnce.Do(func() {
		var jpegs [][]byte
		for i, p := range threeLetters.pages {
			angle := 1.8
			if i%2 == 1 {
				angle = -1.3
			}
			j, err := intake.ScanPages([]intake.SimPage{p}, intake.ScanStyle{Angle: angle, Noise: 12, Specks: 25, Seed: uint64(100 + i)}, encodeQR)
			if err != nil {
				threeLettersErr = err
				return
			}
			jpegs = append(jpegs, j...)
		}
		var buf bytes.Buffer
		threeLettersErr = intake.AssembleImages(context.Background(), &buf, jpegs, intake.ScanLimits{})
		threeLettersPDF = buf.Bytes()
	})
	if threeLettersErr != nil {
		t.Fatal(threeLettersErr)
	}
	return threeLettersPDF
}

func openScan(t testing.TB, pdf []byte) *intake.Scan {
	t.Helper()
	s, err := intake.OpenScan(context.Background(), bytes.NewReader(pdf), intake.ScanLimits{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pageHash hashes the decoded pixels of a page: the same scanned image,
// wherever it was copied, decodes to the same pixels.
func pageHash(t testing.TB, s *intake.Scan, page int) [32]byte {
	t.Helper()
	g, err := s.PageGray(context.Background(), page)
	if err != nil {
		t.Fatalf("page %d: %v", page, err)
	}
	h := sha256.New()
	for y := g.Rect.Min.Y; y < g.Rect.Max.Y; y++ {
		h.Write(g.Pix[g.PixOffset(g.Rect.Min.X, y):g.PixOffset(g.Rect.Max.X, y)])
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func letterPages(b *intake.Batch) [][]int {
	var out [][]int
	for _, l := range b.Letters {
		out = append(out, l.Pages)
	}
	return out
}

// TestSplitThreeLetters: 3 letters separated by 2 separator sheets, with
// blank backs → 3 letters with the right pages, blanks and sheets dropped,
// the second sheet's postal data on the third letter, and each letter's
// PDF holding exactly its pages' images.
func TestSplitThreeLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	scan := openScan(t, threeLettersScan(t))
	if scan.Pages() != len(threeLetters.pages) {
		t.Fatalf("scan has %d pages, want %d", scan.Pages(), len(threeLetters.pages))
	}
	b, err := intake.Split(ctx, scan, splitOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Pages {
		t.Logf("page %d: %s ink %.4f%% codes %q %s", p.Page, p.Kind, p.Ink, p.Codes, p.Note)
	}
	if got := letterPages(b); !slices.EqualFunc(got, threeLetters.letters, slices.Equal) {
		t.Fatalf("letters = %v, want %v", got, threeLetters.letters)
	}
	for i, l := range b.Letters {
		if l.Index != i+1 {
			t.Errorf("letter %d has Index %d", i+1, l.Index)
		}
	}
	if b.Letters[0].Separator != nil {
		t.Errorf("first letter opened by a sheet: %+v", b.Letters[0].Separator)
	}
	if s := b.Letters[1].Separator; s == nil || !s.IsZero() {
		t.Errorf("second letter's sheet = %+v, want a bare separator", s)
	}
	if s := b.Letters[2].Separator; s == nil || *s != threeLetters.sep3 {
		t.Errorf("third letter's sheet = %+v, want %+v", s, threeLetters.sep3)
	}
	wantKinds := map[int]intake.PageKind{2: intake.PageBlank, 4: intake.PageSeparator, 5: intake.PageBlank, 7: intake.PageSeparator, 9: intake.PageBlank}
	for _, p := range b.Pages {
		want := wantKinds[p.Page]
		if want == "" {
			want = intake.PageContent
		}
		if p.Kind != want {
			t.Errorf("page %d is %s, want %s", p.Page, p.Kind, want)
		}
	}
	if !slices.Contains(b.Pages[2].Codes, "INVITATION-A-FOR-TEST") {
		t.Errorf("page 3 codes = %q, want the invitation's", b.Pages[2].Codes)
	}

	// Each letter as its own PDF: its pages, same images, in order.
	for _, l := range b.Letters {
		var buf bytes.Buffer
		if err := scan.WritePages(ctx, &buf, l.Pages); err != nil {
			t.Fatal(err)
		}
		ls := openScan(t, buf.Bytes())
		if ls.Pages() != len(l.Pages) {
			t.Fatalf("letter %d PDF has %d pages, want %d", l.Index, ls.Pages(), len(l.Pages))
		}
		for k, p := range l.Pages {
			if pageHash(t, ls, k+1) != pageHash(t, scan, p) {
				t.Errorf("letter %d page %d is not batch page %d", l.Index, k+1, p)
			}
		}
	}
}

// TestSplitOptions: the same batch under other options.
func TestSplitOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	scan := openScan(t, threeLettersScan(t))
	for _, tc := range []struct {
		name string
		o    intake.SplitOptions
		want [][]int
	}{
		{"keep blank", intake.SplitOptions{Separators: true, FindCodes: decodeQR, KeepBlank: true}, [][]int{{1, 2, 3}, {5, 6}, {8, 9, 10}}},
		// Without separator detection the sheets are pages like the others.
		{"no separators", intake.SplitOptions{}, [][]int{{1, 3, 4, 6, 7, 8, 10}}},
		// Blank pages as separators: the blank after sheet 4 opens a
		// letter, and the sheets are pages.
		{"blank separates", intake.SplitOptions{BlankSeparates: true}, [][]int{{1}, {3, 4}, {6, 7, 8}, {10}}},
		{"blank separates and sheets", intake.SplitOptions{BlankSeparates: true, Separators: true, FindCodes: decodeQR, Workers: 1}, [][]int{{1}, {3}, {6}, {8}, {10}}},
	} {
		b, err := intake.Split(ctx, scan, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := letterPages(b); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("Split(%s) letters = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSplitStartsWithSeparator: N sheets, the first at the start → N
// letters; sheets in a row or at the end make no empty letter.
func TestSplitStartsWithSeparator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sep := &intake.Separator{}
	pages := []intake.SimPage{
		{Separator: sep},
		{Lines: []string{"Lettre 1"}},
		{Separator: sep},
		{Separator: &intake.Separator{Received: intake.Date{Year: 2026, Month: 4, Day: 2}}},
		{Lines: []string{"Lettre 2"}},
		{Separator: sep},
	}
	pdf, err := intake.SimulatedBatch(ctx, pages, intake.ScanStyle{DPI: 200, Angle: -1.5, Noise: 8, Seed: 7}, encodeQR)
	if err != nil {
		t.Fatal(err)
	}
	b, err := intake.Split(ctx, openScan(t, pdf), splitOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := letterPages(b), [][]int{{2}, {5}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("letters = %v, want %v", got, want)
	}
	// The sheet nearest the letter is the one that applies.
	if s := b.Letters[1].Separator; s == nil || s.Received != (intake.Date{Year: 2026, Month: 4, Day: 2}) {
		t.Errorf("letter 2 sheet = %+v", s)
	}

	// Nothing but sheets and blank pages: no letter, permanently.
	empty, err := intake.SimulatedBatch(ctx, []intake.SimPage{{Separator: sep}, {Blank: true}}, intake.ScanStyle{DPI: 150, Noise: 6}, encodeQR)
	if err != nil {
		t.Fatal(err)
	}
	_, err = intake.Split(ctx, openScan(t, empty), splitOptions())
	if !errors.Is(err, intake.ErrNoLetter) || !intake.IsPermanent(err) {
		t.Errorf("Split(only a sheet and a blank) error = %v, want permanent ErrNoLetter", err)
	}
}

// TestSplitFinderError: the code finder's failure (ctx ended, a decoder
// panic) is the split's failure, not a page silently kept.
func TestSplitFinderError(t *testing.T) {
	t.Parallel()
	scan := openScan(t, threeLettersScan(t))
	boom := errors.New("decoder down")
	_, err := intake.Split(context.Background(), scan, intake.SplitOptions{Separators: true, FindCodes: func(context.Context, image.Image) ([]string, error) {
		return nil, boom
	}})
	if !errors.Is(err, boom) {
		t.Errorf("Split error = %v, want the finder's", err)
	}
	if _, err := intake.Split(context.Background(), scan, intake.SplitOptions{Separators: true}); err == nil {
		t.Error("Split with separators and no finder: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := intake.Split(ctx, scan, splitOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("Split(cancelled) error = %v", err)
	}
}

// TestInkPercent: blank backs (noise, dust, show-through) are blank under
// the default threshold at every tested resolution and noise; a page
// bearing one short word is not.
func TestInkPercent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		page  intake.SimPage
		blank bool
	}{
		{intake.SimPage{Blank: true}, true},
		{intake.SimPage{Blank: true, ShowThrough: true}, true},
		{intake.SimPage{Lines: []string{"ok"}}, false},
		{intake.SimPage{Lines: []string{"Vu,"}}, false},
	}
	for _, style := range []intake.ScanStyle{
		{DPI: 300, Angle: 1, Noise: 14, Specks: 40, Seed: 1},
		{DPI: 200, Angle: -2, Noise: 10, Specks: 20, Seed: 2},
		{DPI: 400, Angle: 0.5, Noise: 6, Specks: 10, Seed: 3, Quality: 60},
	} {
		var pages []intake.SimPage
		for _, c := range cases {
			pages = append(pages, c.page)
		}
		pdf, err := intake.SimulatedBatch(ctx, pages, style, encodeQR)
		if err != nil {
			t.Fatal(err)
		}
		b, err := intake.Split(ctx, openScan(t, pdf), intake.SplitOptions{KeepBlank: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			p := b.Pages[i]
			if got := p.Kind == intake.PageBlank; got != c.blank {
				t.Errorf("%d dpi, noise %v: page %+v ink %.4f%%: blank = %v, want %v", style.DPI, style.Noise, c.page, p.Ink, got, c.blank)
			}
		}
	}
}

// TestSeparatorPayload: Payload and ParseSeparator agree, and malformed or
// foreign payloads are told apart.
func TestSeparatorPayload(t *testing.T) {
	t.Parallel()
	full := intake.Separator{Postmark: intake.Date{Year: 2026, Month: 2, Day: 28}, Received: intake.Date{Year: 2026, Month: 3, Day: 2}, Registered: "RR123456789FR"}
	for _, s := range []intake.Separator{{}, full, {Registered: "1A12345678901"}} {
		got, ok, err := intake.ParseSeparator(s.Payload())
		if !ok || err != nil || got != s {
			t.Errorf("ParseSeparator(%q) = %+v, %v, %v; want %+v", s.Payload(), got, ok, err, s)
		}
	}
	if p := full.Payload(); p != "RECEVABLE/SEP/1/PM:2026-02-28/RC:2026-03-02/AR:RR123456789FR" {
		t.Errorf("Payload = %q", p)
	}
	for _, tc := range []struct {
		payload string
		ok      bool
		bad     bool
		want    intake.Separator
	}{
		{"https://example.org/x", false, false, intake.Separator{}},
		{"RECEVABLE/SEP", false, false, intake.Separator{}},
		{"RECEVABLE/SEP/2/PM:whatever", true, false, intake.Separator{}},
		{"RECEVABLE/SEP/1/PM:2026-02-30", true, true, intake.Separator{}},
		{"RECEVABLE/SEP/1/PM:2026-02-27/AR:12", true, true, intake.Separator{Postmark: intake.Date{Year: 2026, Month: 2, Day: 27}}},
		{"RECEVABLE/SEP/1/PM:2026-02-27/PM:2026-02-26", true, true, intake.Separator{Postmark: intake.Date{Year: 2026, Month: 2, Day: 27}}},
		{"RECEVABLE/SEP/1/XX:future/AR:1a 123 456 7890 1", true, false, intake.Separator{Registered: "1A12345678901"}},
	} {
		got, ok, err := intake.ParseSeparator(tc.payload)
		if ok != tc.ok || (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSeparator(%q) = %+v, %v, %v; want %+v, %v, error %v", tc.payload, got, ok, err, tc.want, tc.ok, tc.bad)
		}
		if tc.bad && !errors.Is(err, intake.ErrSeparatorField) {
			t.Errorf("ParseSeparator(%q) error %v is not ErrSeparatorField", tc.payload, err)
		}
	}
}

func FuzzParseSeparator(f *testing.F) {
	f.Add("RECEVABLE/SEP/1/PM:2026-02-28/RC:2026-03-02/AR:RR123456789FR")
	f.Add("RECEVABLE/SEP/1")
	f.Add("RECEVABLE/SEP/1/AR:")
	f.Fuzz(func(t *testing.T, payload string) {
		s, ok, err := intake.ParseSeparator(payload)
		if !ok {
			if err != nil || !s.IsZero() {
				t.Fatalf("not a separator but %+v, %v", s, err)
			}
			return
		}
		// Whatever was read writes back to a payload that reads the same.
		back, ok2, err2 := intake.ParseSeparator(s.Payload())
		if !ok2 || err2 != nil || back != s {
			t.Fatalf("round trip of %+v: %+v, %v, %v", s, back, ok2, err2)
		}
	})
}

// TestSplitSheetDimensions is a guard on the layout: the sheet's code must
// stay large enough to be found on a page reduced to 75 dpi, whatever the
// fields: at least 6 pixels a module at 75 dpi.
func TestSplitSheetDimensions(t *testing.T) {
	t.Parallel()
	longest := intake.Separator{Postmark: intake.Date{Year: 2026, Month: 12, Day: 31}, Received: intake.Date{Year: 2026, Month: 12, Day: 31}, Registered: "ABCDEFGHIJKLMNOPQRST"}
	code, err := encoder.Encoder_encode(longest.Payload(), decoder.ErrorCorrectionLevel_Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := code.GetVersion().GetVersionNumber()
	modules := 17 + 4*v + 2*4
	if mm := 100.0 / float64(modules); mm*75/25.4 < 6 {
		t.Errorf("longest payload %q: version %d, %.1f mm a module, under 6 pixels at 75 dpi", longest.Payload(), v, mm)
	}
	t.Logf("longest payload: QR version %d, %d modules with quiet zone", v, modules)
}
