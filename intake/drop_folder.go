package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// NewFolderDrop returns a source over the files directly in o.Dir. It
// watches the folder with the operating system's notifications where they
// work (inotify, kqueue, ReadDirectoryChangesW) and lists it every
// RescanInterval anyway: network shares (SMB, NFS) often report nothing.
// DoneDir and FailedDir are created when first needed; moving into them is
// a hard link then an unlink (never overwriting), or a copy when they are
// on another file system.
func NewFolderDrop(o DropOptions) (*DropSource, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("drop: Dir is required for a folder drop")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("drop %s: %w", o.Name, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("drop %s: %s is not a directory (%v)", o.Name, dir, err)
	}
	resolve := func(d string) string {
		if filepath.IsAbs(d) {
			return filepath.Clean(d)
		}
		return filepath.Join(dir, d)
	}
	be := &folderBackend{dir: dir, notify: make(chan struct{}, 1)}
	s := newDropSource(o, be, resolve(o.DoneDir), resolve(o.FailedDir))
	if w, err := fsnotify.NewWatcher(); err != nil {
		s.log.Warn().Err(err).Msg("drop: no change notifications, rescans only")
	} else if err := w.Add(dir); err != nil {
		w.Close()
		s.log.Warn().Err(err).Msg("drop: folder not watched, rescans only")
	} else {
		be.watcher = w
		go be.watch(s)
	}
	return s, nil
}

// folderBackend is a drop in a local or mounted folder.
type folderBackend struct {
	dir     string
	watcher *fsnotify.Watcher
	notify  chan struct{}
}

// watch turns notifications into wake-ups of Next until the watcher is
// closed.
func (b *folderBackend) watch(s *DropSource) {
	for {
		select {
		case _, ok := <-b.watcher.Events:
			if !ok {
				return
			}
			select {
			case b.notify <- struct{}{}:
			default:
			}
		case err, ok := <-b.watcher.Errors:
			if !ok {
				return
			}
			// An overflow loses events: the rescan catches up.
			s.log.Warn().Err(err).Msg("drop: change notifications lost, rescanning")
			select {
			case b.notify <- struct{}{}:
			default:
			}
		}
	}
}

func (b *folderBackend) changes() <-chan struct{} { return b.notify }

func (b *folderBackend) close() error {
	if b.watcher != nil {
		return b.watcher.Close()
	}
	return nil
}

func entryOf(name string, fi fs.FileInfo) dropEntry {
	return dropEntry{
		name: name, size: fi.Size(), mod: fi.ModTime(),
		version: strconv.FormatInt(fi.Size(), 10) + "/" + strconv.FormatInt(fi.ModTime().UnixNano(), 10),
	}
}

// list returns the regular files of the folder; symbolic links and
// subfolders are not files of the drop.
func (b *folderBackend) list(ctx context.Context) ([]dropEntry, error) {
	des, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir, err)
	}
	out := make([]dropEntry, 0, len(des))
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, entryOf(de.Name(), fi))
	}
	return out, ctx.Err()
}

func (b *folderBackend) stat(_ context.Context, name string) (dropEntry, error) {
	fi, err := os.Lstat(filepath.Join(b.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return dropEntry{}, errDropGone
	}
	if err != nil {
		return dropEntry{}, err
	}
	if !fi.Mode().IsRegular() {
		return dropEntry{}, errDropGone
	}
	return entryOf(name, fi), nil
}

func (b *folderBackend) open(_ context.Context, e dropEntry) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(b.dir, e.name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errDropGone
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && entryOf(e.name, fi).version != e.version {
		err = errDropChanged
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (b *folderBackend) read(_ context.Context, name string, limit int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(b.dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err == nil && int64(len(data)) >= limit {
		err = fmt.Errorf("over %d bytes", limit-1)
	}
	return data, err
}

func (b *folderBackend) exists(_ context.Context, dir, name string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// move links the file into dir (a link fails rather than overwrite), then
// removes it from the drop: at every moment the bytes are in one place at
// least. Across file systems it copies (O_EXCL) and syncs first.
func (b *folderBackend) move(_ context.Context, name, dir, target string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	src, dst := filepath.Join(b.dir, name), filepath.Join(dir, target)
	err := os.Link(src, dst)
	switch {
	case errors.Is(err, fs.ErrExist):
		return errDropExists
	case errors.Is(err, fs.ErrNotExist):
		return errDropGone
	case errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP):
		// Another file system, or one without hard links (some SMB mounts).
		if err := copyExclusive(src, dst); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(b.dir)
}

// copyExclusive copies src to a new file dst, synced.
func copyExclusive(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return errDropExists
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// write replaces dir/name with data, atomically (a temporary file renamed).
func (b *folderBackend) write(_ context.Context, dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".reason-*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (b *folderBackend) coordinates(e dropEntry) map[string]string {
	return map[string]string{CoordModTime: e.mod.UTC().Format(time.RFC3339Nano)}
}

// syncDir makes a directory's entries durable (a rename or link is not
// until then, on Linux).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
