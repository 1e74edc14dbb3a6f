package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func newTestFS(t *testing.T) *FS {
	t.Helper()
	b, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	return b
}

func TestFSConformance(t *testing.T) {
	runConformance(t, backendLimits{}, func(t *testing.T) Bucket { return newTestFS(t) })
}

// Environment of the child processes of TestFSCrossProcess.
const (
	envChildDir  = "RECEVABLE_TEST_FS_CHILD_DIR"
	envChildID   = "RECEVABLE_TEST_FS_CHILD_ID"
	childRuns    = 6
	childBumps   = 15
	childCreated = "created"
)

// TestFSCrossProcess races separate processes (this test binary, re-executed)
// on one directory: each tries to create the same key IfAbsent, then bumps a
// shared counter with IfMatch. Exactly one creation may win and no bump may
// be lost, which only holds if the flock serialises check and rename.
func TestFSCrossProcess(t *testing.T) {
	if dir := os.Getenv(envChildDir); dir != "" {
		crossProcessChild(t, dir)
		return
	}
	dir := t.TempDir()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, b, "state/counter", "0", PutOptions{})

	outs := make([]string, childRuns)
	errs := race(childRuns, func(i int) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFSCrossProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildID+"="+strconv.Itoa(i))
		out, err := cmd.CombinedOutput()
		outs[i] = string(out)
		if err != nil {
			return fmt.Errorf("child %d: %w\n%s", i, err, out)
		}
		return nil
	})
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		created += strings.Count(outs[i], childCreated+"\n")
	}
	if created != 1 {
		t.Errorf("%d processes created the key IfAbsent, want exactly 1", created)
	}
	if body, _ := get(t, b, "state/counter"); body != strconv.Itoa(childRuns*childBumps) {
		t.Errorf("counter = %s after %d processes × %d bumps, want %d", body, childRuns, childBumps, childRuns*childBumps)
	}
}

func crossProcessChild(t *testing.T, dir string) {
	ctx := context.Background()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv(envChildID)
	_, err = b.Put(ctx, "state/lease", strings.NewReader(id), PutOptions{IfAbsent: true})
	switch {
	case err == nil:
		fmt.Println(childCreated)
	case !errors.Is(err, ErrExists):
		t.Fatalf("child %s: IfAbsent: %v", id, err)
	}
	for range childBumps {
		for {
			rc, inf, err := b.Get(ctx, "state/counter")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(rc)
			rc.Close()
			n, err := strconv.Atoi(string(raw))
			if err != nil {
				t.Fatalf("child %s: counter %q: %v", id, raw, err)
			}
			_, err = b.Put(ctx, "state/counter", strings.NewReader(strconv.Itoa(n+1)), PutOptions{IfMatch: inf.ETag})
			if err == nil {
				break
			}
			if !IsConflict(err) {
				t.Fatalf("child %s: bump: %v", id, err)
			}
		}
	}
}

// TestFSLayout checks what is left on disk: one file per object, no
// temporary files, and no empty directories after deletes.
func TestFSLayout(t *testing.T) {
	b := newTestFS(t)
	ctx := context.Background()
	put(t, b, "a/b", "1", PutOptions{})
	put(t, b, "a/b/c", "2", PutOptions{})
	put(t, b, ".dot/~x%", "3", PutOptions{})
	for _, p := range []string{"a/b~", "a/b/c~", "%2Edot/%7Ex%25~"} {
		if _, err := os.Stat(filepath.Join(b.Root(), p)); err != nil {
			t.Errorf("expected file %s: %v", p, err)
		}
	}
	if ents, _ := os.ReadDir(b.tmp); len(ents) != 0 {
		t.Errorf("%d temporary files left after successful puts", len(ents))
	}
	b.Put(ctx, "x", &failingReader{n: 10}, PutOptions{})
	b.Put(ctx, "a/b", strings.NewReader("again"), PutOptions{IfAbsent: true})
	if ents, _ := os.ReadDir(b.tmp); len(ents) != 0 {
		t.Errorf("%d temporary files left after failed puts", len(ents))
	}
	for _, k := range []string{"a/b/c", "a/b", ".dot/~x%"} {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(b.Root())
	for _, e := range ents {
		if e.Name() != ".recevable" {
			t.Errorf("left behind after deleting everything: %s", e.Name())
		}
	}
}

// TestFSCorruptObject: a damaged file is an error, never a silent miss or a
// body with the wrong length.
func TestFSCorruptObject(t *testing.T) {
	b := newTestFS(t)
	ctx := context.Background()
	put(t, b, "k", "some body", PutOptions{})
	p := filepath.Join(b.Root(), "k~")
	st, _ := os.Stat(p)
	if err := os.Truncate(p, st.Size()-3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a truncated object: err = %v, want a corruption error", err)
	}
}

// TestFSListPrunes checks that a listing reads only the directories it
// needs: with StartAfter past a subtree, or a prefix elsewhere, the subtree's
// directories are never opened.
func TestFSListPrunes(t *testing.T) {
	b := newTestFS(t)
	putAll(t, b, []string{"q/a/1", "q/a/2", "q/b/1", "q/c/1", "q/c/2", "r/x"})
	var opened []string
	var mu sync.Mutex
	fsTestOpenDir = func(dir string) {
		mu.Lock()
		defer mu.Unlock()
		rel, _ := filepath.Rel(b.Root(), dir)
		opened = append(opened, rel)
	}
	t.Cleanup(func() { fsTestOpenDir = nil })
	page, err := b.List(context.Background(), "q/", ListOptions{StartAfter: "q/b0", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != "q/c/1" || page.Next != "q/c/1" {
		t.Errorf("page = %+v, want q/c/1 then Next q/c/1", page)
	}
	want := "q q/c"
	if got := strings.Join(opened, " "); got != want {
		t.Errorf("directories read = %q, want %q", got, want)
	}
}

// TestFSListMatchesSortedKeys compares List with a sorted slice on random
// keys over the characters that make directory order and key order differ
// ("-" < "/" < "0"), for random prefixes, StartAfter values and page sizes.
func TestFSListMatchesSortedKeys(t *testing.T) {
	b := newTestFS(t)
	b.noSync = true
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "-", "0", "/", ".", "é"}
	randKey := func() string {
		for {
			var sb strings.Builder
			for range 1 + rng.IntN(7) {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			if k := sb.String(); checkKey(k) == nil {
				return k
			}
		}
	}
	set := map[string]bool{}
	for range 300 {
		set[randKey()] = true
	}
	keys := slices.Sorted(maps.Keys(set))
	putAll(t, b, keys)
	for i := range 300 {
		prefix, after := "", ""
		if i%3 > 0 {
			k := randKey()
			prefix = k[:min(len(k), 1+rng.IntN(3))] // may cut a rune: prefixes are bytes
		}
		if i%2 == 0 {
			after = randKey()
		}
		limit := 1 + rng.IntN(40)
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && k > after {
				want = append(want, k)
			}
		}
		if got := listKeys(t, b, prefix, after, limit); !slices.Equal(got, want) {
			t.Fatalf("List(prefix %q, after %q, limit %d) =\n%q\nwant\n%q", prefix, after, limit, got, want)
		}
	}
}

// TestFSPutDeleteSameDirectory: Delete prunes directories it leaves empty,
// outside the key's lock, so Puts and Deletes of other keys in the same
// directory race with it (claims in a scan drop do exactly that). Neither
// may fail for it.
func TestFSPutDeleteSameDirectory(t *testing.T) {
	b, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				key := fmt.Sprintf("state/claims/deep/%d-%d", w, i)
				if _, err := b.Put(ctx, key, strings.NewReader("x"), PutOptions{IfAbsent: true}); err != nil {
					errs <- err
					return
				}
				if err := b.Delete(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
