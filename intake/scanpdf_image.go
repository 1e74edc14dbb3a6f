package intake

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"

	"github.com/pdfcpu/pdfcpu/pkg/filter"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// A scanned page is one image drawn over the whole page. PageGray finds the
// largest image of a page and decodes it to grey, which is all the batch
// split needs (blank pages, separator codes). The encoded bytes are taken
// from pdfcpu's model under the Scan's lock; decoding (the costly part: a
// 300 dpi A4 JPEG is 8.7 megapixels) runs outside it, so pages decode in
// parallel.

// ErrNoPageImage: the page has no image (a page of text or vector drawing,
// not a scan). The split treats such a page as neither blank nor a separator.
var ErrNoPageImage = errors.New("page has no image")

// ErrPageImageUnsupported: the page image is encoded in a way not decoded
// here (JPX, JBIG2, an exotic colour space pdfcpu cannot render). Like
// ErrNoPageImage, the page is kept as an ordinary page.
var ErrPageImageUnsupported = errors.New("page image format not supported")

// encodedImage is a page image as found in the PDF.
type encodedImage struct {
	page          int
	width, height int
	jpeg          []byte      // DCT data, when the image is a JPEG (possibly after Flate)
	flateJPEG     bool        // jpeg is still Flate-compressed
	decoded       image.Image // when pdfcpu had to decode it under the lock
}

// PageGray returns the grey pixels of the page's largest image. A page
// without an image fails with ErrNoPageImage, one whose image cannot be
// decoded here with ErrPageImageUnsupported; corrupt image data (a
// truncated JPEG) is a permanent ErrScanUnreadable.
func (s *Scan) PageGray(ctx context.Context, page int) (*image.Gray, error) {
	enc, err := scanGuard(ctx, "pdf_page_image", s.lim.Timeout, func() (encodedImage, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pageImageLocked(page)
	})
	if err != nil {
		if errors.Is(err, ErrNoPageImage) || errors.Is(err, ErrPageImageUnsupported) || IsPermanent(err) {
			return nil, err
		}
		return nil, scanError(fmt.Sprintf("page %d", page), err)
	}
	return scanGuard(ctx, "image_decode", s.lim.Timeout, func() (*image.Gray, error) {
		return decodeGray(enc)
	})
}

// pageImageLocked finds the page's largest image XObject and takes its
// encoded bytes, or has pdfcpu decode it when it is not a plain JPEG.
func (s *Scan) pageImageLocked(page int) (encodedImage, error) {
	pc := s.pc
	pageDict, _, inh, err := pc.PageDict(page, false)
	if err != nil {
		return encodedImage{}, err
	}
	var res types.Dict
	if o, found := pageDict.Find("Resources"); found {
		res, _ = pc.DereferenceDict(o)
	}
	if res == nil && inh != nil {
		res = inh.Resources // inherited from the page tree
	}
	if res == nil {
		return encodedImage{}, fmt.Errorf("page %d: %w", page, ErrNoPageImage)
	}
	xo, found := res.Find("XObject")
	if !found {
		return encodedImage{}, fmt.Errorf("page %d: %w", page, ErrNoPageImage)
	}
	xobjects, err := pc.DereferenceDict(xo)
	if err != nil || xobjects == nil {
		return encodedImage{}, fmt.Errorf("page %d: %w", page, ErrNoPageImage)
	}
	var best *types.StreamDict
	bestObj, bestName, bestPixels := 0, "", int64(0)
	for name, o := range xobjects {
		sd, _, err := pc.DereferenceStreamDict(o)
		if err != nil || sd == nil {
			continue
		}
		if st := sd.NameEntry("Subtype"); st == nil || *st != "Image" {
			continue
		}
		w, h := intEntry(pc, sd.Dict, "Width"), intEntry(pc, sd.Dict, "Height")
		if px := int64(w) * int64(h); px > bestPixels {
			best, bestName, bestPixels = sd, name, px
			if ref, ok := o.(types.IndirectRef); ok {
				bestObj = ref.ObjectNumber.Value()
			}
		}
	}
	if best == nil {
		return encodedImage{}, fmt.Errorf("page %d: %w", page, ErrNoPageImage)
	}
	enc := encodedImage{page: page, width: intEntry(pc, best.Dict, "Width"), height: intEntry(pc, best.Dict, "Height")}
	if bestPixels > s.lim.MaxImagePixels {
		return encodedImage{}, fmt.Errorf("page %d: %w: image of %d×%d pixels", page, ErrPageImageUnsupported, enc.width, enc.height)
	}
	var names []string
	for _, f := range best.FilterPipeline {
		names = append(names, f.Name)
	}
	switch {
	case len(names) == 1 && names[0] == filter.DCT:
		enc.jpeg = best.Raw
		return enc, nil
	case len(names) == 2 && names[0] == filter.Flate && names[1] == filter.DCT:
		enc.jpeg, enc.flateJPEG = best.Raw, true
		return enc, nil
	}
	for _, n := range names {
		if n == filter.JPX || n == filter.JBIG2 || n == filter.DCT {
			return encodedImage{}, fmt.Errorf("page %d: %w: filters %v", page, ErrPageImageUnsupported, names)
		}
	}
	// Flate, CCITT, LZW…: pdfcpu decodes and renders it (on a copy, so the
	// decoded pixels are not kept in the model after this page).
	cp := *best
	cp.Content = nil
	img, err := pdfcpu.ExtractImage(pc, &cp, false, bestName, bestObj, false)
	if errors.Is(err, pdfcpu.ErrUnsupportedResource) {
		return encodedImage{}, fmt.Errorf("page %d: %w: %w", page, ErrPageImageUnsupported, err)
	}
	if err != nil {
		return encodedImage{}, Permanent(fmt.Errorf("page %d: %w: %w", page, ErrScanUnreadable, err))
	}
	decoded, _, err := image.Decode(img.Reader)
	if err != nil {
		return encodedImage{}, Permanent(fmt.Errorf("page %d: %w: rendered %s: %w", page, ErrScanUnreadable, img.FileType, err))
	}
	enc.decoded = decoded
	return enc, nil
}

// intEntry reads an integer entry, following an indirect reference.
func intEntry(pc interface {
	DereferenceInteger(types.Object) (*types.Integer, error)
}, d types.Dict, key string) int {
	o, found := d.Find(key)
	if !found {
		return 0
	}
	i, err := pc.DereferenceInteger(o)
	if err != nil || i == nil {
		return 0
	}
	return i.Value()
}

// decodeGray decodes an encoded page image to grey.
func decodeGray(enc encodedImage) (*image.Gray, error) {
	if enc.decoded != nil {
		return toGrayImage(enc.decoded), nil
	}
	var r io.Reader = bytes.NewReader(enc.jpeg)
	if enc.flateJPEG {
		zr, err := zlib.NewReader(r)
		if err != nil {
			return nil, Permanent(fmt.Errorf("page %d: %w: %w", enc.page, ErrScanUnreadable, err))
		}
		r = zr
	}
	img, err := jpeg.Decode(r)
	if err != nil {
		return nil, Permanent(fmt.Errorf("page %d: %w: jpeg: %w", enc.page, ErrScanUnreadable, err))
	}
	return toGrayImage(img), nil
}

// toGrayImage returns img as 8-bit grey, without copying the pixels of a
// grey or YCbCr (JPEG) image: the luma plane is grey already.
func toGrayImage(img image.Image) *image.Gray {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return m
	case *image.YCbCr:
		return &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: m.Rect}
	}
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	// Transparent pixels count as white paper.
	draw.Draw(g, g.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(g, g.Bounds(), img, b.Min, draw.Over)
	return g
}
