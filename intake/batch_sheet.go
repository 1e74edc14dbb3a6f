package intake

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/text/encoding/charmap"
)

// The printable separator sheet (`recevable separator`): an A4 page with the
// title "SÉPARATEUR — recevable" for people, a QR code 100 mm wide for the
// split, and, when the mailroom prints one sheet per letter, the letter's
// postal data in words under the code (the same as in the code). The
// layout constants are shared with the simulated scans of batch_sample.go,
// so the tests read the sheet the mailroom prints.

// QREncoder draws payload as a QR code, black on white, quiet zone
// included. The command wires validate.EncodeQR; intake does not import
// validate.
type QREncoder func(payload string) (image.Image, error)

// Layout of the sheet, in millimetres from the top left of an A4 page.
const (
	sheetWidthMM  = 210.0
	sheetHeightMM = 297.0
	sheetTitleY   = 30.0  // baseline area of the title
	sheetQRTop    = 55.0  // top of the code
	sheetQRSide   = 100.0 // side of the code, quiet zone included
	sheetTextY    = 175.0 // first line under the code
	sheetLineMM   = 9.0   // between two lines under the code
)

// SheetTitle is the human-readable title of a separator sheet.
const SheetTitle = "SÉPARATEUR — recevable"

// sheetLines are the lines printed under the code.
func sheetLines(s Separator) []string {
	lines := []string{"Feuille de séparation entre deux courriers", "retirée automatiquement à l'enregistrement"}
	if !s.Postmark.IsZero() {
		lines = append(lines, "Cachet de la poste : "+frenchDay(s.Postmark))
	}
	if !s.Received.IsZero() {
		lines = append(lines, "Reçu le : "+frenchDay(s.Received))
	}
	if s.Registered != "" {
		lines = append(lines, "Recommandé avec AR n° "+s.Registered)
	}
	return lines
}

// frenchDay writes a date as DD/MM/YYYY.
func frenchDay(d Date) string { return fmt.Sprintf("%02d/%02d/%04d", d.Day, d.Month, d.Year) }

// WriteSeparatorSheets writes a PDF with one separator sheet per entry of
// sheets, in order. The output is deterministic: the same sheets give the
// same bytes.
func WriteSeparatorSheets(w io.Writer, sheets []Separator, qr QREncoder) error {
	if len(sheets) == 0 {
		return errors.New("separator sheets: none asked")
	}
	if qr == nil {
		return errors.New("separator sheets: no QR encoder")
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCatalogSort(true)
	epoch := time.Date(2023, 8, 1, 0, 0, 0, 0, time.UTC) // fixed: same input, same bytes
	pdf.SetCreationDate(epoch)
	pdf.SetModificationDate(epoch)
	pdf.SetTitle("Séparateurs recevable", true)
	pdf.SetCreator("recevable", false)
	pdf.SetProducer("recevable", false)
	pdf.SetLang("fr-FR")
	pdf.SetAutoPageBreak(false, 0)
	enc := charmap.Windows1252.NewEncoder()
	cp := func(s string) string {
		out, err := enc.String(s)
		if err != nil {
			return s
		}
		return out
	}
	for i, s := range sheets {
		if err := s.Check(); err != nil {
			return fmt.Errorf("separator sheet %d: %w", i+1, err)
		}
		img, err := qr(s.Payload())
		if err != nil {
			return fmt.Errorf("separator sheet %d: %w", i+1, err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return fmt.Errorf("separator sheet %d: png: %w", i+1, err)
		}
		name := fmt.Sprintf("qr%d", i)
		pdf.AddPage()
		pdf.SetFont("Helvetica", "B", 30)
		pdf.SetXY(0, sheetTitleY-8)
		pdf.CellFormat(sheetWidthMM, 16, cp(SheetTitle), "", 0, "C", false, 0, "")
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, &buf)
		pdf.ImageOptions(name, (sheetWidthMM-sheetQRSide)/2, sheetQRTop, sheetQRSide, sheetQRSide, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		for j, line := range sheetLines(s) {
			pdf.SetFont("Helvetica", "", 16)
			if j >= 2 {
				pdf.SetFont("Helvetica", "B", 18)
			}
			pdf.SetXY(0, sheetTextY+float64(j)*sheetLineMM-4)
			pdf.CellFormat(sheetWidthMM, 8, cp(line), "", 0, "C", false, 0, "")
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("separator sheets: %w", err)
	}
	return nil
}
