package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"recevable/storage"
)

// NewS3Drop returns a source over the objects directly under o.Prefix in
// o.Files (a mailroom scanner or tool that uploads to S3, or the drop
// bucket of another site). Objects appear whole in S3, but StableFor still
// applies, to leave time for the sidecar uploaded after its scan. An
// object is moved out by a copy (IfAbsent) to DoneDir or FailedDir, then a
// delete of the original.
func NewS3Drop(o DropOptions) (*DropSource, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if o.Files == nil {
		return nil, errors.New("drop: Files is required for an S3 drop")
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		return nil, fmt.Errorf("drop %s: prefix %q must end with /", o.Name, o.Prefix)
	}
	resolve := func(d string) string {
		if strings.HasPrefix(d, "/") {
			d = strings.TrimPrefix(path.Clean(d), "/")
		} else {
			d = path.Clean(o.Prefix + d)
		}
		return d + "/"
	}
	be := &s3Backend{b: o.Files, prefix: o.Prefix}
	return newDropSource(o, be, resolve(o.DoneDir), resolve(o.FailedDir)), nil
}

// s3Backend is a drop under a key prefix of a bucket.
type s3Backend struct {
	b      storage.Bucket
	prefix string
}

// maxKeyRune sorts after every character a key is likely to hold: listing
// after <dir>/ followed by it skips the whole of <dir>/ in one call.
const maxKeyRune = "\U0010FFFF"

// list returns the objects directly under the prefix. Subfolders (done/,
// failed/, anything else) are skipped with one List call each rather than
// listed through.
func (b *s3Backend) list(ctx context.Context) ([]dropEntry, error) {
	var out []dropEntry
	after := ""
	for {
		page, err := b.b.List(ctx, b.prefix, storage.ListOptions{StartAfter: after})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", b.prefix, err)
		}
		skipped := false
		for _, o := range page.Objects {
			rest := strings.TrimPrefix(o.Key, b.prefix)
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				next := b.prefix + rest[:i+1] + maxKeyRune
				if next <= o.Key { // a key beyond the skip point: just go on
					next = o.Key
				}
				after, skipped = next, true
				break
			}
			out = append(out, dropEntry{name: rest, size: o.Size, mod: o.LastModified, version: string(o.ETag)})
		}
		if !skipped {
			if page.Next == "" {
				return out, nil
			}
			after = page.Next
		}
	}
}

func (b *s3Backend) stat(ctx context.Context, name string) (dropEntry, error) {
	info, err := b.b.Head(ctx, b.prefix+name)
	if errors.Is(err, storage.ErrNotFound) {
		return dropEntry{}, errDropGone
	}
	if err != nil {
		return dropEntry{}, err
	}
	return dropEntry{name: name, size: info.Size, mod: info.LastModified, version: string(info.ETag)}, nil
}

func (b *s3Backend) open(ctx context.Context, e dropEntry) (io.ReadCloser, error) {
	rc, info, err := b.b.Get(ctx, b.prefix+e.name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errDropGone
	}
	if err != nil {
		return nil, err
	}
	if string(info.ETag) != e.version {
		rc.Close()
		return nil, errDropChanged
	}
	return rc, nil
}

func (b *s3Backend) read(ctx context.Context, name string, limit int64) ([]byte, error) {
	rc, _, err := b.b.Get(ctx, b.prefix+name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit))
	if err == nil && int64(len(data)) >= limit {
		err = fmt.Errorf("over %d bytes", limit-1)
	}
	return data, err
}

func (b *s3Backend) exists(ctx context.Context, dir, name string) (bool, error) {
	_, err := b.b.Head(ctx, dir+name)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// move copies the object IfAbsent, then deletes the original. A copy
// already there with the same size and ETag is an earlier move that died
// before the delete: the delete is finished.
func (b *s3Backend) move(ctx context.Context, name, dir, target string) error {
	src, dst := b.prefix+name, dir+target
	srcInfo, err := b.b.Head(ctx, src)
	if errors.Is(err, storage.ErrNotFound) {
		return errDropGone
	}
	if err != nil {
		return err
	}
	_, err = b.b.Copy(ctx, src, dst, storage.PutOptions{IfAbsent: true, ContentType: srcInfo.ContentType})
	switch {
	case errors.Is(err, storage.ErrExists):
		dstInfo, herr := b.b.Head(ctx, dst)
		if herr != nil || dstInfo.Size != srcInfo.Size || dstInfo.ETag != srcInfo.ETag {
			return errDropExists
		}
	case errors.Is(err, storage.ErrNotFound):
		return errDropGone
	case err != nil:
		return err
	}
	return b.b.Delete(ctx, src)
}

func (b *s3Backend) write(ctx context.Context, dir, name string, data []byte) error {
	_, err := b.b.Put(ctx, dir+name, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "text/plain; charset=utf-8"})
	return err
}

func (b *s3Backend) coordinates(e dropEntry) map[string]string {
	return map[string]string{CoordKey: b.prefix + e.name, CoordETag: strings.Trim(e.version, `"`)}
}

func (b *s3Backend) changes() <-chan struct{} { return nil }
func (b *s3Backend) close() error             { return nil }
