package workers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
)

// Quarantine (DESIGN.md, "Errors"): an item that failed permanently, or
// spent its retry budget, gets an entry quarantine/<sha>.json with the reason
// and the limit named; its raw bytes stay in raw/, and the source is
// acknowledged with Disposition Quarantined (the message goes to the
// quarantine folder). Deleting the entry, or Reprocess, sends it back.

// maxReason bounds the reason kept in an entry.
const maxReason = 2000

// LimitRetries names the retry budget in quarantine entries.
const LimitRetries = "retry_budget"

// quarantine records j's failure and returns the result to acknowledge with.
// Writing the entry is itself retried; if that fails too, the item is left
// for later (errAbandoned) and not acknowledged.
func (p *Pipeline) quarantine(ctx context.Context, stop <-chan struct{}, j *job, cause error) (Result, error) {
	reason, limit := quarantineReason(cause)
	var e storage.QuarantineEntry
	err := p.withRetry(ctx, stop, j.source, j.log, func(ctx context.Context) error {
		var err error
		e, err = p.quar.Record(ctx, j.sha, j.source, reason, limit)
		return err
	})
	if err != nil {
		j.log.Error().Err(err).Msg("quarantine entry not written, item left for later")
		return Result{}, fmt.Errorf("%w: quarantine %s: %w", errAbandoned, j.sha, err)
	}
	j.log.Warn().Err(cause).Str("limit", limit).Int("attempts", e.Attempts).Msg("item quarantined")
	return Result{Raw: j.sha, Source: j.source, Result: ResultQuarantined, Disposition: intake.Quarantined, Quarantine: &e}, nil
}

// quarantineReason is the entry's reason and limit for an error.
func quarantineReason(err error) (reason, limit string) {
	var pe *intake.PermanentError
	if errors.As(err, &pe) {
		limit = pe.Limit
	}
	var be *budgetError
	if errors.As(err, &be) && limit == "" {
		limit = LimitRetries
	}
	reason = err.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	return reason, limit
}

// quarantineUnstored quarantines an item whose bytes the source could not
// give (a message over the size limit is not downloaded). There is no raw
// sha: the entry is keyed by a hash of the source and its coordinates, so
// that taking the same message again finds the same entry; its reason says
// that the original is at the source.
func (p *Pipeline) quarantineUnstored(ctx context.Context, stop <-chan struct{}, src Source, item intake.Item, cause error, log zerolog.Logger) (Result, error) {
	key := unstoredKey(src.ID, item.Coordinates)
	j := &job{sha: key, source: src.ID, stop: stop, log: log.With().Str("raw", key).Logger()}
	var pe *intake.PermanentError
	limit := ""
	if errors.As(cause, &pe) {
		limit = pe.Limit
	}
	return p.quarantine(ctx, stop, j, &intake.PermanentError{Limit: limit,
		Err: fmt.Errorf("raw not stored, the original stays at the source: %w", cause)})
}

// unstoredKey is the quarantine key of an item without raw bytes.
func unstoredKey(source string, coords map[string]string) string {
	v := url.Values{}
	for k, c := range coords {
		v.Set(k, c)
	}
	h := sha256.Sum256([]byte("unstored\n" + source + "\n" + v.Encode()))
	return hex.EncodeToString(h[:])
}

// countQuarantine sets recevable_quarantine_items. Cost: one List call per
// 1,000 entries.
func (p *Pipeline) countQuarantine(ctx context.Context) error {
	n, err := p.quar.Count(ctx)
	if err != nil {
		return err
	}
	p.metrics.QuarantineItems.Set(float64(n))
	return nil
}
