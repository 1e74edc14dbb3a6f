package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCursor(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	c := Cursors{Bucket: b}
	const src = "imap:préfecture-75/Boîte de réception"
	if _, _, err := c.Get(ctx, src); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a new source: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	e1, err := c.Put(ctx, src, Cursor{UIDValidity: 42, LastUID: 7, UpdatedAt: at}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, src, Cursor{UIDValidity: 42, LastUID: 1}, ""); !errors.Is(err, ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	e2, err := c.Put(ctx, src, Cursor{UIDValidity: 42, LastUID: 9, UpdatedAt: at}, e1)
	if err != nil {
		t.Fatal(err)
	}
	// A poller that lost its lease still holds e1.
	if _, err := c.Put(ctx, src, Cursor{UIDValidity: 42, LastUID: 8}, e1); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("Put with a stale ETag: %v, want ErrPreconditionFailed", err)
	}
	got, etag, err := c.Get(ctx, src)
	if err != nil || got.LastUID != 9 || got.UIDValidity != 42 || etag != e2 || !got.UpdatedAt.Equal(at) {
		t.Errorf("Get = %+v, %q, %v", got, etag, err)
	}
	// The source id is escaped into one key segment.
	if keys := keysUnder(t, b, cursorPrefix); len(keys) != 1 || keys[0] != cursorKey(src) {
		t.Errorf("cursor keys = %v", keys)
	}
	if _, _, err := c.Get(ctx, "imap:other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of another source: %v", err)
	}
}
