package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// PDF structure checks with pdfcpu: the file parses, is not encrypted, has
// pages and not too many of them. Active content is in pdfactive.go, text in
// pdftext.go. Every call into pdfcpu runs under Guard.

var chkPDFConfigOnce sync.Once

// chkPDFConfig returns a pdfcpu configuration for reading untrusted files:
// no configuration directory (no files written under $HOME, no user fonts),
// relaxed validation (real-world files are rarely spotless; a viewer opens
// them, so must we), and resource limits from lim. Other files of package
// validate that call pdfcpu should use it too: api.DisableConfigDir writes a
// global that pdfcpu reads without a lock, so it is set once, here.
func chkPDFConfig(lim Limits) *model.Configuration {
	chkPDFConfigOnce.Do(api.DisableConfigDir)
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	conf.Cmd = model.VALIDATE
	conf.Offline = true // never fetch certificate revocation lists
	conf.Limits.MaxDecodeBytes = lim.MaxDecodeBytes
	conf.Limits.MaxImagePixels = int64(lim.MaxMegapixels * 1e6)
	return conf
}

// chkPDFDoc is a parsed PDF and its page tree, flattened.
type chkPDFDoc struct {
	ctx   *model.Context
	count int          // leaf pages in the page tree
	pages []chkPDFPage // the first Limits.TextPages of them
}

// chkPDFPage is a page dictionary with the inheritable attributes in
// effect for it (ISO 32000-1 §7.7.3.4): resources, media and crop boxes.
type chkPDFPage struct {
	dict        types.Dict
	res         types.Dict
	media, crop *[4]float64
}

// chkPDF runs the PDF checks and, if asked, the text extraction.
func chkPDF(ctx context.Context, r io.ReaderAt, size int64, lim Limits, res *Result) error {
	type found struct {
		doc      *chkPDFDoc
		problems []Problem
	}
	f, err := Guard(ctx, "pdf_read", lim.ParserTimeout, func(gctx context.Context) (found, error) {
		var out found
		doc, ps := chkReadPDF(gctx, r, size, lim)
		out.doc, out.problems = doc, ps
		if doc != nil {
			out.problems = append(out.problems, chkActiveTable(gctx, doc.ctx.XRefTable)...)
		}
		return out, nil
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		var ge *GuardError
		if !errors.As(err, &ge) {
			return fmt.Errorf("check pdf: %w", err)
		}
		res.guardFailure(err)
		res.add(docProblem(ProblemPDFUnparseable, ge.Error()))
	}
	for _, p := range f.problems {
		res.add(p)
	}
	if f.doc == nil {
		// pdfcpu could not read the file (or it needs a password: names are
		// not encrypted, strings and streams are). A viewer that repairs
		// harder might still run what is in it: look at the bytes.
		raw, err := chkActiveRaw(ctx, r, size)
		if err != nil {
			return err
		}
		for _, p := range raw {
			res.add(p)
		}
		return nil
	}
	res.Pages = f.doc.count
	// An owner-password file was decrypted by pdfcpu: its text is readable.
	if lim.ExtractText {
		text, err := Guard(ctx, "pdf_text", lim.ParserTimeout, func(gctx context.Context) (*PDFText, error) {
			return txExtract(gctx, f.doc, lim)
		})
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			res.guardFailure(err)
			res.add(docProblem(ProblemPDFTextUnreadable, err.Error()))
		} else {
			res.Text = text
		}
	}
	return nil
}

// chkReadPDF parses the file and its page tree. It returns a nil document
// when the file cannot be used, with the problems saying why.
func chkReadPDF(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (*chkPDFDoc, []Problem) {
	pctx, err := pdfcpu.ReadWithContext(ctx, io.NewSectionReader(r, 0, size), chkPDFConfig(lim))
	if err != nil {
		switch {
		case errors.Is(err, pdfcpu.ErrWrongPassword):
			return nil, []Problem{docProblem(ProblemPDFEncrypted, "user password required")}
		case errors.Is(err, pdfcpu.ErrUnsupportedEncryptionFeature), errors.Is(err, pdfcpu.ErrMalformedEncryption),
			errors.Is(err, pdfcpu.ErrEncrypted), chkRawHasEncrypt(r, size):
			return nil, []Problem{docProblem(ProblemPDFEncrypted, "encryption not readable: "+err.Error())}
		}
		return nil, []Problem{docProblem(ProblemPDFUnparseable, err.Error())}
	}
	var ps []Problem
	// TRAP: a file with an owner password only opens with the empty user
	// password, silently. Its trailer still names an Encrypt dictionary.
	if pctx.XRefTable.Encrypt != nil {
		ps = append(ps, docProblem(docKeyPDFOwnerOnly, "owner password only; opened with the empty user password"))
	}
	doc := &chkPDFDoc{ctx: pctx}
	if err := chkWalkPages(ctx, doc, lim.TextPages); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, append(ps, docProblem(ProblemPDFUnparseable, "page tree: "+err.Error()))
	}
	switch {
	case doc.count == 0:
		ps = append(ps, docProblem(ProblemPDFNoPages, "empty page tree"))
	case doc.count > lim.MaxPages:
		ps = append(ps, docProblem(ProblemPDFTooManyPages, fmt.Sprintf("%d pages > %d", doc.count, lim.MaxPages), doc.count, lim.MaxPages))
	}
	return doc, ps
}

// chkMaxTreeDepth bounds the page tree: real files are a few levels deep.
const chkMaxTreeDepth = 64

// chkWalkPages counts the leaf pages of the page tree and keeps the first
// keep of them with their inherited resources. The count is computed, not
// read from /Count, which a hostile or broken file can set to anything. Each
// node is visited once, so cycles and shared subtrees cost nothing.
func chkWalkPages(ctx context.Context, doc *chkPDFDoc, keep int) error {
	xt := doc.ctx.XRefTable
	cat, err := xt.Catalog()
	if err != nil {
		return err
	}
	if cat == nil {
		return errors.New("no catalog")
	}
	root, ok := cat.Find("Pages")
	if !ok {
		return errors.New("catalog without /Pages")
	}
	seen := map[int]bool{}
	var walk func(o types.Object, inh chkPDFPage, depth int) error
	walk = func(o types.Object, inh chkPDFPage, depth int) error {
		if depth > chkMaxTreeDepth {
			return fmt.Errorf("deeper than %d levels", chkMaxTreeDepth)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if ir, ok := o.(types.IndirectRef); ok {
			n := ir.ObjectNumber.Value()
			if seen[n] {
				return nil
			}
			seen[n] = true
		}
		d, err := xt.DereferenceDict(o)
		if err != nil || d == nil {
			return nil // a dangling or wrong kid is skipped, as viewers do
		}
		inh.dict = d
		if ro, ok := d.Find("Resources"); ok {
			if rd, err := xt.DereferenceDict(ro); err == nil && rd != nil {
				inh.res = rd
			}
		}
		if b := chkRect(xt, d["MediaBox"]); b != nil {
			inh.media = b
		}
		if b := chkRect(xt, d["CropBox"]); b != nil {
			inh.crop = b
		}
		kids, hasKids := d.Find("Kids")
		if t := d.Type(); t != nil && *t == "Pages" || t == nil && hasKids {
			arr, err := xt.DereferenceArray(kids)
			if err != nil {
				return nil
			}
			for _, k := range arr {
				if err := walk(k, inh, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		doc.count++
		if len(doc.pages) < keep {
			doc.pages = append(doc.pages, inh)
		}
		return nil
	}
	return walk(root, chkPDFPage{}, 0)
}

// chkRect reads a rectangle [x0 y0 x1 y1], normalised so that x0 ≤ x1 and
// y0 ≤ y1 (§7.9.5), or nil.
func chkRect(xt *model.XRefTable, o types.Object) *[4]float64 {
	if o == nil {
		return nil
	}
	a, _ := xt.DereferenceArray(o)
	if len(a) != 4 {
		return nil
	}
	var r [4]float64
	for i, e := range a {
		v, err := xt.DereferenceNumber(e)
		if err != nil {
			return nil
		}
		r[i] = v
	}
	if r[0] > r[2] {
		r[0], r[2] = r[2], r[0]
	}
	if r[1] > r[3] {
		r[1], r[3] = r[3], r[1]
	}
	return &r
}

// chkRawHasEncrypt looks for an /Encrypt key in the first and last 64 KB,
// where trailers and cross-reference stream dictionaries live, for files
// pdfcpu could not open at all.
func chkRawHasEncrypt(r io.ReaderAt, size int64) bool {
	const span = 64 << 10
	for _, off := range []int64{0, max(0, size-span)} {
		buf := make([]byte, min(span, size-off))
		n, _ := r.ReadAt(buf, off)
		if chkHasName(buf[:n], "/Encrypt", true) {
			return true
		}
	}
	return false
}

// chkHasName reports whether b holds the PDF name tok (with its slash) as
// a whole token, not as the prefix of a longer name. endIsDelim says whether
// the end of b ends a token (end of file) or may cut one.
func chkHasName(b []byte, tok string, endIsDelim bool) bool {
	for {
		i := bytes.Index(b, []byte(tok))
		if i < 0 {
			return false
		}
		b = b[i+len(tok):]
		if len(b) == 0 && endIsDelim || len(b) > 0 && chkDelimiter(b[0]) {
			return true
		}
	}
}

// chkDelimiter: white-space and delimiter characters end a name
// (ISO 32000-1 §7.2.2).
func chkDelimiter(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}
