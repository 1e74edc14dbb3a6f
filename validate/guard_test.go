package validate

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestGuardPanic(t *testing.T) {
	t.Parallel()
	_, err := Guard(t.Context(), "test_parse", time.Minute, func(context.Context) (int, error) {
		var m map[string]int
		m["boom"] = 1 // a nil-map write: a runtime panic, as a buggy parser would raise
		return 0, nil
	})
	var ge *GuardError
	if !errors.As(err, &ge) || !errors.Is(err, ErrParserPanic) || errors.Is(err, ErrParserTimeout) {
		t.Fatalf("Guard(panic) = %v, want a GuardError matching ErrParserPanic", err)
	}
	if ge.Op != "test_parse" || !strings.Contains(ge.Panic, "nil map") || len(ge.Stack) == 0 {
		t.Errorf("GuardError = %+v", ge)
	}
}

func TestGuardResult(t *testing.T) {
	t.Parallel()
	want := errors.New("bad header")
	v, err := Guard(t.Context(), "test_parse", time.Minute, func(context.Context) (string, error) { return "partial", want })
	if v != "partial" || !errors.Is(err, want) {
		t.Fatalf("Guard = %q, %v; want f's own results", v, err)
	}
}

// A parser that never returns: Guard gives up at the bound and says so,
// and the runaway is counted until it ends.
func TestGuardTimeout(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan struct{})
	before := RunawayParsers()
	_, err := Guard(t.Context(), "test_loop", 20*time.Millisecond, func(context.Context) (int, error) {
		defer close(ended)
		<-release // ignores its context, as a looping parser would
		return 1, nil
	})
	if !errors.Is(err, ErrParserTimeout) {
		t.Fatalf("Guard(stuck) = %v, want ErrParserTimeout", err)
	}
	if got := RunawayParsers(); got != before+1 {
		t.Errorf("RunawayParsers() = %d while stuck, want %d", got, before+1)
	}
	close(release)
	<-ended
	settleRunaways(t, before)
}

// settleRunaways waits for abandoned parsers to finish and be counted out,
// so that the next test reads a stable RunawayParsers. Tests that leave a
// runaway behind are not parallel, and call it before they end.
func settleRunaways(t *testing.T, want int64) {
	t.Helper()
	for i := 0; RunawayParsers() != want; i++ {
		if i > 10_000 { // ten seconds for what takes microseconds
			t.Fatalf("RunawayParsers() = %d, want %d", RunawayParsers(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// When the caller's context ends, Guard returns its error: the document is
// not to blame.
func TestGuardCallerCancelled(t *testing.T) {
	before := RunawayParsers()
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	_, err := Guard(ctx, "test_parse", time.Hour, func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	var ge *GuardError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ge) {
		t.Fatalf("Guard(cancelled) = %v, want context.Canceled", err)
	}
	settleRunaways(t, before)
}

// A guarded parse that panics inside CheckDocument is a problem with the
// document, not a crash: here the image decoder is made to panic by a
// reader that panics.
type panicReader struct{ head []byte }

func (p panicReader) ReadAt(b []byte, off int64) (int, error) {
	if off == 0 && len(b) <= len(p.head) {
		return copy(b, p.head), nil
	}
	panic("reader exploded")
}

func TestCheckDocumentRecoversPanic(t *testing.T) {
	t.Parallel()
	head := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 1016)...)
	res, err := CheckDocument(t.Context(), panicReader{head}, 1<<20, DocInfo{Name: "a.png"}, Limits{})
	if err != nil {
		t.Fatalf("CheckDocument = %v, want a problem", err)
	}
	if !res.Has(ProblemImageUndecodable) || !strings.Contains(res.Problems[0].Detail, "reader exploded") {
		t.Fatalf("CheckDocument(panicking decoder) = %+v", res.Problems)
	}
	if len(res.ParserFailures) != 1 || res.ParserFailures[0].Op != "image_config" || len(res.ParserFailures[0].Stack) == 0 {
		t.Errorf("ParserFailures = %+v, want the image_config panic with its stack", res.ParserFailures)
	}
}

// stuckReader serves the head, then blocks every read until released: a
// decoder reading it never returns by itself.
type stuckReader struct {
	head    []byte
	release chan struct{}
}

func (s stuckReader) ReadAt(b []byte, off int64) (int, error) {
	if off == 0 && len(b) == len(s.head) {
		return copy(b, s.head), nil
	}
	<-s.release
	return 0, io.EOF
}

// CheckDocument never blocks its caller past the parser bound: a decoder
// stuck for good becomes a problem and a recorded parser failure.
func TestCheckDocumentTimeBound(t *testing.T) {
	release := make(chan struct{})
	before := RunawayParsers()
	t.Cleanup(func() {
		close(release)
		settleRunaways(t, before)
	})
	head := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 1016)...)
	res, err := CheckDocument(t.Context(), stuckReader{head, release}, 1<<20, DocInfo{Name: "a.png"}, Limits{ParserTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Has(ProblemImageUndecodable) || len(res.ParserFailures) != 1 || !res.ParserFailures[0].Timeout {
		t.Fatalf("CheckDocument(stuck decoder) = %+v, failures %+v", res.Problems, res.ParserFailures)
	}
}
