package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Document checks: is each file what it claims to be, readable, within
// limits, free of active content? A bad document does not sink the
// submission (DESIGN.md, "Errors"): CheckDocument reports problems, the
// caller flags the document and the dossier is still created.

// Limits bound the document checks. Zero fields take the default named in
// their comment (DESIGN.md, "Limits").
type Limits struct {
	// MaxBytes: a larger document is not opened (default 50 MB, the message
	// limit).
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxPages: a PDF with more pages is flagged (default 500).
	MaxPages int `yaml:"max_pages"`
	// MaxMegapixels: an image over it is flagged and never decoded, which
	// defuses decompression bombs (default 50).
	MaxMegapixels float64 `yaml:"max_megapixels"`
	// ParserTimeout bounds each guarded parse: reading a PDF, decoding an
	// image, extracting text (default 20s).
	ParserTimeout time.Duration `yaml:"parser_timeout"`
	// ExtractText: CheckDocument also extracts the text layer of a PDF into
	// Result.Text, saving a second parse for the evidence search.
	ExtractText bool `yaml:"-"`
	// TextPages and TextBytes bound text extraction (defaults 50 pages, 1 MB).
	TextPages int `yaml:"text_pages"`
	TextBytes int `yaml:"text_bytes"`
	// MaxDecodeBytes bounds one decompressed PDF stream (default 128 MB).
	MaxDecodeBytes int64 `yaml:"max_decode_bytes"`
}

// DefaultLimits returns the limits with every default filled in.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 50 << 20
	}
	if l.MaxPages <= 0 {
		l.MaxPages = 500
	}
	if l.MaxMegapixels <= 0 {
		l.MaxMegapixels = 50
	}
	if l.ParserTimeout <= 0 {
		l.ParserTimeout = DefaultParserTimeout
	}
	if l.TextPages <= 0 {
		l.TextPages = 50
	}
	if l.TextBytes <= 0 {
		l.TextBytes = 1 << 20
	}
	if l.MaxDecodeBytes <= 0 {
		l.MaxDecodeBytes = 128 << 20
	}
	return l
}

// DocInfo is what the submission said about a document.
type DocInfo struct {
	Name     string // original file name; only its extension is used
	Declared string // media type from the sender's headers, if any
	Sniffed  string // media type sniffed by intake, if any (informative)
}

// Result is what the checks found.
type Result struct {
	// Type is the media type recognised from the bytes by CheckDocument
	// ("application/pdf", "image/jpeg"…, "application/octet-stream").
	Type string
	// Pages of a PDF (counted by walking the page tree, not read from
	// /Count); 0 for anything else.
	Pages int
	// Width and Height of an image, in pixels.
	Width, Height int
	// Problems found, in a stable order. Empty means the document passed.
	Problems []Problem
	// Text is the PDF text layer, when Limits.ExtractText was set and the
	// PDF could be read.
	Text *PDFText
	// ParserFailures are the guarded parses that panicked or overran their
	// bound, with their stacks: for the operators' log, next to the
	// document's hash (each is also a Problem for staff).
	ParserFailures []*GuardError
}

// Codes returns the problem codes, e.g. for storage.Document.Problems.
func (r Result) Codes() []string {
	out := make([]string, 0, len(r.Problems))
	for _, p := range r.Problems {
		out = append(out, p.Code)
	}
	return out
}

// Has reports whether a problem with this code was found.
func (r Result) Has(code string) bool {
	for _, p := range r.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// guardFailure records err if it is a *GuardError.
func (r *Result) guardFailure(err error) {
	var ge *GuardError
	if errors.As(err, &ge) {
		r.ParserFailures = append(r.ParserFailures, ge)
	}
}

func (r *Result) add(p Problem) {
	for _, q := range r.Problems {
		if q.Code == p.Code { // one problem per code: the first says it
			return
		}
	}
	r.Problems = append(r.Problems, p)
}

// CheckDocument checks one document of size bytes read from r. It returns
// an error only when the check itself could not run (ctx ended, r failed to
// read); everything wrong with the document is a Problem in the Result.
// Third-party parsers run under Guard: a panic or an overrun of
// lim.ParserTimeout becomes a problem (and an entry of ParserFailures),
// never a crash or a hang. Each guarded step has its own bound: a PDF is
// read, then its text extracted, so the call takes at most about twice
// lim.ParserTimeout.
func CheckDocument(ctx context.Context, r io.ReaderAt, size int64, info DocInfo, lim Limits) (Result, error) {
	lim = lim.withDefaults()
	var res Result
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if size <= 0 {
		res.Type = "application/octet-stream"
		res.add(docProblem(ProblemEmpty, ""))
		return res, nil
	}
	head := make([]byte, min(size, docSniffLen))
	if n, err := r.ReadAt(head, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == int64(len(head))) {
		return res, fmt.Errorf("check document: read head: %w", err)
	}
	res.Type = docSniff(head)
	docCheckType(&res, info)
	if size > lim.MaxBytes {
		res.add(docProblem(ProblemTooLarge, fmt.Sprintf("%d bytes > %d", size, lim.MaxBytes), docMiB(lim.MaxBytes)))
		return res, nil
	}
	var err error
	switch docFamilyOf(res.Type) {
	case famPDF:
		err = chkPDF(ctx, r, size, lim, &res)
	case famImage:
		err = chkImage(ctx, r, size, lim, &res)
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// CheckFile is CheckDocument on a file.
func CheckFile(ctx context.Context, path string, info DocInfo, lim Limits) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("check document: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("check document: %w", err)
	}
	return CheckDocument(ctx, f, st.Size(), info, lim)
}

func docMiB(n int64) string {
	return fmt.Sprintf("%d Mo", n>>20)
}
