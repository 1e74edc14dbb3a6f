package validate

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// This file is the one place where panics from third-party parsers (pdfcpu,
// the image decoders, gozxing…) are recovered and where their running time is
// bounded (STYLE.md, "Errors"). Every call into such a parser from package
// validate goes through Guard.

// DefaultParserTimeout bounds one guarded parse when no bound is configured.
const DefaultParserTimeout = 20 * time.Second

// ErrParserPanic and ErrParserTimeout are what a *GuardError matches with
// errors.Is. Both are permanent: parsing the same bytes again fails again.
var (
	ErrParserPanic   = errors.New("parser panicked")
	ErrParserTimeout = errors.New("parser exceeded its time bound")
)

// GuardError reports that a guarded parser panicked or overran its bound.
// Op, Timeout and Stack are safe for the operators' log; Panic is the
// parser's own message and may quote the input, so log it only shortened
// and never where personal data must not go (STYLE.md, "Logs").
type GuardError struct {
	Op      string        // what was running: "pdf_read", "image_decode"…
	Timeout bool          // true: the bound expired; false: a panic
	Bound   time.Duration // the bound that applied
	Panic   string        // the panic value, formatted and shortened
	Stack   []byte        // goroutine stack at the panic, shortened
}

func (e *GuardError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("%s: no result within %s", e.Op, e.Bound)
	}
	return fmt.Sprintf("%s: panic: %s", e.Op, e.Panic)
}

// Unwrap lets errors.Is match ErrParserPanic or ErrParserTimeout.
func (e *GuardError) Unwrap() error {
	if e.Timeout {
		return ErrParserTimeout
	}
	return ErrParserPanic
}

// runawayParsers counts guarded calls that overran their bound and are still
// running: Go cannot kill a goroutine, so a parser looping on a hostile file
// keeps its goroutine until it returns by itself.
var runawayParsers atomic.Int64

// RunawayParsers returns how many timed-out parser goroutines are still
// running. Export it as a gauge: a value that keeps growing means a parser
// loops forever on some input and the process should be restarted.
func RunawayParsers() int64 { return runawayParsers.Load() }

// Guard runs f in its own goroutine with a context that expires after bound
// (DefaultParserTimeout when bound <= 0), and returns f's results, or:
//   - a *GuardError (ErrParserPanic) when f panicked: the panic is recovered
//     there and goes no further;
//   - a *GuardError (ErrParserTimeout) when the bound expired first: Guard
//     returns at once and f is left running (counted by RunawayParsers). f
//     should watch its context so that it stops soon after;
//   - ctx.Err() when the caller's own context ended first: that is not the
//     document's fault and must not be reported as a problem with it.
//
// Guard never blocks its caller past the bound.
func Guard[T any](ctx context.Context, op string, bound time.Duration, f func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if bound <= 0 {
		bound = DefaultParserTimeout
	}
	gctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()

	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1) // buffered: an abandoned f never blocks on send
	var abandoned atomic.Bool
	go func() {
		var out outcome
		defer func() {
			if r := recover(); r != nil {
				out = outcome{err: &GuardError{Op: op, Bound: bound, Panic: guardShorten(fmt.Sprint(r), 300), Stack: guardShortenBytes(debug.Stack(), 4096)}}
			}
			// Whoever comes second (Guard giving up, or f finishing after
			// that) settles the runaway count.
			if abandoned.Swap(true) {
				runawayParsers.Add(-1)
			}
			done <- out
		}()
		out.v, out.err = f(gctx)
	}()

	select {
	case out := <-done:
		return out.v, out.err
	case <-gctx.Done():
		select {
		case out := <-done: // f finished in the same instant: keep its result
			return out.v, out.err
		default:
		}
		if !abandoned.Swap(true) {
			runawayParsers.Add(1)
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return zero, &GuardError{Op: op, Timeout: true, Bound: bound}
	}
}

func guardShorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the result stays valid UTF-8.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func guardShortenBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n]
}
