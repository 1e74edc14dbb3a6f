package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List implements Bucket. It walks only the directory that the prefix
// designates and, inside it, only the subtrees that can hold keys after
// StartAfter, in S3 byte order, and stops once the page is full.
//
// Order: in a directory for key prefix P, the object of segment s holds the
// key P+s and the subdirectory of segment s holds keys starting with P+s+"/".
// Sorting the entries by s (objects) and s+"/" (directories) and walking
// depth-first yields keys in byte order, because a segment never contains
// "/": "a/b" < "a/b-x" < "a/b/c" < "a/b0".
func (b *FS) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = 1000
	}
	// The prefix's full segments name a directory; its last, partial segment
	// filters that directory's entries.
	dirPrefix, partial := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirPrefix, partial = prefix[:i+1], prefix[i+1:]
	}
	dir := b.root
	if dirPrefix != "" {
		for seg := range strings.SplitSeq(dirPrefix[:len(dirPrefix)-1], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return ListPage{}, nil // no valid key starts like this
			}
			name, _ := fsDirName(seg)
			dir = filepath.Join(dir, name)
		}
	}
	w := fsWalker{ctx: ctx, after: o.StartAfter, want: limit + 1}
	if err := w.walk(dir, dirPrefix, partial); err != nil {
		return ListPage{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	var page ListPage
	found := w.found
	if len(found) > limit {
		found = found[:limit]
		page.Next = found[limit-1].key
	}
	page.Objects = make([]Info, 0, len(found))
	for _, e := range found {
		h, err := headObject(e.path)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return ListPage{}, fmt.Errorf("list %q: %w", prefix, err)
		}
		inf := h.info()
		inf.Metadata = nil // as documented on ListPage, and as S3 lists
		page.Objects = append(page.Objects, inf)
	}
	return page, nil
}

// fsTestOpenDir, when set by a test, sees every directory a listing reads.
var fsTestOpenDir func(dir string)

// fsWalker collects up to want object keys greater than after, in order.
type fsWalker struct {
	ctx   context.Context
	after string
	want  int
	found []fsEntry
}

type fsEntry struct {
	sort  string // s for an object, s+"/" for a directory
	key   string // the object's key, or the directory's key prefix
	path  string
	isDir bool
}

func (w *fsWalker) walk(dir, keyPrefix, partial string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if fsTestOpenDir != nil {
		fsTestOpenDir(dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil
		}
		return err
	}
	// Names only: no stat per entry, which matters on a 50,000-marker queue.
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we read it (Delete prunes empty dirs)
		}
		return err
	}
	ents := make([]fsEntry, 0, len(names))
	for _, name := range names {
		e, ok := w.entry(dir, keyPrefix, name)
		// partial has no "/", so testing the sort key tests the segment.
		if !ok || !strings.HasPrefix(e.sort, partial) {
			continue
		}
		ents = append(ents, e)
	}
	slices.SortFunc(ents, func(a, b fsEntry) int { return strings.Compare(a.sort, b.sort) })
	for _, e := range ents {
		if len(w.found) >= w.want {
			return nil
		}
		if !e.isDir {
			w.found = append(w.found, e)
			continue
		}
		if err := w.walk(e.path, e.key, ""); err != nil {
			return err
		}
	}
	return nil
}

// entry decodes one directory entry and decides whether it can hold keys
// after w.after; ok is false for entries to skip.
func (w *fsWalker) entry(dir, keyPrefix, name string) (e fsEntry, ok bool) {
	if name == "" || name[0] == '.' {
		return e, false // the backend's own files
	}
	e.path = filepath.Join(dir, name)
	base, isObj := strings.CutSuffix(name, fsObjSuffix)
	var seg string
	switch {
	case strings.HasPrefix(base, fsHashPrefix) && isObj:
		h, err := headObject(e.path)
		if err != nil {
			return e, false
		}
		seg = h.Key[strings.LastIndexByte(h.Key, '/')+1:]
	case strings.HasPrefix(base, fsHashPrefix):
		b, err := os.ReadFile(filepath.Join(e.path, fsSegmentFile))
		if err != nil {
			return e, false
		}
		seg = string(b)
	default:
		if seg, ok = fsUnescape(base); !ok {
			return e, false
		}
	}
	if isObj {
		e.sort, e.key = seg, keyPrefix+seg
		return e, w.after == "" || e.key > w.after
	}
	e.sort, e.key, e.isDir = seg+"/", keyPrefix+seg+"/", true
	// Every key below starts with e.key: skip the subtree when that prefix
	// sorts before after and after is not inside it.
	if w.after != "" && e.key < w.after && !strings.HasPrefix(w.after, e.key) {
		return e, false
	}
	return e, true
}
