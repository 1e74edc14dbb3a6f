package intake

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TIFF scanners write one image per page, chained by their IFDs (TIFF 6.0
// §2: each IFD ends with the offset of the next, 0 after the last).
// golang.org/x/image/tiff reads only the first; pdfcpu's import walks the
// chain with github.com/hhrutter/tiff but trusts it blindly: a chain that
// loops back on itself would make it add pages until memory runs out. So
// the chain is walked here first, with a cycle check and the limits, and
// pdfcpu gets only files whose chain is known to be finite and small.

// tiffPage is what the IFD walk learns about one page.
type tiffPage struct {
	Width, Height int
	// DPI is the horizontal resolution in dots per inch, 0 when absent.
	DPI float64
}

// TIFF tags read here (TIFF 6.0 §8).
const (
	tiffImageWidth     = 256
	tiffImageLength    = 257
	tiffXResolution    = 282
	tiffResolutionUnit = 296
)

// errTIFF: the IFD chain is malformed.
var errTIFF = errors.New("malformed TIFF")

// walkTIFF returns the pages of a TIFF file, checking that its IFD chain
// ends, has at most maxPages entries and that no page is over maxPixels.
func walkTIFF(data []byte, maxPages int, maxPixels int64) ([]tiffPage, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: %d bytes", errTIFF, len(data))
	}
	var bo binary.ByteOrder
	switch string(data[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: header", errTIFF)
	}
	var pages []tiffPage
	seen := map[uint32]bool{}
	for off := bo.Uint32(data[4:8]); off != 0; {
		if seen[off] {
			return nil, fmt.Errorf("%w: IFD chain loops at offset %d", errTIFF, off)
		}
		seen[off] = true
		if len(pages) >= maxPages {
			return nil, &PermanentError{Limit: LimitScanPages, Err: fmt.Errorf("%w: TIFF over %d pages", ErrScanTooManyPages, maxPages)}
		}
		if uint64(off)+2 > uint64(len(data)) {
			return nil, fmt.Errorf("%w: IFD offset %d past the end", errTIFF, off)
		}
		n := int(bo.Uint16(data[off:]))
		end := uint64(off) + 2 + 12*uint64(n)
		if end+4 > uint64(len(data)) {
			return nil, fmt.Errorf("%w: IFD at %d (%d entries) past the end", errTIFF, off, n)
		}
		p := tiffPage{}
		unit := uint32(2) // inches, the default (TIFF 6.0 §8, ResolutionUnit)
		var xres float64
		for i := 0; i < n; i++ {
			e := data[uint64(off)+2+12*uint64(i):]
			tag, typ := bo.Uint16(e), bo.Uint16(e[2:])
			val := func() uint32 { // a SHORT or LONG stored in the entry itself
				if typ == 3 {
					return uint32(bo.Uint16(e[8:]))
				}
				return bo.Uint32(e[8:])
			}
			switch tag {
			case tiffImageWidth:
				p.Width = int(val())
			case tiffImageLength:
				p.Height = int(val())
			case tiffResolutionUnit:
				unit = val()
			case tiffXResolution:
				// A RATIONAL: two LONGs at the offset in the entry.
				ro := uint64(bo.Uint32(e[8:]))
				if typ == 5 && ro+8 <= uint64(len(data)) {
					if den := bo.Uint32(data[ro+4:]); den != 0 {
						xres = float64(bo.Uint32(data[ro:])) / float64(den)
					}
				}
			}
		}
		switch unit {
		case 2:
			p.DPI = xres
		case 3: // centimetres
			p.DPI = xres * 2.54
		}
		if p.Width <= 0 || p.Height <= 0 {
			return nil, fmt.Errorf("%w: page %d without dimensions", errTIFF, len(pages)+1)
		}
		if int64(p.Width)*int64(p.Height) > maxPixels {
			return nil, Permanent(fmt.Errorf("%w: TIFF page %d is %d×%d, over %d pixels", ErrScanUnreadable, len(pages)+1, p.Width, p.Height, maxPixels))
		}
		pages = append(pages, p)
		off = bo.Uint32(data[end:])
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("%w: no IFD", errTIFF)
	}
	return pages, nil
}
