package workers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
)

// errAbandoned: the item was given up without a verdict (shutdown, or the
// caller's context ended). It is not acknowledged: it stays at its source,
// or in raw/ for recovery, and is taken again later.
var errAbandoned = errors.New("workers: item left for later (shutdown or context ended)")

// budgetError: the retry budget was spent on temporary errors. DESIGN.md,
// "Errors": unknown errors count as temporary until then, and the item then
// goes to quarantine like a permanent failure.
type budgetError struct {
	attempts int
	last     error
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.attempts, e.last)
}

func (e *budgetError) Unwrap() error { return e.last }

// delay is the wait after failed attempt number attempt (1-based): Min
// doubled at each attempt, capped at Max, with "equal jitter" (half fixed,
// half random) so that replicas retrying after the same outage spread out.
func (r RetryPolicy) delay(attempt int) time.Duration {
	d := r.Max
	if shift := attempt - 1; shift < 32 {
		if x := r.Min << shift; x > 0 && x < r.Max {
			d = x
		}
	}
	return d/2 + rand.N(d/2+1)
}

// withRetry runs fn until it succeeds, fails with a permanent error, spends
// the budget (a *budgetError), or stop or ctx end a wait (errAbandoned).
// Each failed attempt that will be tried again counts as "retried" for
// source.
func (p *Pipeline) withRetry(ctx context.Context, stop <-chan struct{}, source string, log zerolog.Logger, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		switch {
		case err == nil || intake.IsPermanent(err):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%w: %w", errAbandoned, err)
		case attempt >= p.o.Retry.Attempts:
			return &budgetError{attempts: attempt, last: err}
		}
		p.metrics.item(source, ResultRetried)
		wait := p.o.Retry.delay(attempt)
		log.Warn().Err(err).Int("attempt", attempt).Dur("wait", wait).Msg("temporary failure, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return fmt.Errorf("%w: %w", errAbandoned, err)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", errAbandoned, err)
		}
	}
}
