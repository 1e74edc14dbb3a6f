package storage

import (
	"context"
	"fmt"
	"time"
)

// Cursor is where an IMAP poller stands in a mailbox (RFC 9051 §2.3.1.1):
// messages with a UID above LastUID are new, as long as UIDValidity has not
// changed. When it changes, UIDs start over and the poller rescans; the raw
// store and the Message-ID index make the rescan produce no duplicate.
type Cursor struct {
	UIDValidity uint32    `json:"uid_validity"`
	LastUID     uint32    `json:"last_uid"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Cursors keeps one cursor per source under state/cursors/<source>.
type Cursors struct {
	Bucket Bucket
}

// Get returns the cursor of source and its ETag, or ErrNotFound when the
// source was never polled.
func (c Cursors) Get(ctx context.Context, source string) (Cursor, ETag, error) {
	if source == "" {
		return Cursor{}, "", fmt.Errorf("get cursor: empty source")
	}
	var cur Cursor
	etag, err := getJSON(ctx, c.Bucket, cursorKey(source), &cur)
	if err != nil {
		return Cursor{}, "", fmt.Errorf("get cursor %s: %w", source, err)
	}
	return cur, etag, nil
}

// Put stores the cursor of source if the stored one is still version ifMatch
// (from Get); ifMatch "" creates it and fails with ErrExists if there is one.
// On ErrPreconditionFailed another poller moved the cursor: this one has lost
// its lease and must stop. UpdatedAt is the caller's to set.
func (c Cursors) Put(ctx context.Context, source string, cur Cursor, ifMatch ETag) (ETag, error) {
	if source == "" {
		return "", fmt.Errorf("put cursor: empty source")
	}
	o := PutOptions{IfMatch: ifMatch}
	if ifMatch == "" {
		o = PutOptions{IfAbsent: true}
	}
	etag, err := putJSON(ctx, c.Bucket, cursorKey(source), cur, o)
	if err != nil {
		return "", fmt.Errorf("put cursor %s: %w", source, err)
	}
	return etag, nil
}
