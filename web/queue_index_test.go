package web

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// countingBucket counts manifest reads.
type countingBucket struct {
	storage.Bucket
	gets atomic.Int64
}

func (b *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	if strings.HasSuffix(key, "/manifest.json") {
		b.gets.Add(1)
	}
	return b.Bucket.Get(ctx, key)
}

func newTestIndex(t *testing.T, n int) (*queueIndex, *countingBucket) {
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seedRealistic(t, b, n, fixtureClock)
	cb := &countingBucket{Bucket: b}
	return newQueueIndex(storage.Dossiers{Bucket: cb}, zerolog.Nop(), time.Now), cb
}

// TestIndexRefresh: a refresh reads only the manifests it has not seen,
// and picks up changes made by another process.
func TestIndexRefresh(t *testing.T) {
	x, b := newTestIndex(t, 40)
	ctx := context.Background()
	if err := x.refresh(ctx, "pp"); err != nil {
		t.Fatal(err)
	}
	if got := b.gets.Load(); got != 40 {
		t.Errorf("first refresh read %d manifests, want 40", got)
	}
	if c := x.counts("pp"); c.Total != 40 || !c.Complete {
		t.Errorf("counts %+v", c)
	}
	// Another process moves a dossier and adds one.
	d := storage.Dossiers{Bucket: b.Bucket}
	first := x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, Limit: 1}).Entries[0].number
	m, etag, _ := d.Get(ctx, first)
	m.Status = storage.StatusEnInstruction
	if _, err := d.Update(ctx, m, etag); err != nil {
		t.Fatal(err)
	}
	seedDossier(t, b.Bucket, dossierSpec{Seq: 500})
	b.gets.Store(0)
	if err := x.refresh(ctx, "pp"); err != nil {
		t.Fatal(err)
	}
	if got := b.gets.Load(); got != 2 {
		t.Errorf("second refresh read %d manifests, want 2 (the moved one and the new one)", got)
	}
	c := x.counts("pp")
	if c.Total != 41 || c.ByStatus[storage.StatusEnInstruction] != 5 {
		t.Errorf("counts after changes elsewhere: %+v", c.ByStatus)
	}
}

// TestIndexApply: this process's writes show at once, and survive a
// refresh that listed the markers before them.
func TestIndexApply(t *testing.T) {
	x, b := newTestIndex(t, 20)
	ctx := context.Background()
	if err := x.refresh(ctx, "pp"); err != nil {
		t.Fatal(err)
	}
	before := x.counts("pp")
	d := storage.Dossiers{Bucket: b.Bucket}
	e := x.page(queueQuery{Site: "pp", Status: storage.StatusAVerifier, Limit: 1}).Entries[0]
	m, etag, _ := d.Get(ctx, e.number)
	m.Status = storage.StatusRecevable
	if _, err := d.Update(ctx, m, etag); err != nil {
		t.Fatal(err)
	}
	x.apply(m)
	after := x.counts("pp")
	if after.ByStatus[storage.StatusAVerifier] != before.ByStatus[storage.StatusAVerifier]-1 ||
		after.ByStatus[storage.StatusRecevable] != before.ByStatus[storage.StatusRecevable]+1 {
		t.Errorf("apply: %v → %v", before.ByStatus, after.ByStatus)
	}
	p := x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, Limit: 100})
	if !slices.IsSortedFunc(p.Entries, func(a, b *indexEntry) int { return strings.Compare(a.cursor, b.cursor) }) {
		t.Error("the moved entry broke arrival order")
	}
	if err := x.refresh(ctx, "pp"); err != nil {
		t.Fatal(err)
	}
	if c := x.counts("pp"); c.ByStatus[storage.StatusRecevable] != after.ByStatus[storage.StatusRecevable] {
		t.Errorf("after refresh: %v", c.ByStatus)
	}
}

// TestIndexPaging checks the cursors at the edges.
func TestIndexPaging(t *testing.T) {
	x, _ := newTestIndex(t, 100)
	if err := x.refresh(context.Background(), "pp"); err != nil {
		t.Fatal(err)
	}
	total := x.counts("pp").ByStatus[storage.StatusRecevable]
	var seen []string
	p := x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, Limit: 7})
	if p.Prev != "" || p.Offset != 0 {
		t.Errorf("first page has prev %q offset %d", p.Prev, p.Offset)
	}
	for {
		for _, e := range p.Entries {
			seen = append(seen, e.cursor)
		}
		if p.Next == "" {
			break
		}
		next := x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, After: p.Next, Limit: 7})
		// Going back from the next page gives this page again.
		back := x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, Before: next.Prev, Limit: 7})
		if !slices.Equal(cursors(back.Entries), cursors(p.Entries)) || back.Offset != p.Offset {
			t.Errorf("back from %s: %v at %d, want %v at %d", next.Prev, cursors(back.Entries), back.Offset, cursors(p.Entries), p.Offset)
		}
		p = next
	}
	if len(seen) != total || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != total {
		t.Errorf("paging saw %d entries, want %d in order", len(seen), total)
	}
	// A cursor that is not in the list (the dossier moved) still pages.
	p = x.page(queueQuery{Site: "pp", Status: storage.StatusRecevable, After: seen[10] + "~", Limit: 3})
	if p.Entries[0].cursor != seen[11] {
		t.Errorf("after a vanished cursor: starts at %s, want %s", p.Entries[0].cursor, seen[11])
	}
}

// TestNormalizeSearch folds what people type differently.
func TestNormalizeSearch(t *testing.T) {
	for in, want := range map[string]string{
		"Chloé Lœtitia N'Diaye-Çelik": "chloe loetitia n diaye celik",
		"  ÉMILE   zola ":             "emile zola",
		"awa.diallo@example.org":      "awa.diallo@example.org",
		"pp-2026-000123":              "pp 2026 000123",
		"Æsa Straße":                  "aesa strasse",
	} {
		if got := normalizeSearch(in); got != want {
			t.Errorf("normalizeSearch(%q) = %q, want %q", in, got, want)
		}
	}
}

func cursors(l []*indexEntry) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.cursor)
	}
	return out
}
