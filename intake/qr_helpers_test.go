package intake_test

import (
	"context"
	"image"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// QR codes for intake's tests, on gozxing directly: intake does not import
// validate (DESIGN.md, "Packages"), whose EncodeQR and DecodeQR the worker
// and the command wire in production. These follow them: level Q, a 4-module
// quiet zone, 8 pixels a module; decoding with the local-threshold
// binarizer, then the global one, multi-code reader first.

func encodeQR(payload string) (image.Image, error) {
	hints := map[gozxing.EncodeHintType]interface{}{
		gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_Q,
		gozxing.EncodeHintType_MARGIN:           4,
	}
	m, err := qrcode.NewQRCodeWriter().Encode(payload, gozxing.BarcodeFormat_QR_CODE, 0, 0, hints)
	if err != nil {
		return nil, err
	}
	const px = 8
	img := image.NewGray(image.Rect(0, 0, m.GetWidth()*px, m.GetHeight()*px))
	for y := 0; y < img.Rect.Dy(); y++ {
		for x := 0; x < img.Rect.Dx(); x++ {
			if !m.Get(x/px, y/px) {
				img.Pix[y*img.Stride+x] = 0xff
			}
		}
	}
	return img, nil
}

func decodeQR(ctx context.Context, img image.Image) ([]string, error) {
	src := gozxing.NewLuminanceSourceFromImage(img)
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	for _, bin := range []gozxing.Binarizer{gozxing.NewHybridBinarizer(src), gozxing.NewGlobalHistgramBinarizer(src)} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		bmp, err := gozxing.NewBinaryBitmap(bin)
		if err != nil {
			continue
		}
		var out []string
		if rs, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hints); err == nil {
			for _, r := range rs {
				out = append(out, r.GetText())
			}
		}
		if len(out) == 0 {
			if r, err := qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
				out = append(out, r.GetText())
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}
