package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// The QR phase: images and the images of PDFs (scanned pages) are decoded
// and searched for QR codes carrying invitation tokens. A 300 dpi page
// without a code costs about a second (qr.go), so documents that look like
// the invitation letter come first, then photos, then the other PDFs page by
// page; the phase stops at SearchLimits (images, time) and says so.
//
// PDF images are taken one at a time (the same pdfcpu calls as
// ExtractPDFImages, pdfimages.go), so that a 30-page scan never holds 30
// decoded pages in memory; every pdfcpu call runs under Guard.

// letterHints in a document name put it first in the QR phase.
var letterHints = []string{"invit", "lettre", "courrier", "prefecture", "préfecture", "qr", "convocation"}

// qrOrder returns the documents in the order the QR phase tries them.
func qrOrder(docs []Doc) []Doc {
	rank := func(d Doc) int {
		name := strings.ToLower(d.Name)
		for _, h := range letterHints {
			if strings.Contains(name, h) {
				return 0
			}
		}
		if strings.HasPrefix(strings.ToLower(d.Type), "image/") {
			return 1
		}
		return 2
	}
	out := slices.Clone(docs)
	slices.SortStableFunc(out, func(a, b Doc) int { return rank(a) - rank(b) })
	return out
}

// qrPhase bounds and runs the QR search.
type qrPhase struct {
	e        *evidenceSearch
	ctx      context.Context // the caller's
	qctx     context.Context // the caller's, with the phase's deadline
	start    time.Time
	lim      SearchLimits
	stopped  bool
	searched int
	keys     KeySet // the receiving site's
}

// qr runs the QR phase over the images of the submission.
func (e *evidenceSearch) qr(ctx context.Context) error {
	lim := e.a.search
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, lim.QRTime)
	defer cancel()
	p := &qrPhase{e: e, ctx: ctx, qctx: qctx, start: start, lim: lim}
	if site, ok := e.a.territory.Site(e.s.Site); ok {
		p.keys = site.Keys
	}
	for _, d := range qrOrder(e.s.Documents) {
		if p.stopped {
			break
		}
		if err := p.document(d); err != nil {
			return err
		}
	}
	e.qrImages = p.searched
	e.tracef("QR phase: %d image(s) decoded in %v", p.searched, time.Since(start).Round(time.Millisecond))
	return ctx.Err()
}

// budget reports whether one more image may be decoded; the first refusal
// records the bound as a gap.
func (p *qrPhase) budget() bool {
	if p.stopped {
		return false
	}
	if p.searched < p.lim.MaxQRImages && p.qctx.Err() == nil {
		return true
	}
	p.stopped = true
	p.e.qrBounded = true
	what := fmt.Sprintf("%d image(s) décodée(s) en %d s", p.searched, int(time.Since(p.start).Seconds()))
	p.e.gaps = append(p.e.gaps, Gap{Reason: reason(ReasonSearchBounded, what)})
	p.e.tracef("QR phase stopped at its bound: %s", what)
	return false
}

// document decodes the images of one document.
func (p *qrPhase) document(d Doc) error {
	for _, pr := range d.Problems {
		if _, ok := unsearchable[pr.Code]; ok {
			return nil // already a gap
		}
	}
	if d.Open == nil || d.Size == 0 {
		return nil
	}
	data, err := readBounded(d.Open, p.e.a.limits.MaxBytes)
	if errors.Is(err, errTooLarge) {
		return nil // already a gap
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", docWhere(d), err)
	}
	switch classify(d, data[:min(len(data), 1024)]) {
	case classImage:
		return p.image(d, data)
	case classPDF:
		return p.pdf(d, data)
	}
	return nil
}

// image decodes an image document, checking its size before the pixels.
func (p *qrPhase) image(d Doc, data []byte) error {
	where := docWhere(d)
	lim := p.e.a.limits
	img, err := Guard(p.qctx, "image_decode", lim.ParserTimeout, func(context.Context) (image.Image, error) {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if err := checkPixels(cfg.Width, cfg.Height, int64(lim.MaxMegapixels*1e6)); err != nil {
			return nil, err
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		return img, err
	})
	if stop, err := p.interrupted(); stop {
		return err
	}
	if err != nil {
		p.e.gap(where, "image illisible")
		return nil
	}
	return p.decode(where, img)
}

// interrupted says whether a guarded step was cut short: by the caller's
// context (an error to return) or by the phase's own time budget (the phase
// ends, recorded by budget, without an error).
func (p *qrPhase) interrupted() (stop bool, err error) {
	if err := p.ctx.Err(); err != nil {
		return true, err
	}
	if p.qctx.Err() != nil {
		p.budget()
		return true, nil
	}
	return false, nil
}

// decode runs DecodeQR on one image within the budget and keeps the tokens.
func (p *qrPhase) decode(where string, img image.Image) error {
	b := img.Bounds()
	if min(b.Dx(), b.Dy()) < p.lim.MinQRSide {
		return nil
	}
	if !p.budget() {
		return nil
	}
	p.searched++
	payloads, err := DecodeQR(p.qctx, img)
	if stop, err := p.interrupted(); stop {
		return err
	}
	if err != nil {
		p.e.gap(where, "lecture des codes QR impossible")
		return nil
	}
	for _, pl := range payloads {
		// Other codes (a 2D-Doc, a link) are not invitations: ignored.
		pl = strings.TrimSpace(pl)
		if !strings.HasPrefix(pl, "RCV") {
			continue
		}
		p.e.tokens = append(p.e.tokens, tokenSighting{where: where + " code QR", token: pl})
		// A token this site verifies ends the phase, as a valid reference
		// in the texts skips it: the other pages would cost a second each
		// for nothing (the registry checks follow).
		if _, err := VerifyToken(pl, p.keys); err == nil {
			p.stopped = true
			p.e.tracef("%s: verified token, QR phase ends", where)
		}
	}
	p.e.tracef("%s: %d QR code(s), %d token(s)", where, len(payloads), len(p.e.tokens))
	return nil
}

// pdf decodes the images of a PDF one at a time, page by page.
func (p *qrPhase) pdf(d Doc, data []byte) error {
	where := docWhere(d)
	lim := p.e.a.limits
	conf := chkPDFConfig(lim)
	conf.Cmd = model.EXTRACTIMAGES
	pc, err := Guard(p.qctx, "pdf_images", lim.ParserTimeout, func(context.Context) (*model.Context, error) {
		return api.ReadValidateAndOptimize(bytes.NewReader(data), conf)
	})
	if stop, err := p.interrupted(); stop {
		return err
	}
	if err != nil {
		p.e.gap(where, "images du PDF illisibles")
		return nil
	}
	maxPixels := int64(lim.MaxMegapixels * 1e6)
	seen := map[int]bool{}
	for page := 1; page <= min(pc.PageCount, lim.MaxPages); page++ {
		pageWhere := fmt.Sprintf("%s page %d", where, page)
		objs, err := Guard(p.qctx, "pdf_images", lim.ParserTimeout, func(context.Context) ([]int, error) {
			return pdfcpu.ImageObjNrs(pc, page), nil
		})
		if err == nil {
			for _, objNr := range objs {
				if seen[objNr] {
					continue
				}
				seen[objNr] = true
				if !p.budget() {
					return nil
				}
				var im PDFImage
				im, err = Guard(p.qctx, "pdf_image", lim.ParserTimeout, func(context.Context) (PDFImage, error) {
					return extractOne(pc, page, objNr, maxPixels), nil
				})
				if err != nil {
					break
				}
				if im.Err != nil {
					// JBIG2 and JPX images (common in black-and-white
					// scans) cannot be decoded in pure Go.
					p.e.gap(pageWhere, "image non décodable")
					continue
				}
				if err := p.decode(pageWhere, im.Image); err != nil {
					return err
				}
			}
		}
		if stop, err := p.interrupted(); stop {
			return err
		}
		if err != nil {
			// A panic or a runaway in pdfcpu: the rest of this PDF is not
			// read (a runaway goroutine may still use pc).
			p.e.gap(pageWhere, "images du PDF illisibles")
			return nil
		}
	}
	return nil
}
