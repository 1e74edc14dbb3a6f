package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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
//
// The last number is given only if the claim the counter names is bound to
// it: bindings are written IfAbsent and never change, so when that claim is
// bound to another number, nobody can ever be bound to the last one, and
// the next reservation takes it again instead of moving past it. The one
// way to get there is ReserveFresh, which does not look for the claim's
// binding before taking a number: when the claim had one after all, its
// bind returns it and the number taken in vain is given back at once (the
// counter written back to the number before, naming no claim: every number
// up to it is bound) — or, if the process dies first, taken again by the
// next reservation. Giving back makes the counter go down, so that it could
// hold bytes it held before, and ETags are hashes of the bytes: Rev, bumped
// by every write, keeps each version's bytes, hence its ETag, unique, and
// "the IfMatch write succeeded" still means "nothing changed since".
//
// A Counter made by NewCounter also keeps, per counter, this process's last
// write: reservations of one site and year take turns within the process
// (the local workers no longer lose conditional writes to each other), and
// the next one writes IfMatch the remembered ETag without reading the
// counter first, nor looking up the previous claim, which this process
// bound itself. The remembered version plays the part of the read: it was
// the counter when we wrote it, every number before it was bound then, and
// the IfMatch write fails if anyone moved it since — another replica — in
// which case the memory is dropped and the reservation takes the full path.
type Counter struct {
	Bucket Bucket
	// local is this process's memory of the counters (NewCounter); nil
	// reads the counter at every reservation.
	local *counterLocal
}

// NewCounter returns a Counter on b that remembers its own writes (see
// Counter): build one per process and share it, copies share the memory.
// Any number of them, in any number of processes, may share one bucket.
func NewCounter(b Bucket) Counter {
	return Counter{Bucket: b, local: &counterLocal{slots: map[string]*counterSlot{}}}
}

// counterLocal is the memory of a NewCounter, one slot per counter key.
type counterLocal struct {
	mu    sync.Mutex
	slots map[string]*counterSlot
}

// counterSlot is this process's view of one counter.
type counterSlot struct {
	// turn holds one token; a reservation takes it for its whole run, so
	// the fields below are only touched by its holder.
	turn chan struct{}
	// known: rec is the counter as this process last wrote it, etag that
	// version's ETag, and rec.Claim is bound to rec.Last (our bind said so).
	known bool
	rec   counterRecord
	etag  ETag
}

func (l *counterLocal) slot(key string) *counterSlot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slots[key]
	if s == nil {
		s = &counterSlot{turn: make(chan struct{}, 1)}
		s.turn <- struct{}{}
		l.slots[key] = s
	}
	return s
}

// counterRecord is the body of state/counters/<site>/<year>.
type counterRecord struct {
	Site string `json:"site"`
	Year int    `json:"year"`
	// Last is the last sequence taken; the next number is Last+1 (or Last
	// again when Claim is bound to another number: see Counter).
	Last int `json:"last"`
	// Claim is the claim that took Last; empty for Last == 0 and after a
	// number was given back (ReserveFresh), when every number up to Last is
	// bound.
	Claim string `json:"claim,omitempty"`
	// Rev counts the writes. The ETag of a record is a hash of its bytes
	// (S3's MD5, the filesystem backend's SHA-256), and a number given back
	// makes Last go down: without Rev the counter could return to bytes it
	// held before, and a write IfMatch those bytes' ETag would succeed
	// although the counter moved in between. With it, an ETag is never
	// seen twice.
	Rev int64 `json:"rev,omitempty"`
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
	return c.reserve(ctx, site, year, sha, part, false)
}

// ReserveFresh is Reserve for a claim that had no number when the call
// began because its raw item did not exist: the caller's own Raws.Store
// created raw/<sha> in this attempt (RawMeta.Created), and no reservation
// happens before raw is stored. It skips the lookup of the claim's own
// binding: one request less.
//
// It stays correct when that premise fails — another replica that took the
// same bytes a moment later (its Store found ours) may reserve the claim at
// the same time: the bind, IfAbsent, then returns the number already bound,
// which is the claim's one number, and the number this call took is given
// back (the counter restored IfMatch) or, if the process dies first, taken
// again by the next reservation (see Counter). It only costs more then.
func (c Counter) ReserveFresh(ctx context.Context, site string, year int, sha string, part int) (string, error) {
	return c.reserve(ctx, site, year, sha, part, true)
}

func (c Counter) reserve(ctx context.Context, site string, year int, sha string, part int, fresh bool) (string, error) {
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
	var slot *counterSlot
	if c.local != nil {
		slot = c.local.slot(key)
		select {
		case <-slot.turn:
		case <-ctx.Done():
			return "", fmt.Errorf("reserve number for %s: %w", claim, ctx.Err())
		}
		defer func() { slot.turn <- struct{}{} }()
	} else {
		slot = &counterSlot{} // a memory for this call only
	}
	for attempt := 0; attempt < maxReserveAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 1. The counter, first (see the type's comment for why the order
		// matters), or what we last wrote to it.
		var rec counterRecord
		var etag ETag
		var absent bool
		remembered := slot.known
		if remembered {
			rec, etag = slot.rec, slot.etag
		} else {
			var err error
			etag, err = getJSON(ctx, c.Bucket, key, &rec)
			absent = errors.Is(err, ErrNotFound)
			if err != nil && !absent {
				return "", fmt.Errorf("reserve number for %s: %w", claim, err)
			}
		}
		// 2. We took the last number: we bound it (remembered) or died
		// before binding it.
		if !absent && rec.Claim == claim {
			if remembered {
				return FormatNumber(site, year, rec.Last), nil
			}
			return c.bind(ctx, claim, FormatNumber(site, year, rec.Last))
		}
		// 3. We took a number earlier. A fresh claim cannot have (see
		// ReserveFresh for when it has all the same).
		if !fresh {
			if n, err := c.lookup(ctx, claim); err == nil {
				return n, nil
			} else if !errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("reserve number for %s: %w", claim, err)
			}
		}
		// 4. Roll the previous taker's binding forward before moving past it,
		// unless we bound it ourselves (remembered). Usually the binding is
		// there: a read is much cheaper than a refused write (the filesystem
		// backend syncs before it refuses). If it names another number, the
		// last one went to nobody and is taken again.
		seq := rec.Last + 1
		if !absent && rec.Claim != "" && !remembered {
			last := FormatNumber(site, year, rec.Last)
			n, err := c.lookup(ctx, rec.Claim)
			if errors.Is(err, ErrNotFound) {
				n, err = c.bind(ctx, rec.Claim, last)
			}
			if err != nil {
				return "", fmt.Errorf("reserve number for %s: %w", claim, err)
			}
			if n != last {
				seq = rec.Last
			}
		}
		// 5. Take the next number.
		if seq > maxSequence {
			return "", fmt.Errorf("reserve number for %s in %s/%d: %w", claim, site, year, ErrCounterExhausted)
		}
		o := PutOptions{IfMatch: etag}
		if absent {
			o = PutOptions{IfAbsent: true}
		}
		next := counterRecord{Site: site, Year: year, Last: seq, Claim: claim, Rev: rec.Rev + 1}
		slot.known = false // until the write and the bind both succeed
		nextTag, err := putJSON(ctx, c.Bucket, key, next, o)
		if err != nil {
			if IsConflict(err) {
				if !remembered {
					backoff(ctx, attempt) // another writer, not our memory, was stale
				}
				continue
			}
			return "", fmt.Errorf("reserve number for %s: %w", claim, err)
		}
		// 6. Bind it.
		taken := FormatNumber(site, year, seq)
		n, err := c.bind(ctx, claim, taken)
		if err != nil {
			return "", err
		}
		if n != taken {
			// The claim had a number (a fresh claim reserved meanwhile by
			// another replica): ours went to nobody. Give it back: the
			// counter at seq-1, naming nobody since every number up to
			// seq-1 is bound (seq-1 was rolled forward above, or we bound
			// it, or the invariant says so when we took an orphan again).
			// If someone moved the counter meanwhile, they found the
			// orphan and took it; if we die first, the next one will.
			back := counterRecord{Site: site, Year: year, Last: seq - 1, Rev: next.Rev + 1}
			_, _ = putJSON(ctx, c.Bucket, key, back, PutOptions{IfMatch: nextTag})
			return n, nil
		}
		slot.known, slot.rec, slot.etag = true, next, nextTag
		return n, nil
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

// Last returns the last sequence taken for site and year, 0 when none. It
// counts one number too many while a number taken in vain (ReserveFresh)
// waits to be taken again: only if the process that took it died before
// giving it back, until the next reservation of the sequence.
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
