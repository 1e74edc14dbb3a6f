package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// checkContiguous fails unless numbers are exactly site-year-1..n, each once.
func checkContiguous(t *testing.T, numbers []string, site string, year, n int) {
	t.Helper()
	seen := make(map[int]string, len(numbers))
	for _, num := range numbers {
		s, y, seq, err := ParseNumber(num)
		if err != nil || s != site || y != year {
			t.Errorf("number %q: %v (site %q year %d)", num, err, s, y)
			continue
		}
		if prev, dup := seen[seq]; dup {
			t.Errorf("number %s handed out twice (%s)", num, prev)
		}
		seen[seq] = num
	}
	for i := 1; i <= n; i++ {
		if _, ok := seen[i]; !ok {
			t.Errorf("gap: %s never handed out", FormatNumber(site, year, i))
		}
	}
	if len(numbers) != n {
		t.Errorf("%d numbers handed out, want %d", len(numbers), n)
	}
}

func TestCounterReserve(t *testing.T) {
	ctx := context.Background()
	c := Counter{Bucket: newRecFS(t)}
	a, b := shaOf("a"), shaOf("b")
	n1, err := c.Reserve(ctx, "75", 2026, a, 0)
	if err != nil || n1 != "75-2026-000001" {
		t.Fatalf("first Reserve = %q, %v; want 75-2026-000001", n1, err)
	}
	if again, err := c.Reserve(ctx, "75", 2026, a, 0); err != nil || again != n1 {
		t.Errorf("Reserve of the same claim = %q, %v; want %q", again, err, n1)
	}
	if n2, err := c.Reserve(ctx, "75", 2026, a, 1); err != nil || n2 != "75-2026-000002" {
		t.Errorf("Reserve of part 1 = %q, %v; want 75-2026-000002", n2, err)
	}
	if n, err := c.Reserve(ctx, "75", 2027, b, 0); err != nil || n != "75-2027-000001" {
		t.Errorf("Reserve in another year = %q, %v; want 75-2027-000001", n, err)
	}
	if n, err := c.Reserve(ctx, "pp", 2026, b, 1); err != nil || n != "pp-2026-000001" {
		t.Errorf("Reserve for another site = %q, %v; want pp-2026-000001", n, err)
	}
	if got, err := c.Lookup(ctx, a, 1); err != nil || got != "75-2026-000002" {
		t.Errorf("Lookup(a, 1) = %q, %v", got, err)
	}
	if _, err := c.Lookup(ctx, b, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of an unreserved claim: %v, want ErrNotFound", err)
	}
	if last, err := c.Last(ctx, "75", 2026); err != nil || last != 2 {
		t.Errorf("Last(75, 2026) = %d, %v; want 2", last, err)
	}
	for _, bad := range []struct {
		site string
		year int
		sha  string
		part int
	}{{"Paris", 2026, a, 0}, {"75", 26, a, 0}, {"75", 2026, "abc", 0}, {"75", 2026, a, -1}} {
		if _, err := c.Reserve(ctx, bad.site, bad.year, bad.sha, bad.part); err == nil {
			t.Errorf("Reserve(%q, %d, %q, %d) accepted", bad.site, bad.year, bad.sha, bad.part)
		}
	}
}

// counterSetups are the ways writers share counters in the concurrency
// tests: each writer w reserves through counters[w%len(counters)].
var counterSetups = []struct {
	name string
	make func(b Bucket) []Counter
}{
	// No memory: every reservation reads the counter.
	{"plain", func(b Bucket) []Counter { return []Counter{{Bucket: b}} }},
	// One process: its writers take turns and never read the counter.
	{"one-process", func(b Bucket) []Counter { return []Counter{NewCounter(b)} }},
	// Several processes, each with its memory, each going stale whenever
	// another writes.
	{"three-processes", func(b Bucket) []Counter { return []Counter{NewCounter(b), NewCounter(b), NewCounter(b)} }},
}

// TestCounterConcurrent: 8 writers each take many numbers at once; the union
// must be exactly 1..N. Odd writers reserve as the pipeline does for a raw
// item it has just created (ReserveFresh): their claims are new.
func TestCounterConcurrent(t *testing.T) {
	const writers, each = 8, 25
	for _, setup := range counterSetups {
		t.Run(setup.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b Bucket) {
				ctx := context.Background()
				cs := setup.make(b)
				got := make([][]string, writers)
				errs := together(writers, func(w int) error {
					c := cs[w%len(cs)]
					reserve := c.Reserve
					if w%2 == 1 {
						reserve = c.ReserveFresh
					}
					for i := range each {
						n, err := reserve(ctx, "75", 2026, shaOf(fmt.Sprintf("w%d-%d", w, i)), 0)
						if err != nil {
							return err
						}
						got[w] = append(got[w], n)
					}
					return nil
				})
				var all []string
				for w, err := range errs {
					if err != nil {
						t.Fatalf("writer %d: %v", w, err)
					}
					all = append(all, got[w]...)
				}
				checkContiguous(t, all, "75", 2026, writers*each)
				checkLast(t, b, writers*each)
			})
		})
	}
}

// checkLast fails unless the counter of 75/2026 says n.
func checkLast(t *testing.T, b Bucket, n int) {
	t.Helper()
	if last, err := (Counter{Bucket: b}).Last(context.Background(), "75", 2026); err != nil || last != n {
		t.Errorf("Last = %d, %v; want %d (a number taken and given to nobody)", last, err, n)
	}
}

// TestCounterSameClaimRace: writers racing on the same claims (two workers
// processing the same raw item) must agree on its number and leave no gap.
// With fresh, every writer uses ReserveFresh, whose premise (no number
// yet) then fails for all but the first: the numbers taken in vain must be
// given back or taken again.
func TestCounterSameClaimRace(t *testing.T) {
	for _, setup := range counterSetups {
		for _, fresh := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fresh=%v", setup.name, fresh), func(t *testing.T) {
				forEachBackend(t, func(t *testing.T, b Bucket) {
					sameClaimRace(t, b, setup.make(b), fresh)
				})
			})
		}
	}
}

func sameClaimRace(t *testing.T, b Bucket, cs []Counter, fresh bool) {
	ctx := context.Background()
	const writers, claims = 8, 12
	got := make([][]string, writers)
	errs := together(writers, func(w int) error {
		c := cs[w%len(cs)]
		reserve := c.Reserve
		if fresh {
			reserve = c.ReserveFresh
		}
		for i := range claims {
			// Half the writers go through the claims backwards, so that
			// they meet in the middle.
			if w%2 == 1 {
				i = claims - 1 - i
			}
			n, err := reserve(ctx, "75", 2026, shaOf(fmt.Sprint("shared", i)), 0)
			if err != nil {
				return err
			}
			got[w] = append(got[w], fmt.Sprintf("%d=%s", i, n))
		}
		return nil
	})
	byClaim := map[string]string{}
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
		for _, kv := range got[w] {
			claim, n, _ := strings.Cut(kv, "=")
			if prev, ok := byClaim[claim]; ok && prev != n {
				t.Errorf("claim %s got %s and %s", claim, prev, n)
			}
			byClaim[claim] = n
		}
	}
	var all []string
	for _, n := range byClaim {
		all = append(all, n)
	}
	checkContiguous(t, all, "75", 2026, claims)
	checkLast(t, b, claims)
}

// TestCounterReplicasInterleaved: two replicas, each with its own memory,
// take turns in a fixed pattern, so that each one's memory is stale
// exactly when the other wrote last: the numbers are 1..N in the order
// taken, whatever each remembered.
func TestCounterReplicasInterleaved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		a, z := NewCounter(b), NewCounter(b)
		//                    a a z a z z z a a z a z
		pattern := []Counter{a, a, z, a, z, z, z, a, a, z, a, z}
		var all []string
		for i, c := range pattern {
			reserve := c.Reserve
			if i%3 == 0 {
				reserve = c.ReserveFresh
			}
			n, err := reserve(ctx, "75", 2026, shaOf(fmt.Sprint("item", i)), 0)
			if err != nil {
				t.Fatalf("reservation %d: %v", i, err)
			}
			if want := FormatNumber("75", 2026, i+1); n != want {
				t.Errorf("reservation %d = %s, want %s", i, n, want)
			}
			all = append(all, n)
		}
		// Replays through either replica, remembered or not: the same numbers.
		for i := range pattern {
			for _, c := range []Counter{a, z} {
				if n, err := c.Reserve(ctx, "75", 2026, shaOf(fmt.Sprint("item", i)), 0); err != nil || n != all[i] {
					t.Errorf("replay of reservation %d = %s, %v; want %s", i, n, err, all[i])
				}
			}
		}
		checkContiguous(t, all, "75", 2026, len(pattern))
		checkLast(t, b, len(pattern))
	})
}

// countingBucket counts the requests made to a bucket, by operation and key.
type countingBucket struct {
	Bucket
	mu sync.Mutex
	n  map[string]int
}

func (c *countingBucket) count(op, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op+" "+key]++
}

// take returns the counts so far and starts again.
func (c *countingBucket) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

func (c *countingBucket) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	c.count("put", key)
	return c.Bucket.Put(ctx, key, r, o)
}

func (c *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	c.count("get", key)
	return c.Bucket.Get(ctx, key)
}

func (c *countingBucket) Head(ctx context.Context, key string) (Info, error) {
	c.count("head", key)
	return c.Bucket.Head(ctx, key)
}

func (c *countingBucket) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	c.count("list", prefix)
	return c.Bucket.List(ctx, prefix, o)
}

func (c *countingBucket) Delete(ctx context.Context, key string) error {
	c.count("delete", key)
	return c.Bucket.Delete(ctx, key)
}

func (c *countingBucket) Copy(ctx context.Context, src, dst string, o PutOptions) (ETag, error) {
	c.count("copy", dst)
	return c.Bucket.Copy(ctx, src, dst, o)
}

// TestCounterRequests counts the requests of sequential reservations in
// one process: after the first, which reads the counter and looks up the
// previous claim (another replica's), a fresh claim costs the counter write
// and the binding, a replayed one the lookup of its binding too; and once
// another replica writes, the next costs the full path again.
func TestCounterRequests(t *testing.T) {
	ctx := context.Background()
	b := &countingBucket{Bucket: newRecFS(t)}
	other := Counter{Bucket: b}
	if _, err := other.Reserve(ctx, "75", 2026, shaOf("other replica"), 0); err != nil {
		t.Fatal(err)
	}
	b.take()
	key := counterKey("75", 2026)
	c := NewCounter(b)
	for i := range 10 {
		sha := shaOf(fmt.Sprint("fresh", i))
		if _, err := c.ReserveFresh(ctx, "75", 2026, sha, 0); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"put " + key: 1, "put " + rawIndexKey(RawClaim(sha, 0)): 1}
		if i == 0 {
			want["get "+key] = 1
			want["get "+rawIndexKey(RawClaim(shaOf("other replica"), 0))] = 1
		}
		if got := b.take(); !maps.Equal(got, want) {
			t.Errorf("fresh reservation %d: requests %v, want %v", i, got, want)
		}
	}
	sha := shaOf("replayed")
	if _, err := c.Reserve(ctx, "75", 2026, sha, 0); err != nil {
		t.Fatal(err)
	}
	claimKey := rawIndexKey(RawClaim(sha, 0))
	if got, want := b.take(), map[string]int{"get " + claimKey: 1, "put " + key: 1, "put " + claimKey: 1}; !maps.Equal(got, want) {
		t.Errorf("reservation of a claim that may have a number: requests %v, want %v", got, want)
	}
	// Another replica writes: the memory is stale, found so by the refused
	// write, and the full path follows.
	if _, err := other.Reserve(ctx, "75", 2026, shaOf("other again"), 0); err != nil {
		t.Fatal(err)
	}
	b.take()
	sha = shaOf("after the other")
	if n, err := c.ReserveFresh(ctx, "75", 2026, sha, 0); err != nil || n != "75-2026-000014" {
		t.Fatalf("reservation after another replica's = %s, %v; want 75-2026-000014", n, err)
	}
	claimKey = rawIndexKey(RawClaim(sha, 0))
	if got, want := b.take(), map[string]int{"put " + key: 2, "get " + key: 1, "get " + rawIndexKey(RawClaim(shaOf("other again"), 0)): 1, "put " + claimKey: 1}; !maps.Equal(got, want) {
		t.Errorf("reservation after another replica's: requests %v, want %v", got, want)
	}
}

// TestCounterFreshPremiseFails: ReserveFresh of a claim that already has a
// number (another replica reserved it first, and a third moved the counter
// on) returns that number; the number it took in vain is given back, or,
// when the process dies before giving it back, taken again by the next
// reservation: no gap either way.
func TestCounterFreshPremiseFails(t *testing.T) {
	ctx := context.Background()
	dup := shaOf("taken by two replicas")
	for _, tc := range []struct {
		name string
		// dies: the write giving the number back never happens.
		dies bool
	}{{"given back", false}, {"died before giving back", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newRecFS(t)
			c := Counter{Bucket: b}
			first, _ := c.Reserve(ctx, "75", 2026, dup, 0)
			second, _ := c.Reserve(ctx, "75", 2026, shaOf("next"), 0)
			// The creator of the raw item, late: its premise is false.
			var puts int
			fb := &faultBucket{Bucket: b, failPut: func(key string) bool {
				if key != counterKey("75", 2026) {
					return false
				}
				puts++
				return tc.dies && puts == 2 // the first takes a number, the second gives it back
			}}
			late := NewCounter(fb)
			n, err := late.ReserveFresh(ctx, "75", 2026, dup, 0)
			if err != nil || n != first {
				t.Fatalf("ReserveFresh of a claim numbered %s = %s, %v", first, n, err)
			}
			want := 2 // given back
			if tc.dies {
				want = 3 // until the next reservation takes it again
			}
			if last, err := c.Last(ctx, "75", 2026); err != nil || last != want {
				t.Errorf("after ReserveFresh, Last = %d, %v; want %d", last, err, want)
			}
			third, err := c.Reserve(ctx, "75", 2026, shaOf("third"), 0)
			if err != nil {
				t.Fatal(err)
			}
			// The late counter's memory went with the number: it reads again.
			fourth, err := late.Reserve(ctx, "75", 2026, shaOf("fourth"), 0)
			if err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, []string{first, second, third, fourth}, "75", 2026, 4)
			checkLast(t, b, 4)
		})
	}
}

// TestCounterCrash simulates a worker that dies after taking a number and
// before binding it to its raw item: its restart, or the next worker, must
// finish the binding, so the number is neither lost nor given twice.
func TestCounterCrash(t *testing.T) {
	// The survivor reads the counter each time, or remembers its own
	// writes (and is then stale after the crashing worker's).
	for _, survivor := range []struct {
		name string
		make func(Bucket) Counter
	}{{"plain", func(b Bucket) Counter { return Counter{Bucket: b} }}, {"remembering", NewCounter}} {
		t.Run(survivor.name, func(t *testing.T) { counterCrash(t, survivor.make) })
	}
}

func counterCrash(t *testing.T, survivor func(Bucket) Counter) {
	ctx := context.Background()
	dead, other := shaOf("dies"), shaOf("other")
	bindingOf := func(sha string) func(string) bool {
		return func(key string) bool { return key == rawIndexKey(RawClaim(sha, 0)) }
	}

	t.Run("replay first", func(t *testing.T) {
		b := newRecFS(t)
		c := survivor(b)
		first, _ := c.Reserve(ctx, "75", 2026, shaOf("before"), 0)
		crashing := Counter{Bucket: &faultBucket{Bucket: b, failPut: bindingOf(dead)}}
		if _, err := crashing.Reserve(ctx, "75", 2026, dead, 0); !errors.Is(err, errInjected) {
			t.Fatalf("crashing Reserve: %v", err)
		}
		if _, err := c.Lookup(ctx, dead, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("binding written despite the crash: %v", err)
		}
		replay, err := c.Reserve(ctx, "75", 2026, dead, 0)
		if err != nil {
			t.Fatal(err)
		}
		next, err := c.Reserve(ctx, "75", 2026, other, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, []string{first, replay, next}, "75", 2026, 3)
		if replay != "75-2026-000002" {
			t.Errorf("replay got %s, want the number taken before the crash, 75-2026-000002", replay)
		}
	})

	t.Run("another worker first", func(t *testing.T) {
		b := newRecFS(t)
		c := survivor(b)
		crashing := Counter{Bucket: &faultBucket{Bucket: b, failPut: bindingOf(dead)}}
		if _, err := crashing.Reserve(ctx, "75", 2026, dead, 0); !errors.Is(err, errInjected) {
			t.Fatalf("crashing Reserve: %v", err)
		}
		next, err := c.Reserve(ctx, "75", 2026, other, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The other worker rolled the dead one's binding forward.
		if n, err := c.Lookup(ctx, dead, 0); err != nil || n != "75-2026-000001" {
			t.Errorf("binding of the dead claim = %q, %v; want 75-2026-000001", n, err)
		}
		replay, err := c.Reserve(ctx, "75", 2026, dead, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, []string{replay, next}, "75", 2026, 2)
	})

	t.Run("counter reply lost", func(t *testing.T) {
		// The counter write succeeded but its answer never came back.
		b := newRecFS(t)
		c := survivor(b)
		lost := Counter{Bucket: &faultBucket{Bucket: b, after: true, failPut: func(k string) bool { return k == counterKey("75", 2026) }}}
		if _, err := lost.Reserve(ctx, "75", 2026, dead, 0); !errors.Is(err, errInjected) {
			t.Fatalf("Reserve with a lost reply: %v", err)
		}
		replay, err := c.Reserve(ctx, "75", 2026, dead, 0)
		if err != nil {
			t.Fatal(err)
		}
		next, err := c.Reserve(ctx, "75", 2026, other, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, []string{replay, next}, "75", 2026, 2)
	})
}

// TestCounterETagsUnique: a number given back brings the counter down to
// where it was, and ETags are hashes of the bytes; every version must still
// have an ETag of its own, or a write IfMatch an old version's ETag would
// pass over changes made since.
func TestCounterETagsUnique(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		c := Counter{Bucket: b}
		a := shaOf("numbered")
		seen := map[ETag]int{}
		step := func(i int) {
			t.Helper()
			info, err := b.Head(ctx, counterKey("75", 2026))
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[info.ETag]; ok {
				t.Errorf("counter version after step %d has the ETag of the version after step %d", i, prev)
			}
			seen[info.ETag] = i
		}
		if _, err := c.Reserve(ctx, "75", 2026, a, 0); err != nil {
			t.Fatal(err)
		}
		step(0)
		if _, err := c.Reserve(ctx, "75", 2026, shaOf("second"), 0); err != nil {
			t.Fatal(err)
		}
		step(1)
		// Each ReserveFresh of the numbered claim takes 3 and gives it
		// back: the counter goes 2 → 3 → 2 → 3 → 2.
		for i := 1; i <= 2; i++ {
			var versions []ETag
			spy := &putSpy{Bucket: b, key: counterKey("75", 2026), etags: &versions}
			if n, err := (Counter{Bucket: spy}).ReserveFresh(ctx, "75", 2026, a, 0); err != nil || n != "75-2026-000001" {
				t.Fatalf("ReserveFresh of a numbered claim = %s, %v", n, err)
			}
			if len(versions) != 2 {
				t.Fatalf("ReserveFresh of a numbered claim wrote the counter %d times, want 2 (take, give back)", len(versions))
			}
			for j, e := range versions {
				if prev, ok := seen[e]; ok {
					t.Errorf("round %d, write %d: ETag of the version after step %d", i, j, prev)
				}
				seen[e] = 10*i + j
			}
		}
		checkLast(t, b, 2)
	})
}

// putSpy records the ETags of the successful Puts of one key.
type putSpy struct {
	Bucket
	key   string
	etags *[]ETag
}

func (p *putSpy) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	e, err := p.Bucket.Put(ctx, key, r, o)
	if err == nil && key == p.key {
		*p.etags = append(*p.etags, e)
	}
	return e, err
}

func TestCounterExhausted(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	rec := counterRecord{Site: "75", Year: 2026, Last: maxSequence, Claim: RawClaim(shaOf("last"), 0)}
	if _, err := putJSON(ctx, b, counterKey("75", 2026), rec, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := (Counter{Bucket: b}).Reserve(ctx, "75", 2026, shaOf("one too many"), 0); !errors.Is(err, ErrCounterExhausted) {
		t.Errorf("Reserve past 999999 = %q, %v; want ErrCounterExhausted", n, err)
	}
}

// Environment of the child processes of TestCounterProcesses.
const (
	envCounterDir = "RECEVABLE_TEST_COUNTER_DIR"
	envCounterID  = "RECEVABLE_TEST_COUNTER_ID"
	counterProcs  = 4
	counterEach   = 15
)

// TestCounterProcesses races separate processes (this test binary,
// re-executed), each with goroutines, on one filesystem bucket.
func TestCounterProcesses(t *testing.T) {
	if dir := os.Getenv(envCounterDir); dir != "" {
		counterChild(t, dir)
		return
	}
	dir := t.TempDir()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	outs := make([]string, counterProcs)
	errs := together(counterProcs, func(i int) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCounterProcesses$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envCounterDir+"="+dir, envCounterID+"="+strconv.Itoa(i))
		out, err := cmd.CombinedOutput()
		outs[i] = string(out)
		if err != nil {
			return fmt.Errorf("child %d: %w\n%s", i, err, out)
		}
		return nil
	})
	var all []string
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(outs[i]) {
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "number "); ok {
				all = append(all, n)
			}
		}
	}
	checkContiguous(t, all, "75", 2026, counterProcs*2*counterEach)
	if last, err := (Counter{Bucket: b}).Last(context.Background(), "75", 2026); err != nil || last != counterProcs*2*counterEach {
		t.Errorf("Last = %d, %v", last, err)
	}
}

// counterChild takes numbers from two goroutines and prints them.
func counterChild(t *testing.T, dir string) {
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv(envCounterID)
	// Even children remember their writes, as the pipeline does, one of
	// their goroutines reserving fresh claims; odd ones read each time.
	c := Counter{Bucket: b}
	remember := id == "0" || id == "2"
	if remember {
		c = NewCounter(b)
	}
	got := make([][]string, 2)
	errs := together(2, func(g int) error {
		reserve := c.Reserve
		if remember && g == 1 {
			reserve = c.ReserveFresh
		}
		for i := range counterEach {
			n, err := reserve(context.Background(), "75", 2026, shaOf(fmt.Sprintf("p%s-g%d-%d", id, g, i)), 0)
			if err != nil {
				return err
			}
			got[g] = append(got[g], n)
		}
		return nil
	})
	for g, err := range errs {
		if err != nil {
			t.Fatalf("child %s: %v", id, err)
		}
		for _, n := range got[g] {
			fmt.Println("number", n)
		}
	}
}

func BenchmarkCounterReserve(b *testing.B) {
	bucket, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c := Counter{Bucket: bucket}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := c.Reserve(ctx, "75", 2026, shaOf(strconv.Itoa(i)), 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
