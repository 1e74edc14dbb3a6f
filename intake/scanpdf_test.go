package intake_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"testing"
	"time"

	"recevable/intake"
)

// grey is a w×h image of level v with a black square in the middle.
func grey(w, h int, v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v
	}
	for y := h/2 - 5; y < h/2+5; y++ {
		for x := w/2 - 5; x < w/2+5; x++ {
			g.Pix[y*g.Stride+x] = 0
		}
	}
	return g
}

// multiTIFF writes an uncompressed 8-bit grey TIFF with one IFD per page
// (TIFF 6.0 §2, §8), at dpi; loop makes the last IFD point back to the
// first.
func multiTIFF(pages []*image.Gray, dpi uint32, loop bool) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("II*\x00")
	binary.Write(&b, le, uint32(8))
	first := uint32(8)
	for i, g := range pages {
		ifd := uint32(b.Len())
		const entries = 11
		dataOff := ifd + 2 + entries*12 + 4
		resOff := dataOff + uint32(len(g.Pix))
		next := uint32(0)
		if i < len(pages)-1 {
			next = resOff + 8
		} else if loop {
			next = first
		}
		binary.Write(&b, le, uint16(entries))
		entry := func(tag, typ uint16, val uint32) {
			binary.Write(&b, le, tag)
			binary.Write(&b, le, typ)
			binary.Write(&b, le, uint32(1))
			binary.Write(&b, le, val)
		}
		w, h := uint32(g.Rect.Dx()), uint32(g.Rect.Dy())
		entry(256, 4, w)
		entry(257, 4, h)
		entry(258, 3, 8)
		entry(259, 3, 1)
		entry(262, 3, 1)
		entry(273, 4, dataOff)
		entry(277, 3, 1)
		entry(278, 4, h)
		entry(279, 4, w*h)
		entry(282, 5, resOff)
		entry(296, 3, 2)
		binary.Write(&b, le, next)
		b.Write(g.Pix)
		binary.Write(&b, le, dpi)
		binary.Write(&b, le, uint32(1))
	}
	return b.Bytes()
}

// centre is the grey level in the middle of the page and at a corner.
func centreAndCorner(t *testing.T, s *intake.Scan, page int) (uint8, uint8, image.Rectangle) {
	t.Helper()
	g, err := s.PageGray(context.Background(), page)
	if err != nil {
		t.Fatalf("page %d: %v", page, err)
	}
	r := g.Bounds()
	return g.GrayAt(r.Min.X+r.Dx()/2, r.Min.Y+r.Dy()/2).Y, g.GrayAt(r.Min.X+2, r.Min.Y+2).Y, r
}

// TestOpenScanImages: JPEG, PNG and a three-page TIFF become scans of one,
// one and three pages whose images are the originals; a TIFF whose IFD
// chain loops, a file that is no scan and one over the size limit are
// refused permanently.
func TestOpenScanImages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var j, p bytes.Buffer
	jpeg.Encode(&j, grey(120, 170, 200), &jpeg.Options{Quality: 95})
	png.Encode(&p, grey(100, 140, 180))
	tif := multiTIFF([]*image.Gray{grey(80, 110, 230), grey(80, 110, 150), grey(80, 110, 90)}, 150, false)
	for _, tc := range []struct {
		name   string
		data   []byte
		typ    string
		levels []uint8
	}{
		{"jpeg", j.Bytes(), "image/jpeg", []uint8{200}},
		{"png", p.Bytes(), "image/png", []uint8{180}},
		{"tiff", tif, "image/tiff", []uint8{230, 150, 90}},
	} {
		s, err := intake.OpenScan(ctx, bytes.NewReader(tc.data), intake.ScanLimits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s.Type != tc.typ || s.Pages() != len(tc.levels) {
			t.Fatalf("%s: type %s, %d pages; want %s, %d", tc.name, s.Type, s.Pages(), tc.typ, len(tc.levels))
		}
		for i, want := range tc.levels {
			centre, corner, _ := centreAndCorner(t, s, i+1)
			if centre > 30 || corner < want-6 || corner > want+6 {
				t.Errorf("%s page %d: centre %d corner %d, want black and %d", tc.name, i+1, centre, corner, want)
			}
		}
	}

	for name, tc := range map[string]struct {
		data []byte
		lim  intake.ScanLimits
		want error
	}{
		"tiff loop":   {multiTIFF([]*image.Gray{grey(40, 40, 200), grey(40, 40, 100)}, 150, true), intake.ScanLimits{}, intake.ErrScanUnreadable},
		"tiff pages":  {tif, intake.ScanLimits{MaxPages: 2}, intake.ErrScanTooManyPages},
		"docx":        {[]byte("PK\x03\x04\x14\x00 a word file"), intake.ScanLimits{}, intake.ErrScanFormat},
		"empty":       {nil, intake.ScanLimits{}, intake.ErrScanFormat},
		"over size":   {tif, intake.ScanLimits{MaxBytes: 1000}, intake.ErrScanTooLarge},
		"broken jpeg": {j.Bytes()[:len(j.Bytes())/2], intake.ScanLimits{}, intake.ErrScanUnreadable},
	} {
		s, err := intake.OpenScan(ctx, bytes.NewReader(tc.data), tc.lim)
		if err == nil {
			// A truncated JPEG may only fail when its page is decoded.
			_, err = s.PageGray(ctx, 1)
		}
		if !errors.Is(err, tc.want) || !intake.IsPermanent(err) {
			t.Errorf("OpenScan(%s) error = %v, want permanent %v", name, err, tc.want)
		}
	}
}

// TestOpenScanStream: a scan read from a stream (the raw object from the
// bucket) is spooled to a file that is unlinked at once: the spool
// directory stays empty, and pages decode and letters write from the
// spooled copy, with the page images out of memory.
func TestOpenScanStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pdf := threeLettersScan(t)
	spool := t.TempDir()
	s, err := intake.OpenScan(ctx, io.MultiReader(bytes.NewReader(pdf)), intake.ScanLimits{SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool directory holds %d files", len(left))
	}
	inPlace := openScan(t, pdf)
	for _, p := range []int{1, 7} {
		if pageHash(t, s, p) != pageHash(t, inPlace, p) {
			t.Errorf("page %d differs between the spooled and the in-place scan", p)
		}
	}
	var letter bytes.Buffer
	if err := s.WritePages(ctx, &letter, []int{8, 10}); err != nil {
		t.Fatal(err)
	}
	ls := openScan(t, letter.Bytes())
	if ls.Pages() != 2 || pageHash(t, ls, 2) != pageHash(t, inPlace, 10) {
		t.Error("letter written from the spooled scan is not pages 8 and 10")
	}
	// Writing a letter puts its images back in the model only for the
	// time of the write: the same pages write again, the same images.
	letter.Reset()
	if err := s.WritePages(ctx, &letter, []int{3}); err != nil {
		t.Fatal(err)
	}
	if ls := openScan(t, letter.Bytes()); pageHash(t, ls, 1) != pageHash(t, inPlace, 3) {
		t.Error("second letter from the same scan differs")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

// FuzzOpenScan: whatever the bytes, OpenScan and the decoding of every page
// end (bounded), and fail only with a permanent error — a PDF, image or
// TIFF chain that cannot be read is the scan's fault, never a reason to
// retry — or, for a page, with ErrNoPageImage or ErrPageImageUnsupported.
func FuzzOpenScan(f *testing.F) {
	var j bytes.Buffer
	jpeg.Encode(&j, grey(30, 40, 200), nil)
	f.Add(j.Bytes())
	f.Add(multiTIFF([]*image.Gray{grey(20, 30, 200), grey(20, 30, 100)}, 150, false))
	var pdf bytes.Buffer
	if err := intake.AssembleImages(context.Background(), &pdf, [][]byte{j.Bytes(), j.Bytes()}, intake.ScanLimits{}); err != nil {
		f.Fatal(err)
	}
	f.Add(pdf.Bytes())
	lim := intake.ScanLimits{MaxPages: 20, MaxImagePixels: 4_000_000, Timeout: 2 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s, err := intake.OpenScan(ctx, bytes.NewReader(data), lim)
		if err != nil {
			if !intake.IsPermanent(err) {
				t.Fatalf("OpenScan: temporary error %v", err)
			}
			return
		}
		defer s.Close()
		for p := 1; p <= s.Pages(); p++ {
			_, err := s.PageGray(ctx, p)
			if err != nil && !intake.IsPermanent(err) && !errors.Is(err, intake.ErrNoPageImage) && !errors.Is(err, intake.ErrPageImageUnsupported) {
				t.Fatalf("page %d: %v", p, err)
			}
		}
	})
}
