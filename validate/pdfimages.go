package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // scanners write DCT (JPEG) images
	_ "image/png"  // pdfcpu renders Flate images as PNG
	"io"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// A scanned letter arrives as a PDF whose pages are images: to read a QR code
// on it, the images are taken out of the PDF and decoded. ExtractPDFImages
// does that with pdfcpu; CMYK images come out as TIFF, which the decoder
// pdfcpu itself links (github.com/hhrutter/tiff) registers with package image.

// PDFImage is one image XObject of a PDF.
type PDFImage struct {
	// Page is the first page using the image (1-based); an image shown on
	// several pages is returned once.
	Page int
	// Name is the resource name on that page ("Im0"), ObjNr the object
	// number.
	Name  string
	ObjNr int
	// Format is what pdfcpu rendered: "jpg", "png" or "tif".
	Format        string
	Width, Height int
	// Image is the decoded image, nil when Err is set.
	Image image.Image
	// Err says why this image was not decoded: over the pixel limit,
	// unsupported filter (JPX, JBIG2), corrupt data. The other images are
	// still returned.
	Err error
}

// maxPDFImages bounds the images decoded from one PDF: a scan has one per
// page, and pages are bounded by Limits.MaxPages.
const maxPDFImages = 1000

// Errors of ExtractPDFImages besides Guard's (ErrParserPanic,
// ErrParserTimeout).
var (
	// ErrPDFUnreadable: pdfcpu cannot read the file at all.
	ErrPDFUnreadable = errors.New("pdf unreadable")
	// ErrPDFTooManyPages: over Limits.MaxPages.
	ErrPDFTooManyPages = errors.New("pdf over the page limit")
	// ErrUnsupportedImage: an image in a format that cannot be decoded here.
	ErrUnsupportedImage = errors.New("image format not supported")
	// ErrImageTooLarge: an image over Limits.MaxMegapixels, not decoded.
	ErrImageTooLarge = errors.New("image over the pixel limit")
)

// ExtractPDFImages returns the images of the PDF read from r, page by page,
// within lim (MaxPages, MaxMegapixels, MaxDecodeBytes; ParserTimeout bounds
// the whole extraction). A PDF pdfcpu cannot read fails with
// ErrPDFUnreadable, one over the page limit with ErrPDFTooManyPages; an image
// that cannot be decoded is returned with its Err and the others still are.
// pdfcpu runs under Guard: a panic or a loop on a hostile file becomes a
// *GuardError, which is permanent.
func ExtractPDFImages(ctx context.Context, r io.ReadSeeker, lim Limits) ([]PDFImage, error) {
	lim = lim.withDefaults()
	conf := chkPDFConfig(lim)
	conf.Cmd = model.EXTRACTIMAGES
	maxPixels := int64(lim.MaxMegapixels * 1e6)
	return Guard(ctx, "pdf_images", lim.ParserTimeout, func(ctx context.Context) ([]PDFImage, error) {
		pc, err := api.ReadValidateAndOptimize(r, conf)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPDFUnreadable, err)
		}
		if pc.PageCount > lim.MaxPages {
			return nil, fmt.Errorf("%w: %d pages, limit %d", ErrPDFTooManyPages, pc.PageCount, lim.MaxPages)
		}
		var out []PDFImage
		seen := map[int]bool{}
		for page := 1; page <= pc.PageCount; page++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for _, objNr := range pdfcpu.ImageObjNrs(pc, page) {
				if seen[objNr] || len(out) >= maxPDFImages {
					continue
				}
				seen[objNr] = true
				out = append(out, extractOne(pc, page, objNr, maxPixels))
			}
		}
		return out, nil
	})
}

// extractOne decodes one image object, checking its size before decoding.
func extractOne(pc *model.Context, page, objNr int, maxPixels int64) PDFImage {
	im := PDFImage{Page: page, ObjNr: objNr}
	obj := pc.Optimize.ImageObjects[objNr]
	if obj == nil {
		im.Err = fmt.Errorf("image obj#%d: not in the optimized context", objNr)
		return im
	}
	im.Name = obj.ResourceNames[page-1]
	stub, err := pdfcpu.ExtractImage(pc, obj.ImageDict, false, im.Name, objNr, true)
	if err != nil {
		im.Err = fmt.Errorf("image obj#%d: %w", objNr, err)
		return im
	}
	im.Width, im.Height = stub.Width, stub.Height
	if err := checkPixels(im.Width, im.Height, maxPixels); err != nil {
		im.Err = fmt.Errorf("image obj#%d: %w", objNr, err)
		return im
	}
	rendered, err := pdfcpu.ExtractImage(pc, obj.ImageDict, false, im.Name, objNr, false)
	if err != nil {
		if errors.Is(err, pdfcpu.ErrUnsupportedResource) {
			err = fmt.Errorf("%w: %w", ErrUnsupportedImage, err)
		}
		im.Err = fmt.Errorf("image obj#%d: %w", objNr, err)
		return im
	}
	im.Format = rendered.FileType
	if im.Format != "jpg" && im.Format != "png" && im.Format != "tif" {
		im.Err = fmt.Errorf("image obj#%d: %w: %s", objNr, ErrUnsupportedImage, im.Format)
		return im
	}
	data, err := io.ReadAll(rendered.Reader)
	if err != nil {
		im.Err = fmt.Errorf("image obj#%d: %w", objNr, err)
		return im
	}
	// The encoded header may disagree with the PDF dictionary: check again
	// before allocating the pixels.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		im.Err = fmt.Errorf("image obj#%d (%s): %w", objNr, im.Format, err)
		return im
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		im.Err = fmt.Errorf("image obj#%d: %w", objNr, err)
		return im
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		im.Err = fmt.Errorf("image obj#%d (%s): %w", objNr, im.Format, err)
		return im
	}
	im.Image = img
	im.Width, im.Height = img.Bounds().Dx(), img.Bounds().Dy()
	return im
}

func checkPixels(w, h int, limit int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image of %d×%d pixels", w, h)
	}
	if int64(w)*int64(h) > limit {
		return fmt.Errorf("%w: %d×%d, limit %d pixels", ErrImageTooLarge, w, h, limit)
	}
	return nil
}
