package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	ctx := context.Background()
	// Pages of 2 at the bucket level, below the queue's own page size.
	b := smallPages{Bucket: newRecFS(t), n: 2}
	q := Queue{Bucket: b}
	base := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	// Added out of order, in mixed zones: listed in arrival order.
	arrivals := []int{5, 2, 7, 1, 4, 3, 6}
	for _, i := range arrivals {
		at := base.Add(time.Duration(i) * time.Minute)
		if i%2 == 0 {
			at = at.In(paris)
		}
		if err := q.Add(ctx, "75", StatusAVerifier, at, FormatNumber("75", 2026, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	// Adding again is a no-op.
	if err := q.Add(ctx, "75", StatusAVerifier, base.Add(time.Minute), "75-2026-000101"); err != nil {
		t.Errorf("Add of an existing marker: %v", err)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		entries, next, err := q.Page(ctx, "75", StatusAVerifier, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) > 3 || pages > 5 {
			t.Fatalf("page of %d entries (page %d)", len(entries), pages)
		}
		for _, e := range entries {
			got = append(got, e.Number)
			if e.MarkedAt.IsZero() || e.ReceivedAt.Location() != time.UTC {
				t.Errorf("entry %+v", e)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	var want []string
	for i := 1; i <= 7; i++ {
		want = append(want, FormatNumber("75", 2026, 100+i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("queue in pages of 3 = %v\nwant %v", got, want)
	}

	at3 := base.Add(3 * time.Minute)
	if err := q.Move(ctx, "75", "75-2026-000103", at3, StatusAVerifier, StatusRecevable); err != nil {
		t.Fatal(err)
	}
	counts, err := q.Counts(ctx, "75")
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusAVerifier] != 6 || counts[StatusRecevable] != 1 || counts[StatusClos] != 0 {
		t.Errorf("Counts after Move = %v", counts)
	}
	if err := q.Remove(ctx, "75", StatusRecevable, at3, "75-2026-000103"); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, "75", StatusRecevable, at3, "75-2026-000103"); err != nil {
		t.Errorf("Remove of a missing marker: %v", err)
	}
	if n, _ := q.Count(ctx, "75", StatusRecevable); n != 0 {
		t.Errorf("Count after Remove = %d", n)
	}
	// Another site's queue is another prefix.
	if n, _ := q.Count(ctx, "7", StatusAVerifier); n != 0 {
		t.Errorf("site 7 sees %d markers of site 75", n)
	}
	for _, bad := range []struct {
		site, number string
		st           Status
	}{{"75", "pp-2026-000001", StatusClos}, {"75", "75-2026-000001", "nouveau"}, {"X", "X-2026-000001", StatusClos}} {
		if err := q.Add(ctx, bad.site, bad.st, base, bad.number); err == nil {
			t.Errorf("Add(%q, %q, %q) accepted", bad.site, bad.st, bad.number)
		}
	}
}

// BenchmarkQueueCount measures the list-and-count cost on the filesystem
// backend for a queue of 2,000 markers.
func BenchmarkQueueCount(b *testing.B) {
	bucket, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	q := Queue{Bucket: bucket}
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		if err := q.Add(ctx, "75", StatusAVerifier, base.Add(time.Duration(i)*time.Second), FormatNumber("75", 2026, i+1)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if n, err := q.Count(ctx, "75", StatusAVerifier); err != nil || n != 2000 {
			b.Fatalf("Count = %d, %v", n, err)
		}
	}
}
