package buckettest

import (
	"context"
	"maps"
	"strings"
	"testing"

	"recevable/storage"
)

func TestCounting(t *testing.T) {
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := NewCounting(fs)
	ctx := context.Background()
	for _, k := range []string{"raw/ab", "raw/cd", "index/done/ab", "queue/75/a_verifier/x", "dossiers/75/2026/75-2026-000001/manifest.json", "dossiers/75/2026/75-2026-000001/documents/a.pdf"} {
		if _, err := c.Put(ctx, k, strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Head(ctx, "raw/ab"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"put raw": 2, "head raw": 1, "put index/done": 1, "put queue/75": 1,
		"put dossiers/…/manifest.json": 1, "put dossiers/…/documents": 1,
	}
	if got := c.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
	if got := c.Take(); !maps.Equal(got, want) {
		t.Errorf("Take = %v, want %v", got, want)
	}
	if got := c.Take(); len(got) != 0 {
		t.Errorf("Take after Take = %v, want nothing", got)
	}
}
