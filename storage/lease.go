package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Leases make sure one worker at a time polls a source, through
// state/leases/<source>. A lease is held until it expires; the holder renews
// it well before (a third of the TTL is usual) and stops polling as soon as a
// renewal fails with ErrLeaseLost. Expiry is judged by the clocks of the
// workers, so the TTL must be much larger than their skew (NTP keeps it
// under a second; a TTL of 30 s or more is safe).
type Leases struct {
	Bucket Bucket
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Lease is a held lease. Pass it back to Renew and Release.
type Lease struct {
	Source  string
	Holder  string
	Expires time.Time
	// Token is unique to one acquisition: a holder that re-acquires after a
	// restart gets a new one.
	Token string
	etag  ETag
}

var (
	// ErrLeaseHeld: another holder has a lease that has not expired.
	ErrLeaseHeld = errors.New("storage: lease held by another holder")
	// ErrLeaseLost: the lease was taken over (it had expired) or released:
	// the former holder must stop at once.
	ErrLeaseLost = errors.New("storage: lease lost")
)

// leaseRecord is the body of state/leases/<source>. A released lease keeps
// its object with an empty holder: deleting it could not be conditional.
type leaseRecord struct {
	Source  string    `json:"source"`
	Holder  string    `json:"holder,omitempty"`
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires"`
}

func (l Leases) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Acquire takes the lease of source for holder (a name unique to the process,
// e.g. host, pid and a random suffix) for ttl. It fails with ErrLeaseHeld
// when another holder has it and it has not expired, or when another holder
// won the race for it. A holder may acquire again a lease it still holds
// (after a restart, with the same name): that gives a new Token.
func (l Leases) Acquire(ctx context.Context, source, holder string, ttl time.Duration) (Lease, error) {
	if source == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("acquire lease: source, holder and a positive ttl are required")
	}
	key := leaseKey(source)
	var cur leaseRecord
	etag, err := getJSON(ctx, l.Bucket, key, &cur)
	o := PutOptions{IfMatch: etag}
	now := l.now()
	switch {
	case errors.Is(err, ErrNotFound):
		o = PutOptions{IfAbsent: true}
	case err != nil:
		return Lease{}, fmt.Errorf("acquire lease %s: %w", source, err)
	case cur.Holder != "" && cur.Holder != holder && now.Before(cur.Expires):
		return Lease{}, fmt.Errorf("acquire lease %s: %w until %s", source, ErrLeaseHeld, cur.Expires.UTC().Format(time.RFC3339))
	}
	tok, err := newToken()
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", source, err)
	}
	rec := leaseRecord{Source: source, Holder: holder, Token: tok, Expires: now.Add(ttl).UTC()}
	etag, err = putJSON(ctx, l.Bucket, key, rec, o)
	if IsConflict(err) {
		// Someone else acquired (or renewed) between our read and our write.
		return Lease{}, fmt.Errorf("acquire lease %s: %w (lost the race)", source, ErrLeaseHeld)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", source, err)
	}
	return Lease{Source: source, Holder: holder, Expires: rec.Expires, Token: tok, etag: etag}, nil
}

// Renew extends a held lease to now+ttl. It fails with ErrLeaseLost when the
// lease was taken over or released since: the caller must stop working on
// the source. A lease that expired but that nobody took is renewed. Any
// other error (network) leaves the lease as it was; the caller may retry
// until its lease expires, and must stop then.
func (l Leases) Renew(ctx context.Context, lease Lease, ttl time.Duration) (Lease, error) {
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("renew lease %s: ttl must be positive", lease.Source)
	}
	key := leaseKey(lease.Source)
	etag := lease.etag
	for range 2 {
		rec := leaseRecord{Source: lease.Source, Holder: lease.Holder, Token: lease.Token, Expires: l.now().Add(ttl).UTC()}
		newTag, err := putJSON(ctx, l.Bucket, key, rec, PutOptions{IfMatch: etag})
		if err == nil {
			lease.Expires, lease.etag = rec.Expires, newTag
			return lease, nil
		}
		if !IsConflict(err) {
			return Lease{}, fmt.Errorf("renew lease %s: %w", lease.Source, err)
		}
		// The ETag changed. If the record is still ours (an earlier renewal
		// whose answer was lost), adopt its ETag and try once more.
		var cur leaseRecord
		etag, err = getJSON(ctx, l.Bucket, key, &cur)
		if errors.Is(err, ErrNotFound) || err == nil && (cur.Holder != lease.Holder || cur.Token != lease.Token) {
			return Lease{}, fmt.Errorf("renew lease %s: %w", lease.Source, ErrLeaseLost)
		}
		if err != nil {
			return Lease{}, fmt.Errorf("renew lease %s: %w", lease.Source, err)
		}
	}
	return Lease{}, fmt.Errorf("renew lease %s: %w (record changing under us)", lease.Source, ErrLeaseLost)
}

// Release gives the lease up so another holder can take it at once. A lease
// already lost is not an error (there is nothing to give up).
func (l Leases) Release(ctx context.Context, lease Lease) error {
	key := leaseKey(lease.Source)
	etag := lease.etag
	for range 2 {
		rec := leaseRecord{Source: lease.Source, Expires: l.now().UTC()}
		_, err := putJSON(ctx, l.Bucket, key, rec, PutOptions{IfMatch: etag})
		if err == nil {
			return nil
		}
		if !IsConflict(err) {
			return fmt.Errorf("release lease %s: %w", lease.Source, err)
		}
		// As in Renew: still ours under another ETag, or gone.
		var cur leaseRecord
		etag, err = getJSON(ctx, l.Bucket, key, &cur)
		if errors.Is(err, ErrNotFound) || err == nil && (cur.Holder != lease.Holder || cur.Token != lease.Token) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("release lease %s: %w", lease.Source, err)
		}
	}
	return fmt.Errorf("release lease %s: record changing under us", lease.Source)
}

// newToken returns 128 random bits in hex.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
