package storage

import (
	"cmp"
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
		// As documented on ListPage, and as S3 lists: no metadata, and no
		// content type either, so that no caller comes to rely on it here.
		inf.Metadata, inf.ContentType = nil, ""
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
	found []fsFound
}

// fsFound is one object a listing returns.
type fsFound struct{ key, path string }

// fsEntry is one decoded directory entry. Keys and paths are built only for
// the few entries a page returns, not for the 50,000 a queue may hold.
type fsEntry struct {
	name  string
	seg   string
	isDir bool
}

// cmpEntries orders entries as their keys sort: seg for an object, seg+"/"
// for a directory, without building either string.
func cmpEntries(a, b fsEntry) int {
	n := min(len(a.seg), len(b.seg))
	if c := strings.Compare(a.seg[:n], b.seg[:n]); c != 0 {
		return c
	}
	return cmp.Compare(nextByte(a, n), nextByte(b, n))
}

// nextByte is the byte at n of e's sort key, -1 past its end.
func nextByte(e fsEntry, n int) int {
	switch {
	case n < len(e.seg):
		return int(e.seg[n])
	case e.isDir:
		return '/'
	default:
		return -1
	}
}

// dirMayFollow reports whether a directory of segment seg can hold keys
// after rest (the part of after below this directory): either seg+"/" sorts
// after rest, or rest lies inside the directory.
func dirMayFollow(seg, rest string) bool {
	n := min(len(seg), len(rest))
	if c := strings.Compare(seg[:n], rest[:n]); c != 0 {
		return c > 0
	}
	if len(rest) <= len(seg) {
		return true
	}
	return rest[len(seg)] <= '/'
}

func (w *fsWalker) walk(dir, keyPrefix, partial string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	// Where after falls against this directory's keys, which all start
	// with keyPrefix: before all of them, inside them (rest), or after all.
	rest, filter := "", false
	switch {
	case w.after == "" || w.after < keyPrefix:
	case strings.HasPrefix(w.after, keyPrefix):
		rest, filter = w.after[len(keyPrefix):], true
	default:
		return nil
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
		e, ok := decodeEntry(dir, name)
		if !ok || !strings.HasPrefix(e.seg, partial) {
			continue
		}
		if filter && (e.isDir && !dirMayFollow(e.seg, rest) || !e.isDir && e.seg <= rest) {
			continue
		}
		ents = append(ents, e)
	}
	// Take the entries in order, a page's worth at a time: a full sort of a
	// 50,000-entry directory to return 50 keys is what this avoids.
	for len(ents) > 0 && len(w.found) < w.want {
		var batch []fsEntry
		batch, ents = smallest(ents, w.want-len(w.found))
		for _, e := range batch {
			if len(w.found) >= w.want {
				return nil
			}
			path := filepath.Join(dir, e.name)
			if !e.isDir {
				w.found = append(w.found, fsFound{key: keyPrefix + e.seg, path: path})
				continue
			}
			if err := w.walk(path, keyPrefix+e.seg+"/", ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// smallest splits ents into its k smallest entries, sorted, and the others,
// in O(n log k). ents is reordered.
func smallest(ents []fsEntry, k int) (first, others []fsEntry) {
	if k >= len(ents) {
		slices.SortFunc(ents, cmpEntries)
		return ents, nil
	}
	// ents[:k] is kept as a max-heap of the k smallest seen so far; an
	// entry smaller than its top swaps places with it.
	h := ents[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(ents); i++ {
		if cmpEntries(ents[i], h[0]) < 0 {
			h[0], ents[i] = ents[i], h[0]
			siftDown(h, 0)
		}
	}
	slices.SortFunc(h, cmpEntries)
	return h, ents[k:]
}

func siftDown(h []fsEntry, i int) {
	for {
		l, big := 2*i+1, i
		if l < len(h) && cmpEntries(h[l], h[big]) > 0 {
			big = l
		}
		if r := l + 1; r < len(h) && cmpEntries(h[r], h[big]) > 0 {
			big = r
		}
		if big == i {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// decodeEntry decodes one directory entry; ok is false for entries that are
// not objects or key directories.
func decodeEntry(dir, name string) (e fsEntry, ok bool) {
	if name == "" || name[0] == '.' {
		return e, false // the backend's own files
	}
	base, isObj := strings.CutSuffix(name, fsObjSuffix)
	e.name, e.isDir = name, !isObj
	switch {
	case strings.HasPrefix(base, fsHashPrefix) && isObj:
		h, err := headObject(filepath.Join(dir, name))
		if err != nil {
			return e, false
		}
		e.seg = h.Key[strings.LastIndexByte(h.Key, '/')+1:]
	case strings.HasPrefix(base, fsHashPrefix):
		b, err := os.ReadFile(filepath.Join(dir, name, fsSegmentFile))
		if err != nil {
			return e, false
		}
		e.seg = string(b)
	default:
		if e.seg, ok = fsUnescape(base); !ok {
			return e, false
		}
	}
	return e, true
}
