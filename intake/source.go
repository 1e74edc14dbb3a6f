package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Item is one raw submission taken from a source: an RFC 5322 message, a
// scanned batch, an upload. Its bytes are spooled (never held whole in
// memory); Open may be called several times.
type Item struct {
	// Source names the source instance, e.g. "imap:prefecture-75/INBOX" or
	// "drop:/srv/scans". Stable across restarts.
	Source string
	// Coordinates locate the item at its source (mailbox, uidvalidity, uid;
	// drop path…), recorded as metadata of the raw object.
	Coordinates map[string]string
	// ReceivedAt is when the source received it (IMAP INTERNALDATE, file
	// modification time…).
	ReceivedAt time.Time
	// Size in bytes of the raw item.
	Size int64
	// SHA256 is the lower-case hex SHA-256 of the bytes Open returns, when
	// the source computed it while taking the item; empty otherwise.
	SHA256 string
	// Open returns a fresh reader over the raw bytes.
	Open func() (io.ReadCloser, error)
	// Release frees the spool. Call it once the item is acked or abandoned.
	Release func()
}

// Disposition tells a source what became of an item once its raw bytes were
// stored, so that a human looking at the source sees it: a processed message
// is moved to the processed folder, a quarantined one to the quarantine
// folder.
type Disposition int

const (
	// Processed: the raw bytes are stored and the submission became a dossier
	// (or is a duplicate of one).
	Processed Disposition = iota
	// Quarantined: the raw bytes are stored and the submission was put in
	// quarantine with a reason.
	Quarantined
)

func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Quarantined:
		return "quarantined"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// Ack acknowledges an item at its source. It must be called only after the
// raw bytes are stored in the bucket: that is the invariant that makes the
// pipeline lose nothing (DESIGN.md, "Raw first"). An item that is never
// acked stays at its source and is taken again later; storing is idempotent,
// so that is safe.
type Ack func(ctx context.Context, d Disposition) error

// Source yields raw items. Next blocks until an item is available or ctx is
// done. Sources are used by one goroutine at a time.
type Source interface {
	Next(ctx context.Context) (Item, Ack, error)
	Close() error
}

// PermanentError marks a failure that retrying will not fix: the item is
// quarantined with this reason. Every other error is treated as temporary.
type PermanentError struct {
	// Limit names the limit that was exceeded, when that is the cause
	// ("message_size", "mime_depth"…), empty otherwise.
	Limit string
	Err   error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err (or an error it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
