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
	page      int
	img       pageImage
	jpeg      bool        // DCT data (possibly after Flate), decoded outside the lock
	flateJPEG bool        // the DCT data is Flate-compressed
	decoded   image.Image // when pdfcpu had to decode it under the lock
}

// PageGray returns the grey pixels of the page's largest image. A page
// without an image fails with ErrNoPageImage, one whose image cannot be
// decoded here with ErrPageImageUnsupported; corrupt image data (a
// truncated JPEG) is a permanent ErrScanUnreadable.
func (s *Scan) PageGray(ctx context.Context, page int) (*image.Gray, error) {
	if page < 1 || page > len(s.pages) {
		return nil, fmt.Errorf("page %d outside 1..%d", page, len(s.pages))
	}
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
		return s.decodeGray(enc)
	})
}

// pageImageLocked picks the page's largest image and, when it is not a
// plain JPEG, has pdfcpu decode it.
func (s *Scan) pageImageLocked(page int) (encodedImage, error) {
	var best *pageImage
	for i, img := range s.pages[page-1] {
		if best == nil || int64(img.width)*int64(img.height) > int64(best.width)*int64(best.height) {
			best = &s.pages[page-1][i]
		}
	}
	if best == nil {
		return encodedImage{}, fmt.Errorf("page %d: %w", page, ErrNoPageImage)
	}
	enc := encodedImage{page: page, img: *best}
	if int64(best.width)*int64(best.height) > s.lim.MaxImagePixels {
		return encodedImage{}, fmt.Errorf("page %d: %w: image of %d×%d pixels", page, ErrPageImageUnsupported, best.width, best.height)
	}
	var names []string
	for _, f := range best.sd.FilterPipeline {
		names = append(names, f.Name)
	}
	switch {
	case len(names) == 1 && names[0] == filter.DCT:
		enc.jpeg = true
		return enc, nil
	case len(names) == 2 && names[0] == filter.Flate && names[1] == filter.DCT:
		enc.jpeg, enc.flateJPEG = true, true
		return enc, nil
	}
	for _, n := range names {
		if n == filter.JPX || n == filter.JBIG2 || n == filter.DCT {
			return encodedImage{}, fmt.Errorf("page %d: %w: filters %v", page, ErrPageImageUnsupported, names)
		}
	}
	// Flate, CCITT, LZW…: pdfcpu decodes and renders it, on a copy, so the
	// decoded pixels are not kept in the model after this page.
	cp := best.sd
	raw, err := s.raw(*best)
	if err != nil {
		return encodedImage{}, err
	}
	cp.Raw, cp.Content = raw, nil
	img, err := pdfcpu.ExtractImage(s.pc, &cp, false, best.name, best.objNr, false)
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

// decodeGray decodes an encoded page image to grey, reading a JPEG's
// bytes from the file when they were let go.
func (s *Scan) decodeGray(enc encodedImage) (*image.Gray, error) {
	if enc.decoded != nil {
		return toGrayImage(enc.decoded), nil
	}
	raw, err := s.raw(enc.img)
	if err != nil {
		return nil, err
	}
	if enc.flateJPEG {
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, Permanent(fmt.Errorf("page %d: %w: %w", enc.page, ErrScanUnreadable, err))
		}
		// Bounded: a JPEG of MaxImagePixels is far smaller than this.
		raw, err = io.ReadAll(io.LimitReader(zr, s.lim.MaxImagePixels*3+1<<20))
		if err != nil {
			return nil, Permanent(fmt.Errorf("page %d: %w: %w", enc.page, ErrScanUnreadable, err))
		}
	}
	// The JPEG's own header may claim another size than the PDF's
	// dictionary: check it before the decoder allocates the pixels.
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, Permanent(fmt.Errorf("page %d: %w: jpeg: %w", enc.page, ErrScanUnreadable, err))
	}
	if int64(cfg.Width)*int64(cfg.Height) > s.lim.MaxImagePixels {
		return nil, fmt.Errorf("page %d: %w: JPEG of %d×%d pixels", enc.page, ErrPageImageUnsupported, cfg.Width, cfg.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(raw))
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
