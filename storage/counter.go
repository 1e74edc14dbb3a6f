package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Counter hands out registration numbers (numéros chrono): one sequence per
// site and year, <site>-<year>-<6 digits>, no gap and no duplicate, however
// many workers share the bucket and wherever they crash.
//
// A plain counter (read n and its ETag, write n+1 IfMatch) gives no
// duplicate, but a worker that dies after taking n and before writing its
// dossier leaves n unused, and its restart takes another number: a gap, and
// an item registered under two numbers if the first ever resurfaced. So a
// number is never taken on its own: it is reserved for a claim — a raw item
// (its SHA-256) and a part of it (0 for the whole item, 1..n for the letters
// of a batch scan) — and bound to it under index/raw/<sha>/<part>, written
// IfAbsent. A replay of the same claim finds the binding and gets the same
// number.
//
// The binding cannot be written in the same conditional write as the
// counter, so the counter records who took its last number (Claim). A
// worker that dies between the two writes leaves the counter naming its
// claim; whoever moves the counter next first writes that binding on its
// behalf (roll forward), and the dead worker's replay finds either the
// binding or itself named in the counter. Hence the invariant: whenever the
// counter names another claim, every earlier number is bound. Reserve reads
// the counter before it looks for its own binding, so a claim that found no
// binding had no number when the counter was read, and the IfMatch write
// that takes n+1 proves nothing changed since. A number is therefore bound to
// exactly one claim and a claim to exactly one number, with no number
// skipped. (A claim reserved under two different sites or years at once
// would break this; callers derive site and year from the item itself.)
type Counter struct {
	Bucket Bucket
}

// counterRecord is the body of state/counters/<site>/<year>.
type counterRecord struct {
	Site string `json:"site"`
	Year int    `json:"year"`
	// Last is the last sequence taken; the next number is Last+1.
	Last int `json:"last"`
	// Claim is the claim that took Last; empty only for Last == 0.
	Claim string `json:"claim,omitempty"`
}

// reservation is the body of index/raw/<sha>/<part>.
type reservation struct {
	Number string `json:"number"`
	Claim  string `json:"claim"`
}

// maxReserveAttempts caps the retries of a contended counter; reaching it
// means something is wrong (a writer stuck in a loop), not mere contention.
const maxReserveAttempts = 1000

// ErrCounterExhausted: a site used all 999,999 numbers of a year.
var ErrCounterExhausted = errors.New("storage: registration numbers exhausted for the year")

// RawClaim is the claim of part part of raw item sha: the idempotence key of
// a reservation and the last segments of its index key.
func RawClaim(sha string, part int) string { return fmt.Sprintf("%s/%d", sha, part) }

// Reserve returns the registration number of part part (0: the whole item)
// of the raw item sha, taking the next number of site's sequence for year if
// the claim has none yet. Calling it again for the same claim returns the
// same number, after a crash as well. The year is the year of receipt (in the
// site's time zone), decided by the caller from the item, never from the
// clock at processing time.
func (c Counter) Reserve(ctx context.Context, site string, year int, sha string, part int) (string, error) {
	if err := CheckSite(site); err != nil {
		return "", fmt.Errorf("reserve number: %w", err)
	}
	if err := CheckSHA256(sha); err != nil {
		return "", fmt.Errorf("reserve number: %w", err)
	}
	if year < 1000 || year > 9999 || part < 0 {
		return "", fmt.Errorf("reserve number: bad year %d or part %d", year, part)
	}
	claim := RawClaim(sha, part)
	key := counterKey(site, year)
	for attempt := 0; attempt < maxReserveAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 1. The counter, first (see the type's comment for why the order matters).
		var rec counterRecord
		etag, err := getJSON(ctx, c.Bucket, key, &rec)
		fresh := errors.Is(err, ErrNotFound)
		if err != nil && !fresh {
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 2. We took the last number and died before binding it.
		if !fresh && rec.Claim == claim {
			return c.bind(ctx, claim, FormatNumber(site, year, rec.Last))
		}
		// 3. We took a number earlier.
		if n, err := c.lookup(ctx, claim); err == nil {
			return n, nil
		} else if !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 4. Roll the previous taker's binding forward before moving past it.
		// Usually the binding is there: a read is much cheaper than a
		// refused write (the filesystem backend syncs before it refuses).
		if !fresh && rec.Claim != "" {
			_, err := c.lookup(ctx, rec.Claim)
			if errors.Is(err, ErrNotFound) {
				_, err = c.bind(ctx, rec.Claim, FormatNumber(site, year, rec.Last))
			}
			if err != nil {
				return "", fmt.Errorf("reserve number for %s: %w", claim, err)
			}
		}
		// 5. Take the next number.
		if rec.Last >= maxSequence {
			return "", fmt.Errorf("reserve number for %s in %s/%d: %w", claim, site, year, ErrCounterExhausted)
		}
		o := PutOptions{IfMatch: etag}
		if fresh {
			o = PutOptions{IfAbsent: true}
		}
		next := counterRecord{Site: site, Year: year, Last: rec.Last + 1, Claim: claim}
		if _, err := putJSON(ctx, c.Bucket, key, next, o); err != nil {
			if IsConflict(err) {
				backoff(ctx, attempt)
				continue
			}
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 6. Bind it.
		return c.bind(ctx, claim, FormatNumber(site, year, next.Last))
	}
	return "", fmt.Errorf("reserve number for %s: counter %s still contended after %d attempts", claim, key, maxReserveAttempts)
}

// Lookup returns the number reserved for part part of raw item sha, or
// ErrNotFound.
func (c Counter) Lookup(ctx context.Context, sha string, part int) (string, error) {
	if err := CheckSHA256(sha); err != nil {
		return "", fmt.Errorf("lookup number: %w", err)
	}
	return c.lookup(ctx, RawClaim(sha, part))
}

func (c Counter) lookup(ctx context.Context, claim string) (string, error) {
	var r reservation
	if _, err := getJSON(ctx, c.Bucket, rawIndexKey(claim), &r); err != nil {
		return "", err
	}
	return r.Number, nil
}

// bind writes claim → number, or returns the number already bound to claim.
func (c Counter) bind(ctx context.Context, claim, number string) (string, error) {
	_, err := putJSON(ctx, c.Bucket, rawIndexKey(claim), reservation{Number: number, Claim: claim}, PutOptions{IfAbsent: true})
	if err == nil {
		return number, nil
	}
	if !errors.Is(err, ErrExists) {
		return "", fmt.Errorf("bind %s to %s: %w", claim, number, err)
	}
	// Someone rolled it forward for us, or we are a replay.
	got, err := c.lookup(ctx, claim)
	if err != nil {
		return "", fmt.Errorf("bind %s to %s: %w", claim, number, err)
	}
	return got, nil
}

// Last returns the last sequence taken for site and year, 0 when none.
func (c Counter) Last(ctx context.Context, site string, year int) (int, error) {
	if err := CheckSite(site); err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	var rec counterRecord
	_, err := getJSON(ctx, c.Bucket, counterKey(site, year), &rec)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	return rec.Last, nil
}

// backoff waits a little, randomly, before retrying a lost conditional write,
// so that contending writers spread out instead of colliding in step.
func backoff(ctx context.Context, attempt int) {
	ceiling := time.Millisecond << min(attempt, 5) // 1 ms … 32 ms
	t := time.NewTimer(rand.N(ceiling) + 100*time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
