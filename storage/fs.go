package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FS is a Bucket on a local directory, the embedded default. It has the
// semantics of S3 with conditional writes: objects appear whole or not at all
// (temporary file, fsync, rename, fsync of the directory), IfAbsent and
// IfMatch hold across goroutines and across processes sharing the directory
// (flock on striped lock files), and List returns keys in S3 byte order.
//
// The directory holds one file per object (see fs_key.go for the name
// mapping and fs_object.go for the file format) and a hidden ".recevable"
// directory with temporary files and lock files. It must be on a local
// filesystem with working flock and atomic rename (not NFS).
type FS struct {
	root  string
	tmp   string
	locks string
	// mu serialises goroutines of this process per stripe before they take
	// the flock, so blocked writers wait on a mutex rather than a thread.
	mu [fsStripes]sync.Mutex
	// noSync skips fsync; only tests that build large fixtures set it, as
	// durability is not what they measure.
	noSync bool
}

var _ Bucket = (*FS)(nil)

const (
	fsStripes  = 64
	fsStaleTmp = 24 * time.Hour
)

var errNotDir = syscall.ENOTDIR

// NewFS opens (creating it if needed) a filesystem bucket rooted at dir.
func NewFS(dir string) (*FS, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filesystem bucket %q: %w", dir, err)
	}
	b := &FS{
		root:  root,
		tmp:   filepath.Join(root, ".recevable", "tmp"),
		locks: filepath.Join(root, ".recevable", "locks"),
	}
	for _, d := range []string{b.tmp, b.locks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("filesystem bucket %q: %w", dir, err)
		}
	}
	b.removeStaleTemps()
	return b, nil
}

// Root returns the directory the bucket lives in.
func (b *FS) Root() string { return b.root }

// removeStaleTemps deletes temporary files left by crashed writers. Only old
// ones: a younger one may belong to a Put in progress in another process.
func (b *FS) removeStaleTemps() {
	ents, err := os.ReadDir(b.tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > fsStaleTmp {
			os.Remove(filepath.Join(b.tmp, e.Name()))
		}
	}
}

// Put implements Bucket. The body streams to a temporary file while being
// hashed; only the existence/ETag check and the rename run under the lock.
func (b *FS) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkPutOptions(o); err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	if err := checkSHA256Option(o); err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	etag, err := b.put(ctx, key, r, o)
	if err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	return etag, nil
}

func (b *FS) put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(b.tmp, "put-*")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return "", fmt.Errorf("write body: %w", err)
	}
	if o.Size > 0 && n != o.Size {
		return "", fmt.Errorf("body has %d bytes, Size says %d", n, o.Size)
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	if o.SHA256 != "" && digest != o.SHA256 {
		return "", fmt.Errorf("%w: body has sha256 %s, SHA256 says %s", ErrIntegrity, digest, o.SHA256)
	}
	h := &fsHeader{
		Version: fsHeaderVers, Key: key, Size: n, SHA256: digest,
		// The ETag is the body's hash, like S3's MD5 ETag for single PUTs:
		// opaque to callers, equal for equal bodies.
		ETag:        ETag(digest),
		ContentType: o.ContentType,
		Metadata:    o.Metadata,
		Modified:    time.Now().UTC().Truncate(time.Millisecond),
	}
	if h.ContentType == "" {
		h.ContentType = "application/octet-stream"
	}
	if !o.RetainUntil.IsZero() {
		t := o.RetainUntil.UTC()
		h.RetainUntil = &t
	}
	if err := writeTrailer(tmp, h); err != nil {
		return "", err
	}
	if !b.noSync {
		if err := tmp.Sync(); err != nil {
			return "", fmt.Errorf("fsync temporary file: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("close temporary file: %w", err)
	}
	if err := b.commit(ctx, key, tmp.Name(), o); err != nil {
		return "", err
	}
	committed = true
	return h.ETag, nil
}

// commit renames a finished temporary file onto key's path, after checking
// the conditions of o under key's lock.
func (b *FS) commit(ctx context.Context, key, tmp string, o PutOptions) error {
	path, err := b.makeParents(key)
	if err != nil {
		return err
	}
	unlock, err := b.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if o.IfAbsent || o.IfMatch != "" {
		cur, err := headObject(path)
		switch {
		case errors.Is(err, ErrNotFound):
			if o.IfMatch != "" {
				return ErrPreconditionFailed
			}
		case err != nil:
			return fmt.Errorf("read current version: %w", err)
		case o.IfAbsent:
			return ErrExists
		case cur.ETag != o.IfMatch:
			return ErrPreconditionFailed
		}
	}
	// A concurrent Delete may prune a parent directory that just became
	// empty between makeParents and the rename: recreate it and retry.
	for attempt := 0; ; attempt++ {
		err = os.Rename(tmp, path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			break
		}
		if _, err := b.makeParents(key); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("publish object: %w", err)
	}
	if b.noSync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

// lock takes key's stripe lock: the process mutex, then the flock.
func (b *FS) lock(ctx context.Context, key string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	i := h.Sum32() % fsStripes
	b.mu[i].Lock()
	if err := ctx.Err(); err != nil {
		b.mu[i].Unlock()
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(b.locks, fmt.Sprintf("%02x", i)))
	if err != nil {
		b.mu[i].Unlock()
		return nil, err
	}
	return func() { unlock(); b.mu[i].Unlock() }, nil
}

// objectPath maps a (checked) key to its file path.
func (b *FS) objectPath(key string) string {
	segs := strings.Split(key, "/")
	parts := make([]string, 0, len(segs)+1)
	parts = append(parts, b.root)
	for _, s := range segs[:len(segs)-1] {
		name, _ := fsDirName(s)
		parts = append(parts, name)
	}
	parts = append(parts, fsFileName(segs[len(segs)-1]))
	return filepath.Join(parts...)
}

// makeParents creates the directories above key's file and returns the file
// path. New directories are fsynced into their parents so that a published
// object survives a crash. A concurrent Delete may prune an empty parent
// while we climb down (its rmdir runs outside our stripe lock): the climb
// then starts again from the root.
func (b *FS) makeParents(key string) (string, error) {
	for attempt := 0; ; attempt++ {
		path, err := b.makeParentsOnce(key)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			return path, err
		}
	}
}

func (b *FS) makeParentsOnce(key string) (string, error) {
	path := b.objectPath(key)
	segs := strings.Split(key, "/")
	dir := b.root
	for _, s := range segs[:len(segs)-1] {
		name, hashed := fsDirName(s)
		parent := dir
		dir = filepath.Join(dir, name)
		err := os.Mkdir(dir, 0o755)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return "", err
			}
		case !errors.Is(err, fs.ErrExist):
			return "", fmt.Errorf("create directory: %w", err)
		}
		if hashed {
			if err := b.writeSegmentName(dir, s); err != nil {
				return "", err
			}
		}
	}
	return path, nil
}

// writeSegmentName records the real segment of a hashed directory name, for
// listings. Concurrent writers write the same bytes, so a plain atomic
// replace is enough.
func (b *FS) writeSegmentName(dir, seg string) error {
	p := filepath.Join(dir, fsSegmentFile)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(b.tmp, "seg-*")
	if err != nil {
		return fmt.Errorf("record segment name: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(seg); err != nil {
		tmp.Close()
		return fmt.Errorf("record segment name: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("record segment name: %w", err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("record segment name: %w", err)
	}
	return nil
}

// Get implements Bucket. The reader and the Info come from the same open
// file, hence from the same version even if the key is replaced meanwhile.
func (b *FS) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	f, h, err := openObject(b.objectPath(key))
	if err != nil {
		return nil, Info{}, fmt.Errorf("get %q: %w", key, err)
	}
	return &objectReader{SectionReader: io.NewSectionReader(f, 0, h.Size), f: f}, h.info(), nil
}

// Head implements Bucket.
func (b *FS) Head(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	h, err := headObject(b.objectPath(key))
	if err != nil {
		return Info{}, fmt.Errorf("head %q: %w", key, err)
	}
	return h.info(), nil
}

// Delete implements Bucket. Parent directories left empty are removed, so
// that listings stay cheap once a queue drains.
func (b *FS) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	path := b.objectPath(key)
	unlock, err := b.lock(ctx, key)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	err = os.Remove(path)
	if err == nil {
		err = syncDir(filepath.Dir(path))
		if errors.Is(err, fs.ErrNotExist) {
			// Another Delete pruned the directory, now empty, before we
			// synced it: the unlink is gone with it.
			err = nil
		}
	} else if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		err = nil
	}
	unlock()
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	// rmdir fails on a non-empty directory, which ends the climb; a Put racing
	// with this recreates the directory (see commit).
	for dir := filepath.Dir(path); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if syscall.Rmdir(dir) != nil {
			break
		}
	}
	return nil
}

// Copy implements Bucket. Without ContentType or Metadata in o the source's
// are kept (S3's COPY directive); with either, o's replace them.
func (b *FS) Copy(ctx context.Context, src, dst string, o PutOptions) (ETag, error) {
	if err := checkKey(src); err != nil {
		return "", err
	}
	if err := checkKey(dst); err != nil {
		return "", err
	}
	if err := checkPutOptions(o); err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	f, h, err := openObject(b.objectPath(src))
	if err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	defer f.Close()
	if o.ContentType == "" && o.Metadata == nil {
		o.ContentType, o.Metadata = h.ContentType, h.Metadata
	}
	o.Size = h.Size
	etag, err := b.put(ctx, dst, io.NewSectionReader(f, 0, h.Size), o)
	if err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	return etag, nil
}

// syncDir fsyncs a directory so that a rename or unlink in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// ctxReader stops a streamed body when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
