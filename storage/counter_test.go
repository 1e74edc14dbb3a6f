package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// TestCounterConcurrent: 8 writers each take many numbers at once; the union
// must be exactly 1..N.
func TestCounterConcurrent(t *testing.T) {
	const writers, each = 8, 25
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		c := Counter{Bucket: b}
		got := make([][]string, writers)
		errs := together(writers, func(w int) error {
			for i := range each {
				n, err := c.Reserve(ctx, "75", 2026, shaOf(fmt.Sprintf("w%d-%d", w, i)), 0)
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
	})
}

// TestCounterSameClaimRace: writers racing on the same claims (two workers
// processing the same raw item) must agree on its number and leave no gap.
func TestCounterSameClaimRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		c := Counter{Bucket: b}
		const writers, claims = 8, 12
		got := make([][]string, writers)
		errs := together(writers, func(w int) error {
			for i := range claims {
				// Half the writers go through the claims backwards, so that
				// they meet in the middle.
				if w%2 == 1 {
					i = claims - 1 - i
				}
				n, err := c.Reserve(ctx, "75", 2026, shaOf(fmt.Sprint("shared", i)), 0)
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
	})
}

// TestCounterCrash simulates a worker that dies after taking a number and
// before binding it to its raw item: its restart, or the next worker, must
// finish the binding, so the number is neither lost nor given twice.
func TestCounterCrash(t *testing.T) {
	ctx := context.Background()
	dead, other := shaOf("dies"), shaOf("other")
	bindingOf := func(sha string) func(string) bool {
		return func(key string) bool { return key == rawIndexKey(RawClaim(sha, 0)) }
	}

	t.Run("replay first", func(t *testing.T) {
		b := newRecFS(t)
		c := Counter{Bucket: b}
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
		c := Counter{Bucket: b}
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
		c := Counter{Bucket: b}
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
	c := Counter{Bucket: b}
	got := make([][]string, 2)
	errs := together(2, func(g int) error {
		for i := range counterEach {
			n, err := c.Reserve(context.Background(), "75", 2026, shaOf(fmt.Sprintf("p%s-g%d-%d", id, g, i)), 0)
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
