package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"recevable/storage"
)

// BucketCursors is the CursorStore of production: the cursors kept in the
// bucket by storage.Cursors (state/cursors/<source>), with conditional
// writes.
type BucketCursors struct {
	Cursors storage.Cursors
	// Now stamps UpdatedAt; time.Now when nil.
	Now func() time.Time
}

var _ CursorStore = BucketCursors{}

// Get returns the stored cursor, or the zero Cursor and version "" for a
// source never polled.
func (b BucketCursors) Get(ctx context.Context, sourceID string) (Cursor, string, error) {
	c, etag, err := b.Cursors.Get(ctx, sourceID)
	if errors.Is(err, storage.ErrNotFound) {
		return Cursor{}, "", nil
	}
	if err != nil {
		return Cursor{}, "", err
	}
	return Cursor{UIDValidity: c.UIDValidity, LastUID: c.LastUID}, string(etag), nil
}

// Put writes the cursor if version is still the stored one; a lost race
// matches both ErrCursorConflict and the storage error.
func (b BucketCursors) Put(ctx context.Context, sourceID string, c Cursor, version string) (string, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	etag, err := b.Cursors.Put(ctx, sourceID, storage.Cursor{
		UIDValidity: c.UIDValidity, LastUID: c.LastUID, UpdatedAt: now().UTC(),
	}, storage.ETag(version))
	if storage.IsConflict(err) {
		return "", fmt.Errorf("%w: %w", ErrCursorConflict, err)
	}
	if err != nil {
		return "", err
	}
	return string(etag), nil
}
