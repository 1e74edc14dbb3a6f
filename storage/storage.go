// Package storage owns the bucket: the one place where recevable keeps state.
//
// It defines the Bucket interface (object storage with conditional writes),
// its two implementations — S3 (s3.go) for production and a local directory
// (fs.go) for the embedded default — and the records built on top of it: raw
// originals, dossier manifests, queue markers, quarantine entries,
// registration-number counters, source cursors and leases, and audit events.
// The key layout is written down once, in layout.go.
//
// It does not know about IMAP, MIME or the art. 4 rules: intake and validate
// hand it finished values. Conditional writes (create-if-absent and
// replace-if-ETag-matches) are the only coordination primitive between
// replicas; nothing here holds state in memory that another process needs.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ETag identifies one version of an object. Backends return it opaque; callers
// only compare it for equality and pass it back in PutOptions.IfMatch.
type ETag string

var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("storage: object not found")
	// ErrExists: Put with IfAbsent found the key already taken.
	ErrExists = errors.New("storage: object already exists")
	// ErrPreconditionFailed: Put with IfMatch found another version in place.
	ErrPreconditionFailed = errors.New("storage: precondition failed (object changed)")
	// ErrIntegrity: an object's bytes do not match the SHA-256 recorded for it.
	ErrIntegrity = errors.New("storage: integrity check failed")
)

// IsConflict reports whether err is one of the two outcomes of a lost
// conditional write. Callers that coordinate through the bucket re-read and
// try again on a conflict.
func IsConflict(err error) bool {
	return errors.Is(err, ErrExists) || errors.Is(err, ErrPreconditionFailed)
}

// PutOptions qualify a Put. The zero value is an unconditional overwrite.
type PutOptions struct {
	// IfAbsent makes the Put fail with ErrExists when the key is taken.
	IfAbsent bool
	// IfMatch, when set, makes the Put fail with ErrPreconditionFailed unless
	// the object currently stored has this ETag (and ErrNotFound-free: a
	// missing object also fails with ErrPreconditionFailed).
	IfMatch ETag
	// Size of the body when known, -1 or 0 when not; backends use it to pick a
	// single PUT or a multipart upload. A zero Size with a non-empty body is
	// treated as unknown.
	Size int64
	// ContentType stored with the object; empty means application/octet-stream.
	ContentType string
	// Metadata stored with the object (S3 user metadata). Keys are lower-case
	// ASCII; values are ASCII (callers encode anything else).
	Metadata map[string]string
	// RetainUntil asks the backend to lock the object until then (S3 Object
	// Lock, compliance mode) when the bucket supports it. Zero means no lock.
	RetainUntil time.Time
	// SHA256, when set, is the lower-case hex SHA-256 of the body, known to
	// the caller (raw originals and documents are content-addressed). A body
	// that does not match it is refused: the Put fails with ErrIntegrity and
	// stores nothing. On S3 it is also the signed payload hash, so the SDK
	// does not read the body once more to compute it.
	SHA256 string
}

// Info describes a stored object.
type Info struct {
	Key          string
	Size         int64
	ETag         ETag
	LastModified time.Time
	ContentType  string
	Metadata     map[string]string
}

// ListPage is one page of a listing, in ascending key order (byte order of
// the UTF-8 keys, as S3 sorts them).
type ListPage struct {
	Objects []Info // Metadata is not filled by List; use Head.
	// Next is the StartAfter for the following page, empty when this page is
	// the last.
	Next string
}

// ListOptions qualify a List.
type ListOptions struct {
	// StartAfter lists keys strictly greater than this one.
	StartAfter string
	// Limit caps the page size; 0 means the backend's default (1000).
	Limit int
}

// Bucket is object storage with conditional writes. Every method is safe for
// concurrent use, across goroutines and across processes sharing the same
// bucket. Keys are UTF-8 strings of at most 1024 bytes using "/" as the
// hierarchy separator; they never start with "/" nor contain "." or ".."
// segments.
type Bucket interface {
	// Put stores an object from r. With IfAbsent it fails with ErrExists when
	// the key is already taken, which is how two workers agree on who created
	// it; with IfMatch it fails with ErrPreconditionFailed when someone else
	// replaced it first. A Put that returns an error stored nothing: readers
	// never see a partial object.
	Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error)
	// Get opens an object for reading. The caller closes the reader. It fails
	// with ErrNotFound when the key does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Head returns an object's Info, or ErrNotFound.
	Head(ctx context.Context, key string) (Info, error)
	// List returns one page of the keys starting with prefix, in key order.
	List(ctx context.Context, prefix string, o ListOptions) (ListPage, error)
	// Delete removes an object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy copies src to dst within the bucket, with o applied to dst
	// (IfAbsent, metadata). It fails with ErrNotFound when src is missing.
	Copy(ctx context.Context, src, dst string, o PutOptions) (ETag, error)
}

// ListAll calls fn for every object under prefix, in key order, page by page.
// It stops at the first error fn returns and returns it.
func ListAll(ctx context.Context, b Bucket, prefix string, fn func(Info) error) error {
	var after string
	for {
		page, err := b.List(ctx, prefix, ListOptions{StartAfter: after})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}
