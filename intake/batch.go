package intake

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
)

// The batch split: mailrooms scan dozens of letters in one pass, with a
// separator sheet (batch_separator.go) between two letters. Split reads
// each page, finds the separator sheets and the blank pages, and cuts the
// batch into letters; each letter becomes a submission of its own (LEGAL.md,
// "Registration": a batch scan yields one item per letter).
//
// A batch with N separator sheets yields N+1 letters, or N when it starts
// with one; separator sheets are not part of any letter. A letter left with
// no page (two sheets in a row, a sheet at the end) is not a letter and is
// skipped, so letters are numbered 1..n without holes. Blank pages are
// dropped unless KeepBlank is set. The result depends only on the bytes and
// the options, so a replay after a crash finds the same letters with the
// same numbers (the worker reserves one registration number per letter
// index).
//
// Files: batch.go (Split), batch_blank.go (blank pages), batch_separator.go
// (the separator payload, dates, registered-letter numbers),
// batch_sheet.go (the printable separator sheets), batch_sample.go
// (simulated scans for tests and the demo).

// CodeFinder returns the payloads of the 2D codes it finds on an image;
// none is not an error. The split calls it on a grey copy of each page
// reduced to about 75 dpi, where a separator's code (10 cm wide) has
// modules of about 10 pixels. An error is an infrastructure failure (ctx
// ended) or a permanent one (a decoder that panicked): Split returns it.
// The worker wires validate.DecodeQR; intake does not import validate.
type CodeFinder func(ctx context.Context, img image.Image) ([]string, error)

// SplitOptions say how a batch is cut. The zero value keeps the whole scan
// as one letter and drops blank pages.
type SplitOptions struct {
	// Separators: pages carrying a separator code start a new letter and
	// are dropped. FindCodes is then required.
	Separators bool
	FindCodes  CodeFinder
	// BlankSeparates: a blank page starts a new letter (and is dropped), for
	// mailrooms that put a blank sheet between letters. Unsafe with duplex
	// scanning, where blank backs are common.
	BlankSeparates bool
	// KeepBlank keeps blank pages in their letter instead of dropping them
	// (ignored with BlankSeparates).
	KeepBlank bool
	// BlankInkPercent: a page with less ink than this (percent of its area,
	// see InkPercent) is blank. Zero means DefaultBlankInkPercent.
	BlankInkPercent float64
	// Workers is the number of pages analysed at once; zero means
	// GOMAXPROCS. Each holds one decoded page (9 to 26 MB at 300 dpi).
	Workers int
}

// PageKind is what the split made of a page.
type PageKind string

const (
	PageContent   PageKind = "content"   // part of a letter
	PageBlank     PageKind = "blank"     // dropped, or kept with KeepBlank
	PageSeparator PageKind = "separator" // a separator sheet (or a blank page with BlankSeparates), dropped
)

// PageInfo is the split's finding on one page.
type PageInfo struct {
	Page int // 1-based
	Kind PageKind
	// Ink is the share of ink in percent; -1 when the page was not measured
	// (no image, or one that cannot be decoded here).
	Ink float64
	// Separator is the sheet's content on a separator page.
	Separator *Separator
	// Codes are the other codes seen on the reduced page (an invitation's
	// QR code, perhaps). The evidence search reads pages itself at full
	// resolution; these are for diagnostics.
	Codes []string
	// Note says why a page was not measured or what was wrong with its
	// separator code, without content.
	Note string
}

// Letter is one letter of a batch.
type Letter struct {
	// Index numbers the letters of a batch from 1, in page order.
	Index int
	// Pages are the scan's pages making the letter, in order.
	Pages []int
	// Separator is the sheet that came before the letter, nil for a letter
	// that no sheet opened (the first, when the batch does not start with
	// one).
	Separator *Separator
}

// Batch is the result of a split.
type Batch struct {
	Pages   []PageInfo
	Letters []Letter
}

// ErrNoLetter: the batch holds nothing but separators and blank pages.
var ErrNoLetter = errors.New("batch holds no letter")

// Split analyses every page of scan and cuts it into letters. Errors: a
// permanent ErrScanUnreadable when a page's image is corrupt (the batch is
// then quarantined whole: a letter cut at the wrong place is worse than a
// batch scanned again), a permanent ErrNoLetter, or FindCodes' error.
func Split(ctx context.Context, scan *Scan, o SplitOptions) (*Batch, error) {
	if o.Separators && o.FindCodes == nil {
		return nil, errors.New("split: separators enabled without a code finder")
	}
	if o.BlankInkPercent <= 0 {
		o.BlankInkPercent = DefaultBlankInkPercent
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := scan.Pages()
	pages := make([]PageInfo, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				info, err := analysePage(ctx, scan, i+1, o)
				if err != nil {
					cancel(err)
					continue
				}
				pages[i] = info
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	b := &Batch{Pages: pages, Letters: cut(pages, o)}
	if len(b.Letters) == 0 {
		return b, Permanent(fmt.Errorf("split: %w (%d pages)", ErrNoLetter, n))
	}
	return b, nil
}

// Widths of the reduced copies of a page: about 150 dpi for the blank
// measure, 75 dpi for the code search, for an A4 page scanned at 150 to
// 600 dpi.
const (
	blankMaxWidth = 1400
	codeMaxWidth  = 700
)

// analysePage decodes one page and classifies it.
func analysePage(ctx context.Context, scan *Scan, page int, o SplitOptions) (PageInfo, error) {
	info := PageInfo{Page: page, Kind: PageContent, Ink: -1}
	g, err := scan.PageGray(ctx, page)
	switch {
	case errors.Is(err, ErrNoPageImage), errors.Is(err, ErrPageImageUnsupported):
		info.Note = err.Error()
		return info, nil
	case err != nil:
		return info, err
	}
	mid := reduce(g, blankMaxWidth)
	g = nil // the full page is the bulk of the memory: let it go early
	info.Ink = InkPercent(mid)
	if info.Ink < o.BlankInkPercent {
		info.Kind = PageBlank
		if o.BlankSeparates {
			info.Kind = PageSeparator
		}
		return info, nil
	}
	if !o.Separators {
		return info, nil
	}
	codes, err := o.FindCodes(ctx, reduce(mid, codeMaxWidth))
	if err != nil {
		return info, fmt.Errorf("page %d: find codes: %w", page, err)
	}
	for _, c := range codes {
		sep, ok, err := ParseSeparator(c)
		if !ok {
			info.Codes = append(info.Codes, c)
			continue
		}
		if info.Kind == PageSeparator {
			continue // one sheet, one code: a second is ignored
		}
		info.Kind, info.Separator = PageSeparator, &sep
		if err != nil {
			info.Note = err.Error()
		}
	}
	return info, nil
}

// cut groups the classified pages into letters.
func cut(pages []PageInfo, o SplitOptions) []Letter {
	var letters []Letter
	cur := Letter{}
	flush := func() {
		if len(cur.Pages) > 0 {
			cur.Index = len(letters) + 1
			letters = append(letters, cur)
		}
	}
	for _, p := range pages {
		switch p.Kind {
		case PageSeparator:
			flush()
			cur = Letter{Separator: p.Separator}
		case PageBlank:
			if o.KeepBlank {
				cur.Pages = append(cur.Pages, p.Page)
			}
		default:
			cur.Pages = append(cur.Pages, p.Page)
		}
	}
	flush()
	return letters
}
