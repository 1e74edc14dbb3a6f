package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// A scan is what the mailroom's scanner leaves in the drop: a PDF whose pages
// are images (one per page, JPEG, Flate or CCITT), or a bare JPEG, PNG or
// (multi-page) TIFF, which OpenScan first assembles into such a PDF. The
// batch split (batch.go) reads each page's image from it and writes each
// letter as a PDF of its own pages, the page objects copied as they are: the
// scanner's JPEG data is never re-encoded.
//
// Files: scanpdf.go (opening, limits, the guard around pdfcpu, writing
// letters), scanpdf_assemble.go (images → PDF), scanpdf_image.go (a page's
// image, decoded), scanpdf_lazy.go (page images kept out of memory),
// scanpdf_tiff.go (the IFD chain of a TIFF).

// Errors of a scan. Each is returned wrapped in a *PermanentError: the same
// bytes fail the same way every time, so the item goes to quarantine.
var (
	// ErrScanUnreadable: pdfcpu (or the image decoder) cannot read the file.
	ErrScanUnreadable = errors.New("scan unreadable")
	// ErrScanFormat: neither PDF, JPEG, PNG nor TIFF.
	ErrScanFormat = errors.New("scan format not accepted")
	// ErrScanTooManyPages: over ScanLimits.MaxPages.
	ErrScanTooManyPages = errors.New("scan over the page limit")
	// ErrScanTooLarge: over ScanLimits.MaxBytes.
	ErrScanTooLarge = errors.New("scan over the size limit")
	// ErrScanParserPanic: pdfcpu or an image decoder panicked on the file.
	ErrScanParserPanic = errors.New("scan parser panicked")
	// ErrScanParserTimeout: pdfcpu did not finish within ScanLimits.Timeout.
	ErrScanParserTimeout = errors.New("scan parser exceeded its time bound")
)

// Limit names of scans (PermanentError.Limit).
const (
	LimitScanPages = "scan_pages"
	LimitScanBytes = "scan_size"
)

// ScanLimits bound the reading of a scan. Zero fields take the defaults.
type ScanLimits struct {
	// MaxBytes: a larger file is refused (default 1 GiB: 500 pages of
	// colour at 300 dpi).
	MaxBytes int64
	// MaxPages: a scan with more pages is refused (default 500, DESIGN.md
	// "Limits").
	MaxPages int
	// MaxImagePixels: a larger page image is not decoded; the page counts as
	// neither blank nor a separator (default 50 megapixels).
	MaxImagePixels int64
	// Timeout bounds one pdfcpu call: reading the scan, writing one letter
	// (default 2 min).
	Timeout time.Duration
	// SpoolDir receives the copy of a scan read from a stream (default
	// os.TempDir()). It holds personal data: keep it private.
	SpoolDir string
}

// Defaults of ScanLimits.
const (
	DefaultScanMaxBytes       = 1 << 30
	DefaultScanMaxPages       = 500
	DefaultScanMaxImagePixels = 50_000_000
	DefaultScanTimeout        = 2 * time.Minute
)

func (l ScanLimits) withDefaults() ScanLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultScanMaxBytes
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultScanMaxPages
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = DefaultScanMaxImagePixels
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultScanTimeout
	}
	return l
}

// Scan is an opened scan. Its methods are safe for concurrent use: pdfcpu's
// model is not, so they take turns on it, and only the decoding of page
// images (the costly part) runs in parallel.
type Scan struct {
	lim ScanLimits
	// Type is the sniffed media type of the original bytes.
	Type string

	in    scanInput
	spool *os.File // the spooled copy, nil when reading the caller's

	mu sync.Mutex // guards pc: dereferencing objects may fill caches
	pc *model.Context
	// pages holds each page's images (index 0: page 1), found once.
	pages [][]pageImage
	// lazy locates the image streams let go after reading (scanpdf_lazy.go).
	lazy map[int]streamLoc
}

var pdfcpuConfigOnce sync.Once

// pdfcpuConfig is the configuration of every pdfcpu call here: relaxed
// validation (scanners write sloppy PDFs), no configuration directory in
// the user's home, and pdfcpu's own resource limits under ours.
func pdfcpuConfig(lim ScanLimits) *model.Configuration {
	pdfcpuConfigOnce.Do(api.DisableConfigDir)
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	conf.Limits.MaxImagePixels = min(conf.Limits.MaxImagePixels, lim.MaxImagePixels)
	return conf
}

// OpenScan reads a scan from r: a PDF as it is, a JPEG, PNG or TIFF
// assembled into a PDF first (see AssembleImages). Every failure that comes
// from the bytes is a *PermanentError (ErrScanFormat, ErrScanUnreadable,
// ErrScanTooManyPages, ErrScanTooLarge, ErrScanParserPanic,
// ErrScanParserTimeout); a read error from r or ctx's end is returned as
// it is, to be retried.
//
// Memory: a PDF is not held whole. When r is also an io.Seeker and an
// io.ReaderAt (an *os.File, a *bytes.Reader) it is read in place and must
// stay readable until Close; any other reader is first copied to a file in
// ScanLimits.SpoolDir, unlinked at once. pdfcpu loads every stream when it
// reads a PDF; the page images (the bulk of a scan) are then let go and
// read again from the file when a page is decoded or a letter written, so
// a 200-page batch holds about one page at a time per worker.
func OpenScan(ctx context.Context, r io.Reader, lim ScanLimits) (*Scan, error) {
	lim = lim.withDefaults()
	in, spool, err := scanInputOf(r, lim)
	if err != nil {
		return nil, err
	}
	s := &Scan{lim: lim, in: in, spool: spool}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	head := make([]byte, SniffLen)
	n, err := in.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("open scan: %w", err)
	}
	s.Type = Sniff(head[:n])
	switch s.Type {
	case "application/pdf":
	case "image/jpeg", "image/png", "image/tiff":
		size, err := in.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("open scan: %w", err)
		}
		data := make([]byte, size)
		if _, err := in.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("open scan: %w", err)
		}
		var pdf bytes.Buffer
		if err := assembleImages(ctx, &pdf, [][]byte{data}, lim); err != nil {
			return nil, err
		}
		s.in = bytes.NewReader(pdf.Bytes())
	default:
		return nil, Permanent(fmt.Errorf("open scan: %w: %s", ErrScanFormat, s.Type))
	}
	if _, err := s.in.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("open scan: %w", err)
	}
	pc, err := scanGuard(ctx, "pdf_read", lim.Timeout, func() (*model.Context, error) {
		return api.ReadAndValidate(s.in, pdfcpuConfig(lim))
	})
	if err != nil {
		return nil, scanError("open scan", err)
	}
	if pc.PageCount == 0 {
		return nil, Permanent(fmt.Errorf("open scan: %w: no page", ErrScanUnreadable))
	}
	if pc.PageCount > lim.MaxPages {
		return nil, &PermanentError{Limit: LimitScanPages, Err: fmt.Errorf("open scan: %w: %d pages, limit %d", ErrScanTooManyPages, pc.PageCount, lim.MaxPages)}
	}
	s.pc = pc
	if _, err := scanGuard(ctx, "pdf_pages", lim.Timeout, func() (struct{}, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return struct{}{}, s.indexPagesLocked()
	}); err != nil {
		return nil, scanError("open scan", err)
	}
	if s.lazyBytes() >= gcAfterBytes {
		// pdfcpu held the whole file; what was let go is garbage of that
		// size, which the collector's pacing would otherwise let the page
		// decoding double before collecting it.
		runtime.GC()
	}
	ok = true
	return s, nil
}

// scanInput is where a scan's bytes are read: by pdfcpu (Seek, Read) and
// by the page decoder (ReadAt, from several goroutines).
type scanInput interface {
	io.ReadSeeker
	io.ReaderAt
}

// scanInputOf returns r itself when it can be read in place, else a
// spooled copy (and its file, to close). The size limit is checked here.
func scanInputOf(r io.Reader, lim ScanLimits) (scanInput, *os.File, error) {
	tooLarge := &PermanentError{Limit: LimitScanBytes, Err: fmt.Errorf("open scan: %w: over %d bytes", ErrScanTooLarge, lim.MaxBytes)}
	if in, ok := r.(scanInput); ok {
		size, err := in.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, nil, fmt.Errorf("open scan: %w", err)
		}
		if size > lim.MaxBytes {
			return nil, nil, tooLarge
		}
		return in, nil, nil
	}
	f, err := os.CreateTemp(lim.SpoolDir, "recevable-scan-*")
	if err != nil {
		return nil, nil, fmt.Errorf("open scan: spool: %w", err)
	}
	// Unlinked at once (on Unix the open file lives on): nothing is left
	// behind whatever happens to the process. It holds personal data.
	if os.Remove(f.Name()) != nil {
		defer os.Remove(f.Name()) // Windows: removed once closed, below
	}
	n, err := io.Copy(f, io.LimitReader(r, lim.MaxBytes+1))
	switch {
	case err != nil:
		f.Close()
		return nil, nil, fmt.Errorf("open scan: %w", err)
	case n > lim.MaxBytes:
		f.Close()
		return nil, nil, tooLarge
	}
	return f, f, nil
}

// Close releases the spooled copy of the scan, if one was made. A Scan
// that is not closed releases it when it is garbage collected.
func (s *Scan) Close() error {
	if s.spool == nil {
		return nil
	}
	err := s.spool.Close()
	s.spool = nil
	return err
}

// Pages is the number of pages of the scan.
func (s *Scan) Pages() int { return s.pc.PageCount }

// WritePages writes a PDF made of the given pages (1-based, in that order)
// to w: a letter of a batch. The page objects and their images are copied,
// not re-encoded. The bytes are not reproducible (pdfcpu numbers the copied
// objects in map order and stamps the time): a replay must reuse the
// letter it stored the first time, not write it again.
func (s *Scan) WritePages(ctx context.Context, w io.Writer, pages []int) error {
	if len(pages) == 0 {
		return errors.New("write pages: no page")
	}
	for _, p := range pages {
		if p < 1 || p > s.pc.PageCount {
			return fmt.Errorf("write pages: page %d outside 1..%d", p, s.pc.PageCount)
		}
	}
	var buf bytes.Buffer
	_, err := scanGuard(ctx, "pdf_write", s.lim.Timeout, func() (struct{}, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		// The pages' images go back into the model for pdfcpu to copy,
		// and out again once written.
		objs, err := s.restoreLocked(pages)
		defer s.dropLocked(objs)
		if err != nil {
			return struct{}{}, err
		}
		out, err := pdfcpu.ExtractPages(s.pc, pages, false)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, api.WriteContext(out, &buf)
	})
	if err != nil {
		return scanError(fmt.Sprintf("write pages %v", pages), err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write pages: %w", err)
	}
	return nil
}

// scanError classifies an error from a guarded pdfcpu call: the guard's own
// errors and ctx's end pass through, anything pdfcpu said about the bytes
// becomes a permanent ErrScanUnreadable.
func scanError(op string, err error) error {
	if IsPermanent(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return Permanent(fmt.Errorf("%s: %w: %w", op, ErrScanUnreadable, err))
}

// scanGuard is the one place of this package where panics of pdfcpu and of
// the image decoders are recovered, and where their running time is
// bounded (STYLE.md, "Errors"). f runs in its own goroutine: Go cannot stop
// it, so on timeout it is left to finish by itself and the caller gets a
// permanent ErrScanParserTimeout at once. A panic becomes a permanent
// ErrScanParserPanic carrying the panic value (never document content
// beyond what the parser put in it). The caller's own ctx ending first
// returns ctx.Err(), which is not the document's fault.
func scanGuard[T any](ctx context.Context, op string, bound time.Duration, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				// The stack is not kept: the reason is shown to staff.
				done <- result{err: Permanent(fmt.Errorf("%s: %w: %v", op, ErrScanParserPanic, v))}
			}
		}()
		v, err := f()
		done <- result{v, err}
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		return zero, Permanent(fmt.Errorf("%s: %w (%s)", op, ErrScanParserTimeout, bound))
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
