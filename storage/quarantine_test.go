package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	b := smallPages{Bucket: newRecFS(t), n: 2}
	clock := newFakeClock()
	q := Quarantine{Bucket: b, Now: clock.Now}
	sha := shaOf("bad mime")
	first := clock.Now()
	e, err := q.Record(ctx, sha, "imap:75/INBOX", "mime depth over 32", "mime_depth")
	if err != nil {
		t.Fatal(err)
	}
	if e.Attempts != 1 || e.RawKey != RawKey(sha) || !e.FirstSeen.Equal(first) || e.Limit != "mime_depth" {
		t.Errorf("first Record = %+v", e)
	}
	clock.Add(time.Hour)
	e, err = q.Record(ctx, sha, "imap:75/INBOX", "still too deep", "mime_depth")
	if err != nil {
		t.Fatal(err)
	}
	if e.Attempts != 2 || !e.FirstSeen.Equal(first) || !e.LastSeen.Equal(clock.Now()) || e.Reason != "still too deep" {
		t.Errorf("second Record = %+v", e)
	}
	got, etag, err := q.Get(ctx, sha)
	if err != nil || got.Attempts != 2 || etag == "" {
		t.Errorf("Get = %+v, %q, %v", got, etag, err)
	}
	// A supervisor's edit with a stale ETag loses against a worker.
	if _, err := q.Record(ctx, sha, "", "again", ""); err != nil {
		t.Fatal(err)
	}
	got.Reason = "edited"
	if _, err := q.Put(ctx, got, etag); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("Put with a stale ETag: %v, want ErrPreconditionFailed", err)
	}
	if _, err := q.Put(ctx, got, ""); !errors.Is(err, ErrExists) {
		t.Errorf("Put creating an existing entry: %v, want ErrExists", err)
	}

	// Listing in pages.
	var want []string
	for i := range 4 {
		s := shaOf(fmt.Sprint("item", i))
		if _, err := q.Record(ctx, s, "drop", "corrupt scan", ""); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	want = append(want, sha)
	var listed []string
	after := ""
	for {
		page, next, err := q.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			listed = append(listed, e.Raw)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(listed) != len(want) {
		t.Errorf("List returned %d entries, want %d", len(listed), len(want))
	}
	for i := 1; i < len(listed); i++ {
		if listed[i] <= listed[i-1] {
			t.Errorf("List out of order: %v", listed)
		}
	}

	if err := q.Delete(ctx, sha); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Get(ctx, sha); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := q.Delete(ctx, sha); err != nil {
		t.Errorf("Delete of a missing entry: %v", err)
	}
}

// TestQuarantineConcurrentRecords: workers failing on the same item at once
// must each count.
func TestQuarantineConcurrentRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		q := Quarantine{Bucket: b}
		sha := shaOf("contended")
		const writers = 8
		errs := together(writers, func(w int) error {
			_, err := q.Record(ctx, sha, "s", fmt.Sprint("failure ", w), "")
			return err
		})
		for w, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", w, err)
			}
		}
		if e, _, err := q.Get(ctx, sha); err != nil || e.Attempts != writers {
			t.Errorf("Attempts = %d, %v; want %d", e.Attempts, err, writers)
		}
	})
}
