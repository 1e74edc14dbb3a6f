package validate

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for image.Decode
	_ "image/jpeg"
	_ "image/png"
	"io"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// Image checks: the image is a format we can read, within the megapixel
// limit, and whole. The header is read first (image.DecodeConfig) and the
// size checked BEFORE any pixel is decoded: a 100-kilobyte PNG can declare
// 60,000 × 60,000 pixels and ask for 14 GB (a decompression bomb). Only
// then is the image decoded, which proves it is not truncated or corrupt.

// chkImageUnsupported names, in French, the image formats that cannot be
// decoded in pure Go. They are kept and flagged, never dropped: HEIC is what
// iPhones send by default.
var chkImageUnsupported = map[string]string{
	"image/heic":    "HEIC (photo d'iPhone)",
	"image/heif":    "HEIF (photo de téléphone)",
	"image/avif":    "AVIF",
	"image/svg+xml": "SVG (dessin vectoriel, peut contenir des scripts)",
}

// chkImage runs the image checks on a document sniffed as an image.
func chkImage(ctx context.Context, r io.ReaderAt, size int64, lim Limits, res *Result) error {
	if what, ok := chkImageUnsupported[res.Type]; ok {
		res.add(docProblem(ProblemImageUnsupported, res.Type+" not decodable in pure Go", what))
		return nil
	}
	cfg, err := Guard(ctx, "image_config", lim.ParserTimeout, func(context.Context) (image.Config, error) {
		c, _, err := image.DecodeConfig(io.NewSectionReader(r, 0, size))
		return c, err
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		chkImageDecodeProblem(res, err)
		return nil
	}
	res.Width, res.Height = cfg.Width, cfg.Height
	if cfg.Width <= 0 || cfg.Height <= 0 {
		res.add(docProblem(ProblemImageUndecodable, fmt.Sprintf("dimensions %d×%d", cfg.Width, cfg.Height)))
		return nil
	}
	mp := float64(cfg.Width) * float64(cfg.Height) / 1e6
	if mp > lim.MaxMegapixels {
		res.add(docProblem(ProblemImageTooLarge, fmt.Sprintf("%d×%d pixels", cfg.Width, cfg.Height), mp, lim.MaxMegapixels))
		return nil
	}
	_, err = Guard(ctx, "image_decode", lim.ParserTimeout, func(context.Context) (struct{}, error) {
		// The decoders do not watch a context: a runaway is abandoned by
		// Guard, bounded in memory by the megapixel check above.
		_, _, err := image.Decode(io.NewSectionReader(r, 0, size))
		return struct{}{}, err
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		chkImageDecodeProblem(res, err)
	}
	return nil
}

// chkImageDecodeProblem turns a decoder failure into a problem: a format
// variant the decoder does not support (TIFF with old-style JPEG
// compression…) is image_format_unsupported; anything else means the image
// is damaged.
func chkImageDecodeProblem(res *Result, err error) {
	res.guardFailure(err)
	var tu tiff.UnsupportedError
	if errors.As(err, &tu) || errors.Is(err, image.ErrFormat) {
		res.add(docProblem(ProblemImageUnsupported, err.Error(), res.Type))
		return
	}
	res.add(docProblem(ProblemImageUndecodable, err.Error()))
}
