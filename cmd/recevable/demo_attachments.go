package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/encoding/charmap"
)

// The attachments of the demo's submissions, made here rather than shipped
// as files: a one-page PDF with a text layer (a filled-in form, a proof of
// address) and a photographed identity document (JPEG). Everything on them
// is fictitious.

// demoPDF is a one-page A4 PDF: title in bold, then lines of text, in the
// standard Helvetica fonts with WinAnsiEncoding (ISO 32000-1 §9.6.6.2 and
// annex D), so the text layer extracts as French text.
func demoPDF(title string, lines []string) ([]byte, error) {
	enc := charmap.Windows1252.NewEncoder()
	str := func(s string) (string, error) {
		b, err := enc.String(s)
		if err != nil {
			return "", fmt.Errorf("demo pdf: %q: %w", s, err)
		}
		// ISO 32000-1 §7.3.4.2: a literal string escapes \, ( and ).
		return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(b), nil
	}
	var content bytes.Buffer
	t, err := str(title)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&content, "BT\n/F2 15 Tf\n56 770 Td\n(%s) Tj\n/F1 11 Tf\n16 TL\nT*\nT*\n", t)
	for _, l := range lines {
		s, err := str(l)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&content, "(%s) '\n", s)
	}
	content.WriteString("ET\n")

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n") // binary comment: the file is binary (§7.5.2)
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	// §7.5.4: each cross-reference entry is exactly 20 bytes.
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f\r\n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n\r\n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return out.Bytes(), nil
}

// demoIDCard is a photograph of an identity document: a card with a
// photo box, the holder's fields and two machine-readable lines, taken
// slightly off-white as a phone camera does.
func demoIDCard(title string, fields []string, mrz []string) ([]byte, error) {
	const w, h = 1100, 760
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0x6b, 0x5e, 0x52, 0xff}}, image.Point{}, draw.Src) // the table
	card := image.Rect(50, 60, w-50, h-60)
	draw.Draw(img, card, &image.Uniform{color.RGBA{0xe9, 0xee, 0xe4, 0xff}}, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(card.Min.X, card.Min.Y, card.Max.X, card.Min.Y+70), &image.Uniform{color.RGBA{0x2c, 0x4a, 0x7a, 0xff}}, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(card.Min.X+30, card.Min.Y+100, card.Min.X+250, card.Min.Y+380), &image.Uniform{color.RGBA{0xb8, 0xb4, 0xad, 0xff}}, image.Point{}, draw.Src)

	text := func(ttf []byte, size float64, col color.Color, x, y int, s string) error {
		f, err := opentype.Parse(ttf)
		if err != nil {
			return fmt.Errorf("demo image: font: %w", err)
		}
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return fmt.Errorf("demo image: font: %w", err)
		}
		d := &font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
		return face.Close()
	}
	if err := text(goregular.TTF, 34, color.White, card.Min.X+30, card.Min.Y+48, title); err != nil {
		return nil, err
	}
	for i, f := range fields {
		if err := text(goregular.TTF, 26, color.RGBA{0x20, 0x20, 0x28, 0xff}, card.Min.X+290, card.Min.Y+130+i*44, f); err != nil {
			return nil, err
		}
	}
	for i, l := range mrz {
		if err := text(gomono.TTF, 29, color.RGBA{0x10, 0x10, 0x10, 0xff}, card.Min.X+30, card.Max.Y-90+i*44, l); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 82}); err != nil {
		return nil, fmt.Errorf("demo image: %w", err)
	}
	return out.Bytes(), nil
}
