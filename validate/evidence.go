package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// The evidence search: where art. 4 evidence is looked for, and what. DESIGN
// ("Evidence kinds"): invitation references and tokens, CCC attestations —
// in the subject, the bodies, the document names, the PDF text layers, the
// QR codes of images and scanned pages, and forwarded messages.
//
// It runs in two phases. The cheap one reads every text there is (subject,
// bodies, names, text layers, text and office attachments, forwarded
// messages): milliseconds. The expensive one decodes images looking for QR
// codes (about a second for a 300 dpi page without a code, evidence_qr.go),
// and runs only when the cheap phase gave no valid evidence, within
// SearchLimits. Whatever could not be searched is a Gap: the decision then
// never proposes a refusal, since the evidence may be there (arrêté
// 2023-08-01 art. 4; DESIGN.md: never let a verification failure pass
// silently).

// SearchLimits bound the QR phase of one submission. Zero fields take the
// default in their comment.
type SearchLimits struct {
	// MaxQRImages: images decoded looking for QR codes (default 24: a scanned
	// letter and its enclosures).
	MaxQRImages int
	// QRTime: total time of the QR phase (default 45s).
	QRTime time.Duration
	// MinQRSide: images whose smaller side is under this many pixels are not
	// decoded (default 60: a version 9 code needs 61 modules with its quiet
	// zone).
	MinQRSide int
}

func (l SearchLimits) withDefaults() SearchLimits {
	if l.MaxQRImages <= 0 {
		l.MaxQRImages = 24
	}
	if l.QRTime <= 0 {
		l.QRTime = 45 * time.Second
	}
	if l.MinQRSide <= 0 {
		l.MinQRSide = 60
	}
	return l
}

// refSighting is a reference written somewhere (typed, or in a text layer).
type refSighting struct {
	where string
	found Found
}

// tokenSighting is a QR payload that starts like a token.
type tokenSighting struct {
	where string
	token string
}

// ticketSighting is a CCC ticket number found in a text.
type ticketSighting struct {
	where  string
	ticket string
}

// searchedText is one text that was searched.
type searchedText struct {
	where  string
	folded string
	text   string
	words  []string // NormaliseName words of text, made when a name is looked for
	split  bool
	// invitation: the text carries an invitation reference, so it speaks of
	// the invitation (our own letter says "vous n'avez pas pu déposer…"):
	// its wording is not a CCC attestation nor the applicant's statement.
	invitation bool
	// document: a text layer or attached text, where a printed CCC email
	// would be; else a body or the subject.
	document bool
}

// nameWords returns the words of the text for the name check, splitting
// it the first time only: most submissions never need it.
func (t *searchedText) nameWords() []string {
	if !t.split {
		t.words, t.split = nameWords(t.text, maxNameWords), true
	}
	return t.words
}

// embeddedMessage is a forwarded message with its raw bytes.
type embeddedMessage struct {
	where string
	raw   []byte
	// folded is its text bodies, folded (foldText), for the statement.
	folded string
}

// evidenceSearch holds what one submission's search found.
type evidenceSearch struct {
	a *EvidenceAssessor
	s *Submission

	refs     []refSighting
	tokens   []tokenSighting
	tickets  []ticketSighting
	texts    []searchedText
	messages []embeddedMessage
	gaps     []Gap
	// trace says, in English, what was searched, for `recevable check`.
	trace []string

	seenMessages map[[32]byte]bool
	qrImages     int
	qrBounded    bool
}

func newEvidenceSearch(a *EvidenceAssessor, s *Submission) *evidenceSearch {
	return &evidenceSearch{a: a, s: s, seenMessages: map[[32]byte]bool{}}
}

func (e *evidenceSearch) tracef(format string, args ...any) {
	e.trace = append(e.trace, fmt.Sprintf(format, args...))
}

// gap records a place that could not be searched.
func (e *evidenceSearch) gap(where, why string) {
	e.gaps = append(e.gaps, Gap{Reason: reason(ReasonDocumentNotSearched, where, why)})
	e.tracef("%s: not searched (%s)", where, why)
}

// addText searches one text for references, tickets and phrases.
func (e *evidenceSearch) addText(where, text string, document bool) {
	text = truncateText(text, maxSearchText)
	if strings.TrimSpace(text) == "" {
		return
	}
	found := FindReferences(text)
	for _, f := range found {
		e.refs = append(e.refs, refSighting{where: where, found: f})
	}
	tickets := findTickets(e.a.ccc.ticket, text)
	for _, t := range tickets {
		e.tickets = append(e.tickets, ticketSighting{where: where, ticket: t})
	}
	e.texts = append(e.texts, searchedText{
		where: where, folded: foldText(text), text: text,
		invitation: len(found) > 0, document: document,
	})
	e.tracef("%s: %d characters, %d reference(s), %d ticket(s)", where, len(text), len(found), len(tickets))
}

// docWhere names a document for staff: "document 2 (lettre.pdf)".
func docWhere(d Doc) string {
	name := d.Name
	if name == "" {
		name = d.SafeName
	}
	if name == "" {
		return fmt.Sprintf("document %d", d.Index+1)
	}
	return fmt.Sprintf("document %d (%s)", d.Index+1, name)
}

// cheap runs the text phase over the whole submission.
func (e *evidenceSearch) cheap(ctx context.Context) error {
	s := e.s
	e.addText("objet du courriel", s.Subject, false)
	for _, t := range s.Texts {
		body := t.Body
		if t.HTML {
			body = htmlToText(body)
		}
		e.addText(t.Where, body, false)
	}
	for _, d := range s.Documents {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, f := range FindReferences(d.Name) {
			e.refs = append(e.refs, refSighting{where: "nom du " + docWhere(d), found: f})
		}
		if err := e.searchDocument(ctx, d); err != nil {
			return err
		}
	}
	for _, m := range s.Embedded {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := readBounded(m.Open, e.a.limits.MaxBytes)
		if errors.Is(err, errTooLarge) {
			e.gap("message transféré "+m.Where, "trop volumineux")
			continue
		}
		if err != nil {
			return fmt.Errorf("read forwarded message %s: %w", m.Where, err)
		}
		e.addMessage(ctx, "message transféré "+m.Where, raw)
	}
	return nil
}

// docClass is how a document is searched.
type docClass int

const (
	classOther docClass = iota
	classPDF
	classImage
	classText
	classHTML
	classMessage
	classOffice
)

// classify decides from the sniffed type, then the name, then the bytes.
func classify(d Doc, head []byte) docClass {
	t := strings.ToLower(d.Type)
	ext := strings.ToLower(path.Ext(d.Name))
	switch {
	case t == "application/pdf" || bytes.HasPrefix(head, []byte("%PDF-")):
		return classPDF
	case t == "message/rfc822" || t == "message/global" || ext == ".eml":
		return classMessage
	case t == "text/html" || t == "application/xhtml+xml" || ext == ".html" || ext == ".htm":
		return classHTML
	case strings.HasPrefix(t, "text/") || ext == ".txt":
		return classText
	case strings.HasPrefix(t, "image/"):
		return classImage
	case officeText[t] != "" || ext == ".docx" || ext == ".odt":
		return classOffice
	}
	return classOther
}

// unsearchable are the document problems after which nothing is read: the
// worker's checks already found the file over the limit or unreadable.
var unsearchable = map[string]string{
	ProblemTooLarge:         "trop volumineux",
	ProblemImageTooLarge:    "image trop grande",
	ProblemImageUnsupported: "format d'image non lisible automatiquement",
	ProblemImageUndecodable: "image endommagée",
	ProblemPDFUnparseable:   "PDF endommagé ou illisible",
}

// searchDocument runs the cheap phase on one document; images and the
// images of PDFs wait for the QR phase.
func (e *evidenceSearch) searchDocument(ctx context.Context, d Doc) error {
	where := docWhere(d)
	for _, p := range d.Problems {
		if why, ok := unsearchable[p.Code]; ok {
			e.gap(where, why)
			return nil
		}
	}
	if d.Open == nil {
		if d.Size != 0 {
			e.gap(where, "contenu non disponible")
		}
		return nil
	}
	if d.Size == 0 {
		return nil // empty: nothing can hide there
	}
	data, err := readBounded(d.Open, e.a.limits.MaxBytes)
	if errors.Is(err, errTooLarge) {
		e.gap(where, "trop volumineux")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", where, err)
	}
	if len(data) == 0 {
		return nil
	}
	switch classify(d, data[:min(len(data), 1024)]) {
	case classPDF:
		text, err := ExtractPDFText(ctx, bytes.NewReader(data), int64(len(data)), e.a.limits)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Encrypted with a user password, damaged, hostile: the text
			// could not be read. Its images may still be (QR phase), but
			// the text is a gap.
			why := "texte illisible"
			for _, p := range d.Problems {
				if p.Code == ProblemPDFEncrypted {
					why = "PDF protégé par mot de passe"
				}
			}
			e.gap(where, why)
			return nil
		}
		e.addText(where, text.String(), true)
		if text.Truncated {
			e.tracef("%s: text layer truncated at the limit", where)
		}
	case classText:
		e.addText(where, string(data), true)
	case classHTML:
		e.addText(where, htmlToText(string(data)), true)
	case classMessage:
		e.addMessage(ctx, where, data)
	case classOffice:
		text, err := extractOfficeText(ctx, data, e.a.limits)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			e.gap(where, "document bureautique illisible")
			return nil
		}
		e.addText(where, text, true)
	case classImage:
		// QR phase.
	default:
		e.gap(where, fmt.Sprintf("type %s non examiné automatiquement", orUnknown(d.Type)))
	}
	return nil
}

func orUnknown(t string) string {
	if t == "" {
		return "inconnu"
	}
	return t
}

// addMessage keeps a forwarded message for the CCC check and searches its
// texts. The same message met twice (as a part and as a document) counts
// once.
func (e *evidenceSearch) addMessage(ctx context.Context, where string, raw []byte) {
	sum := sha256.Sum256(raw)
	if e.seenMessages[sum] {
		return
	}
	e.seenMessages[sum] = true
	texts, err := messageTexts(ctx, raw, e.a.limits)
	if err != nil {
		e.tracef("%s: text not read (%v)", where, err)
	}
	for _, t := range texts {
		e.addText(where, t, false)
	}
	e.messages = append(e.messages, embeddedMessage{where: where, raw: raw, folded: foldText(strings.Join(texts, "\n"))})
}

// errTooLarge: a document over Limits.MaxBytes.
var errTooLarge = errors.New("over the size limit")

// readBounded reads what open gives, at most max bytes.
func readBounded(open func() (io.ReadCloser, error), max int64) ([]byte, error) {
	if open == nil {
		return nil, errors.New("no content")
	}
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}
