package intake

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of scanned pages
	_ "image/png"
	"io"

	_ "github.com/hhrutter/tiff" // registers TIFF with package image, as pdfcpu's import does
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// AssembleImages writes to w a PDF with one page per image, in order: JPEG
// and PNG images make one page each, a TIFF one page per image in its IFD
// chain. JPEG data is embedded as it is (DCTDecode); PNG and TIFF pixels are
// Flate-compressed by pdfcpu. Each page is the size of its image at the
// image's declared resolution (JFIF density, PNG pHYs, TIFF XResolution);
// without one, the image's longer side is taken to be that of an A4 sheet
// (297 mm), which is what mailroom scans are.
//
// Errors from the bytes are permanent (ErrScanFormat, ErrScanUnreadable,
// ErrScanTooManyPages…), as in OpenScan.
func AssembleImages(ctx context.Context, w io.Writer, images [][]byte, lim ScanLimits) error {
	return assembleImages(ctx, w, images, lim.withDefaults())
}

// assembledPage is one image ready for pdfcpu with the page it goes on.
type assembledPage struct {
	data []byte
	dim  types.Dim // page size in points
}

func assembleImages(ctx context.Context, w io.Writer, images [][]byte, lim ScanLimits) error {
	if len(images) == 0 {
		return Permanent(fmt.Errorf("assemble images: %w: no image", ErrScanUnreadable))
	}
	var planned []assembledPage
	pages := 0
	for i, data := range images {
		p, n, err := planImage(data, lim)
		if err != nil {
			return fmt.Errorf("assemble images: image %d: %w", i+1, err)
		}
		if pages += n; pages > lim.MaxPages {
			return &PermanentError{Limit: LimitScanPages, Err: fmt.Errorf("assemble images: %w: over %d pages", ErrScanTooManyPages, lim.MaxPages)}
		}
		planned = append(planned, p)
	}
	var out bytes.Buffer
	_, err := scanGuard(ctx, "pdf_assemble", lim.Timeout, func() (struct{}, error) {
		conf := pdfcpuConfig(lim)
		conf.Cmd = model.IMPORTIMAGES
		pc, err := pdfcpu.CreateContextWithXRefTable(conf, types.PaperSize["A4"])
		if err != nil {
			return struct{}{}, err
		}
		pagesRef, err := pc.Pages()
		if err != nil {
			return struct{}{}, err
		}
		pagesDict, err := pc.DereferenceDict(*pagesRef)
		if err != nil {
			return struct{}{}, err
		}
		for i, p := range planned {
			// Centred and scaled to fit a page of the image's own size:
			// the image fills the page exactly.
			imp := pdfcpu.DefaultImportConfig()
			imp.PageDim, imp.Pos, imp.Scale = &types.Dim{Width: p.dim.Width, Height: p.dim.Height}, types.Center, 1
			refs, err := pdfcpu.NewPagesForImage(pc.XRefTable, bytes.NewReader(p.data), pagesRef, imp)
			if err != nil {
				return struct{}{}, fmt.Errorf("image %d: %w", i+1, err)
			}
			for _, ref := range refs {
				if err := pc.SetValid(*ref); err != nil {
					return struct{}{}, err
				}
				if err := model.AppendPageTree(ref, 1, pagesDict); err != nil {
					return struct{}{}, err
				}
				pc.PageCount++
			}
		}
		return struct{}{}, api.WriteContext(pc, &out)
	})
	if err != nil {
		return scanError("assemble images", err)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("assemble images: %w", err)
	}
	return nil
}

// a4LongSideInches is the longer side of an A4 sheet (297 mm).
const a4LongSideInches = 297 / 25.4

// planImage checks one image against the limits and works out its page
// size; n is the number of pages it makes.
func planImage(data []byte, lim ScanLimits) (p assembledPage, n int, err error) {
	p.data = data
	var w, h int
	var dpi float64
	switch typ := Sniff(data); typ {
	case "image/jpeg", "image/png":
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return p, 0, Permanent(fmt.Errorf("%w: %s: %w", ErrScanUnreadable, typ, err))
		}
		w, h, n = cfg.Width, cfg.Height, 1
		if typ == "image/jpeg" {
			dpi = jfifDPI(data)
		} else {
			dpi = pngDPI(data)
		}
	case "image/tiff":
		pages, err := walkTIFF(data, lim.MaxPages, lim.MaxImagePixels)
		if err != nil {
			if IsPermanent(err) {
				return p, 0, err
			}
			return p, 0, Permanent(fmt.Errorf("%w: %w", ErrScanUnreadable, err))
		}
		// One page size for the whole file: pdfcpu imports a TIFF with one
		// configuration; a page of another shape is fitted inside it.
		w, h, dpi, n = pages[0].Width, pages[0].Height, pages[0].DPI, len(pages)
	default:
		return p, 0, Permanent(fmt.Errorf("%w: %s", ErrScanFormat, typ))
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > lim.MaxImagePixels {
		return p, 0, Permanent(fmt.Errorf("%w: image of %d×%d pixels, limit %d", ErrScanUnreadable, w, h, lim.MaxImagePixels))
	}
	if dpi < 50 || dpi > 2400 {
		dpi = float64(max(w, h)) / a4LongSideInches
	}
	p.dim = types.Dim{Width: float64(w) * 72 / dpi, Height: float64(h) * 72 / dpi}
	return p, n, nil
}

// jfifDPI reads the density of a JFIF APP0 segment (JFIF 1.02 §"JFIF APP0
// marker"): units 1 are dots per inch, 2 dots per cm. 0 when absent.
func jfifDPI(data []byte) float64 {
	if len(data) < 18 || data[2] != 0xff || data[3] != 0xe0 || string(data[6:11]) != "JFIF\x00" {
		return 0
	}
	x := float64(binary.BigEndian.Uint16(data[14:16]))
	switch data[13] {
	case 1:
		return x
	case 2:
		return x * 2.54
	}
	return 0
}

// pngDPI reads a PNG pHYs chunk (PNG spec §11.3.5.3): pixels per metre
// when its unit is 1. 0 when absent. Only the chunks before the first IDAT
// are looked at, where pHYs must be.
func pngDPI(data []byte) float64 {
	for off := 8; off+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		if n < 0 || off+12+n > len(data) || typ == "IDAT" {
			return 0
		}
		if typ == "pHYs" && n == 9 && data[off+8+8] == 1 {
			return float64(binary.BigEndian.Uint32(data[off+8:])) * 0.0254
		}
		off += 12 + n
	}
	return 0
}
