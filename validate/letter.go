package validate

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// The invitation letter is what the prefecture sends (or hands over) to a
// person who could not file online: arrêté 2023-08-01 art. 4 al. 2 makes the
// dossier admissible only with such an invitation from the competent
// prefecture. It says what to send, where (postal address and dedicated email
// address) and by when, carries the reference in large characters for people
// who type it, and the QR code with the signed token for the scanner.
//
// It is written with fpdf's core Helvetica and Courier fonts in Windows-1252,
// which has every French letter (é è ê à ç œ Œ « »…); a character outside it
// (in a foreign name) is printed without its accent, or as "?" when it has no
// Latin form. Output is deterministic: the same Letter gives the same bytes,
// so a letter can be printed again identically.

// LetterSite is what the letter says about the issuing service, from the
// site's configuration.
type LetterSite struct {
	// Name of the service, e.g. "Préfecture de police"; it signs the letter.
	Name string
	// Letterhead lines at the top left; empty: the name alone.
	Letterhead []string
	// City where the letter is written ("Paris, le …"); may be empty.
	City string
	// PostalAddress where dossiers are sent by post, one line per item.
	PostalAddress []string
	// Email is the dedicated address receiving dossiers.
	Email string
	// Phone of the service, printed in the footer when set.
	Phone string
}

// Letter is one invitation letter.
type Letter struct {
	Site LetterSite
	// Date of the letter (its calendar day in its location is printed).
	Date time.Time
	// ApplicantName as the applicant writes it; ApplicantAddress optional.
	ApplicantName    string
	ApplicantAddress []string
	Reference        Reference
	// Token is the signed token printed as a QR code.
	Token string
	// Expires is the last day an envelope may be posted or an email sent.
	Expires time.Time
}

// ErrLetter: a Letter lacks something it must print.
var ErrLetter = errors.New("invitation letter incomplete")

func (l Letter) check() error {
	var missing []string
	if strings.TrimSpace(l.Site.Name) == "" {
		missing = append(missing, "site name")
	}
	if len(l.Site.PostalAddress) == 0 {
		missing = append(missing, "postal address")
	}
	if strings.TrimSpace(l.Site.Email) == "" {
		missing = append(missing, "email address")
	}
	if strings.TrimSpace(l.ApplicantName) == "" {
		missing = append(missing, "applicant name")
	}
	if l.Reference.IsZero() {
		missing = append(missing, "reference")
	}
	if l.Token == "" {
		missing = append(missing, "token")
	}
	if l.Date.IsZero() || l.Expires.IsZero() {
		missing = append(missing, "dates")
	} else if CivilDay(l.Expires).Before(CivilDay(l.Date)) {
		missing = append(missing, "an expiry after the date")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrLetter, strings.Join(missing, ", "))
	}
	return nil
}

// blockKind is the role of a piece of the letter's body.
type blockKind int

const (
	blockPara    blockKind = iota // paragraph
	blockHeading                  // short bold heading
	blockBullet                   // item of a list
	blockIndent                   // indented line (an address)
)

type letterBlock struct {
	kind blockKind
	text string
}

// body returns the letter's body, in French, in order. Kept apart from the
// drawing so that the wording is reviewed in testdata/letter.golden.txt.
func (l Letter) body() []letterBlock {
	b := []letterBlock{
		{blockPara, "Madame, Monsieur,"},
		// arrêté 2023-08-01 art. 4 al. 1 and 2: the substitute route is for
		// those who could not file despite the help of art. 2, on invitation
		// of the prefecture after the technical impossibility was established.
		{blockPara, "Vous n'avez pas pu déposer votre demande de titre de séjour sur le téléservice de " +
			"l'administration numérique pour les étrangers en France (ANEF), malgré l'aide du centre de " +
			"contact citoyens ou d'un point d'accueil numérique. L'impossibilité technique de ce dépôt " +
			"ayant été constatée, vous êtes invité(e) à déposer votre demande par voie postale ou par " +
			"courrier électronique, en application de l'article 4 de l'arrêté du 1er\u00a0août\u00a02023 pris pour " +
			"l'application de l'article R.\u00a0431-2 du code de l'entrée et du séjour des étrangers et du " +
			"droit d'asile."},
		{blockHeading, "Que devez-vous envoyer ?"},
		{blockBullet, "votre demande de titre de séjour et les pièces justificatives exigées pour le titre que vous sollicitez ;"},
		{blockBullet, "cette lettre, ou au moins sa référence " + l.Reference.String() + " (dans l'objet de votre courriel ou dans votre courrier)."},
		{blockHeading, "Où l'envoyer ? Au choix :"},
		{blockBullet, "par courrier postal, à l'adresse :"},
	}
	for _, line := range l.Site.PostalAddress {
		b = append(b, letterBlock{blockIndent, line})
	}
	b = append(b,
		letterBlock{blockBullet, "par courrier électronique, à l'adresse dédiée : " + l.Site.Email},
		letterBlock{blockHeading, "Avant quelle date ?"},
		// CRPA L112-1: the postmark counts for a letter; for an email, the
		// date of the acknowledgment of electronic registration.
		letterBlock{blockPara, "Votre envoi doit être fait au plus tard le " + FrenchDate(l.Expires) + ". Pour un " +
			"courrier, la date du cachet de la poste fait foi ; pour un courriel, la date de l'accusé " +
			"d'enregistrement électronique qui vous sera adressé (article L.\u00a0112-1 du code des relations " +
			"entre le public et l'administration)."},
		// arrêté 2023-08-01 art. 4 al. 3.
		letterBlock{blockPara, "Un rendez-vous individuel en préfecture vous sera également proposé."},
		letterBlock{blockPara, "Cette invitation est personnelle. Le code QR en haut de cette lettre permet à nos " +
			"services d'en vérifier l'authenticité : ne le masquez pas et ne l'abîmez pas si vous nous " +
			"envoyez cette lettre."},
		letterBlock{blockPara, "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées."},
	)
	return b
}

// dateLine is "Paris, le 2 mars 2026" or "Le 2 mars 2026".
func (l Letter) dateLine() string {
	if l.Site.City == "" {
		return "Le " + FrenchDate(l.Date)
	}
	return l.Site.City + ", le " + FrenchDate(l.Date)
}

const letterSubject = "Objet : invitation à déposer votre demande de titre de séjour par voie postale ou par courrier électronique"

var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet",
	"août", "septembre", "octobre", "novembre", "décembre"}

// FrenchDate writes a calendar day as French letters do: "1er août 2023",
// "2 mars 2026".
func FrenchDate(t time.Time) string {
	y, m, d := t.Date()
	day := fmt.Sprint(d)
	if d == 1 {
		day = "1er"
	}
	return fmt.Sprintf("%s %s %d", day, frenchMonths[m-1], y)
}

// Layout of the A4 page, in millimetres. The QR code sits top right, where
// French administrative documents carry their 2D-Doc; the recipient block
// where the window of a DL envelope is (about 110 mm from the left, between
// 45 and 90 mm from the top).
const (
	pageMargin   = 20.0
	pageWidth    = 210.0
	pageHeight   = 297.0
	topY         = 12.0
	recipientX   = 110.0
	recipientY   = 52.0
	qrSide       = 36.0
	bodyFontSize = 10.0
	lineHeight   = 4.6
)

// RenderLetter writes the letter as an A4 PDF (one page with the usual
// address lengths).
func RenderLetter(w io.Writer, l Letter) error {
	if err := l.check(); err != nil {
		return err
	}
	qr, err := EncodeQR(l.Token)
	if err != nil {
		return fmt.Errorf("invitation letter: %w", err)
	}
	var qrPNG bytes.Buffer
	if err := png.Encode(&qrPNG, qr); err != nil {
		return fmt.Errorf("invitation letter: qr png: %w", err)
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCatalogSort(true) // resources in a fixed order: same input, same bytes
	day := CivilDay(l.Date)
	pdf.SetCreationDate(day)
	pdf.SetModificationDate(day)
	pdf.SetTitle("Invitation "+l.Reference.String(), true)
	pdf.SetAuthor(l.Site.Name, true)
	pdf.SetCreator("recevable", false)
	pdf.SetProducer("recevable", false)
	pdf.SetLang("fr-FR")
	pdf.SetMargins(pageMargin, pageMargin, pageMargin)
	pdf.SetAutoPageBreak(true, 22)
	footer := footerLines(l.Site)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-17)
		pdf.SetFont("Helvetica", "", 7.5)
		pdf.SetTextColor(90, 90, 90)
		for _, line := range footer {
			pdf.CellFormat(0, 3.6, cp1252(line), "", 2, "C", false, 0, "")
		}
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()
	text := pageMargin
	width := pageWidth - 2*pageMargin

	// Letterhead, top left.
	head := l.Site.Letterhead
	if len(head) == 0 {
		head = []string{l.Site.Name}
	}
	pdf.SetXY(text, topY)
	for i, line := range head {
		style := ""
		if i == 0 {
			style = "B"
		}
		pdf.SetFont("Helvetica", style, 9)
		pdf.SetX(text)
		pdf.MultiCell(85, 4.2, cp1252(line), "", "L", false)
	}

	// QR code, top right, with a short caption under it.
	qrX := pageWidth - pageMargin - qrSide
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, &qrPNG)
	pdf.ImageOptions("qr", qrX, topY-2, qrSide, qrSide, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(qrX-4, topY-2+qrSide)
	pdf.SetFont("Helvetica", "", 6.5)
	pdf.CellFormat(qrSide+8, 3, cp1252("Code de vérification – ne pas masquer"), "", 0, "C", false, 0, "")

	// Recipient, in the envelope window, then the date.
	pdf.SetXY(recipientX, recipientY)
	pdf.SetFont("Helvetica", "B", bodyFontSize)
	pdf.MultiCell(pageWidth-recipientX-pageMargin, lineHeight, cp1252(l.ApplicantName), "", "L", false)
	pdf.SetFont("Helvetica", "", bodyFontSize)
	for _, line := range l.ApplicantAddress {
		pdf.SetX(recipientX)
		pdf.MultiCell(pageWidth-recipientX-pageMargin, lineHeight, cp1252(line), "", "L", false)
	}
	pdf.SetXY(recipientX, max(pdf.GetY()+5, 74))
	pdf.CellFormat(0, lineHeight, cp1252(l.dateLine()), "", 1, "L", false, 0, "")

	// Subject and the reference in large characters.
	pdf.SetXY(text, max(pdf.GetY()+5, 84))
	pdf.SetFont("Helvetica", "B", bodyFontSize)
	pdf.MultiCell(width, lineHeight, cp1252(letterSubject), "", "L", false)
	pdf.Ln(2)
	pdf.SetFont("Helvetica", "", 8.5)
	pdf.CellFormat(0, 4, cp1252("Référence à rappeler dans tout envoi :"), "", 1, "L", false, 0, "")
	pdf.SetFont("Courier", "B", 18)
	pdf.CellFormat(0, 9, l.Reference.String(), "", 1, "L", false, 0, "")
	pdf.Ln(2)

	// Body.
	for _, blk := range l.body() {
		pdf.SetFont("Helvetica", "", bodyFontSize)
		switch blk.kind {
		case blockPara:
			pdf.MultiCell(width, lineHeight, cp1252(blk.text), "", "J", false)
			pdf.Ln(1.8)
		case blockHeading:
			pdf.SetFont("Helvetica", "B", bodyFontSize)
			pdf.MultiCell(width, lineHeight, cp1252(blk.text), "", "L", false)
			pdf.Ln(0.4)
		case blockBullet:
			pdf.SetX(text + 3)
			pdf.CellFormat(4, lineHeight, "-", "", 0, "L", false, 0, "")
			pdf.MultiCell(width-7, lineHeight, cp1252(blk.text), "", "L", false)
			pdf.Ln(0.4)
		case blockIndent:
			pdf.SetX(text + 12)
			pdf.MultiCell(width-12, lineHeight, cp1252(blk.text), "", "L", false)
		}
	}
	pdf.Ln(3)
	pdf.SetFont("Helvetica", "B", bodyFontSize)
	pdf.CellFormat(0, lineHeight, cp1252(l.Site.Name), "", 1, "R", false, 0, "")

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("invitation letter: %w", err)
	}
	return nil
}

// footerLines are the service's contact lines at the foot of each page.
func footerLines(s LetterSite) []string {
	contact := "Courriel : " + s.Email
	if s.Phone != "" {
		contact += " – Tél. " + s.Phone
	}
	return []string{s.Name + " – " + strings.Join(s.PostalAddress, ", "), contact}
}

// frenchSpacing makes the space before ? ! : ; a no-break space, as French
// typography wants, so that a line never starts with one of them.
var frenchSpacing = strings.NewReplacer(" ?", "\u00a0?", " !", "\u00a0!", " :", "\u00a0:", " ;", "\u00a0;")

// cp1252 converts s to the Windows-1252 bytes the core fonts are laid out
// for, with French spacing. A character outside Windows-1252 loses its
// accents (NFKD), and is printed "?" when nothing is left.
func cp1252(s string) string {
	enc := charmap.Windows1252
	var b strings.Builder
	for _, r := range frenchSpacing.Replace(s) {
		if c, ok := enc.EncodeRune(r); ok {
			b.WriteByte(c)
			continue
		}
		folded := false
		for _, d := range norm.NFKD.String(nameFold.Replace(string(r))) {
			if unicode.Is(unicode.Mn, d) {
				continue
			}
			if c, ok := enc.EncodeRune(d); ok {
				b.WriteByte(c)
				folded = true
			}
		}
		if !folded {
			b.WriteByte('?')
		}
	}
	return b.String()
}
