package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		clock := newFakeClock()
		l := Leases{Bucket: b, Now: clock.Now}
		const src, ttl = "imap:prefecture-75/INBOX", 30 * time.Second

		a, err := l.Acquire(ctx, src, "worker-a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Expires.Equal(clock.Now().Add(ttl)) || a.Token == "" {
			t.Errorf("Acquire = %+v", a)
		}
		if _, err := l.Acquire(ctx, src, "worker-b", ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("Acquire of a held lease: %v, want ErrLeaseHeld", err)
		}
		// Renewing keeps it; B still cannot take it after the first TTL.
		clock.Add(20 * time.Second)
		if a, err = l.Renew(ctx, a, ttl); err != nil {
			t.Fatal(err)
		}
		clock.Add(20 * time.Second)
		if _, err := l.Acquire(ctx, src, "worker-b", ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("Acquire of a renewed lease: %v, want ErrLeaseHeld", err)
		}
		// A stalls; the lease expires; B takes it over.
		clock.Add(11 * time.Second)
		bl, err := l.Acquire(ctx, src, "worker-b", ttl)
		if err != nil {
			t.Fatalf("Acquire of an expired lease: %v", err)
		}
		// A wakes up: its renewal must tell it to stop.
		if _, err := l.Renew(ctx, a, ttl); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Renew of a stolen lease: %v, want ErrLeaseLost", err)
		}
		// A's release must not free B's lease.
		if err := l.Release(ctx, a); err != nil {
			t.Errorf("Release of a lost lease: %v", err)
		}
		if _, err := l.Acquire(ctx, src, "worker-c", ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("after the loser's Release, Acquire: %v, want ErrLeaseHeld", err)
		}
		// B releases: C can take it at once.
		if err := l.Release(ctx, bl); err != nil {
			t.Fatal(err)
		}
		c, err := l.Acquire(ctx, src, "worker-c", ttl)
		if err != nil {
			t.Fatalf("Acquire after Release: %v", err)
		}
		if _, err := l.Renew(ctx, bl, ttl); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Renew after Release: %v, want ErrLeaseLost", err)
		}
		// C restarts under the same name: it gets the lease again, with a new
		// token, and its old incarnation is out.
		c2, err := l.Acquire(ctx, src, "worker-c", ttl)
		if err != nil || c2.Token == c.Token {
			t.Fatalf("re-Acquire by the same holder = %+v, %v", c2, err)
		}
		if _, err := l.Renew(ctx, c, ttl); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Renew by the old incarnation: %v, want ErrLeaseLost", err)
		}
		// Leases of other sources are independent.
		if _, err := l.Acquire(ctx, "drop:/srv/scans", "worker-a", ttl); err != nil {
			t.Errorf("Acquire of another source: %v", err)
		}
	})
}

// TestLeaseRenewReplyLost: a renewal stored but whose answer was lost leaves
// the holder with a stale ETag; the next renewal must still succeed.
func TestLeaseRenewReplyLost(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	clock := newFakeClock()
	l := Leases{Bucket: b, Now: clock.Now}
	a, err := l.Acquire(ctx, "src", "worker-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lossy := Leases{Bucket: &faultBucket{Bucket: b, after: true, failPut: func(string) bool { return true }}, Now: clock.Now}
	if _, err := lossy.Renew(ctx, a, time.Minute); !errors.Is(err, errInjected) {
		t.Fatalf("lossy Renew: %v", err)
	}
	clock.Add(30 * time.Second)
	a2, err := l.Renew(ctx, a, time.Minute)
	if err != nil {
		t.Fatalf("Renew after a lost reply: %v", err)
	}
	if !a2.Expires.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("Renew expires %v", a2.Expires)
	}
}

// TestLeaseTakeoverRace: holders racing for one expired lease; exactly one
// wins.
func TestLeaseTakeoverRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		clock := newFakeClock()
		l := Leases{Bucket: b, Now: clock.Now}
		if _, err := l.Acquire(ctx, "src", "old", time.Second); err != nil {
			t.Fatal(err)
		}
		clock.Add(2 * time.Second)
		const holders = 8
		errs := together(holders, func(i int) error {
			_, err := l.Acquire(ctx, "src", fmt.Sprint("holder", i), time.Minute)
			return err
		})
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrLeaseHeld):
				t.Errorf("holder %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d holders acquired the lease, want exactly 1", won)
		}
	})
}
