package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// benchFixture returns a filesystem bucket directory holding n realistic
// dossiers of site pp. With RECEVABLE_BENCH_DIR set, the bucket is kept
// there and reused by later runs (building 50,000 dossiers takes about
// 35 s on tmpfs, 3 minutes on a disk that honours fsync); otherwise it is
// built in a temporary directory.
func benchFixture(b *testing.B, n int) string {
	dir := b.TempDir()
	if base := os.Getenv("RECEVABLE_BENCH_DIR"); base != "" {
		dir = filepath.Join(base, "web-queue-"+strconv.Itoa(n))
		if data, err := os.ReadFile(filepath.Join(dir, "complete")); err == nil && string(data) == strconv.Itoa(n) {
			return filepath.Join(dir, "bucket")
		}
		os.RemoveAll(dir)
	}
	bucket, err := storage.NewFS(filepath.Join(dir, "bucket"))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				seedDossier(b, bucket, realisticSpec(i, fixtureClock))
			}
		})
	}
	wg.Wait()
	b.Logf("built %d dossiers in %v", n, time.Since(start).Round(time.Second))
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(strconv.Itoa(n)), 0o644); err != nil {
		b.Fatal(err)
	}
	return filepath.Join(dir, "bucket")
}

// latencies collects request durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(s[len(s)/2]), "p50-ms")
	b.ReportMetric(ms(s[(len(s)*95+99)/100-1]), "p95-ms")
	b.ReportMetric(ms(s[len(s)-1]), "max-ms")
}

// BenchmarkQueuePage50k renders the queue page (the whole handler chain:
// session, index, 50 manifest reads, template) over a filesystem bucket
// of 50,000 dossiers, and reports p50/p95/max per request. cold-ms is the
// first page of a fresh process (markers listed; summaries in the
// background), summaries-s the background load of all summaries,
// refresh-s one periodic re-listing of the 50,000 markers.
//
//	RECEVABLE_BENCH_DIR=/dev/shm/recevable-bench go test ./web/ -run '^$' -bench QueuePage50k -benchtime 400x
func BenchmarkQueuePage50k(b *testing.B) {
	const n = 50000
	dir := benchFixture(b, n)
	ctx := context.Background()
	bucket, err := storage.NewFS(dir)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(ctx, Options{Bucket: bucket, Sites: testSites(b, nil), Logger: zerolog.Nop(), BaseURL: "https://recevable.test",
		LocalAccounts: true, RefreshInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	cookie, _, err := srv.sessions.create(ctx, Principal{ID: "agent1", Roles: []Role{RoleAgent}, Sites: []string{"pp"}, Method: "local"})
	if err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B, path string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: "__Host-" + sessionCookie, Value: cookie})
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
		return d
	}
	cold := get(b, "/dossiers?site=pp&statut=recevable")
	start := time.Now()
	if err := srv.index.fillSummaries(ctx, "pp"); err != nil {
		b.Fatal(err)
	}
	summaries := time.Since(start)
	counts := srv.index.counts("pp")
	if counts.Total != n || !counts.Complete {
		b.Fatalf("index holds %d dossiers (complete %v), want %d", counts.Total, counts.Complete, n)
	}
	b.Logf("queues: %v; channels: %v", counts.ByStatus, counts.ByChannel)

	// The pages an agent visits: every part of the big queue, the smaller
	// ones, the channel filter.
	var paths []string
	for _, st := range []storage.Status{storage.StatusRecevable, storage.StatusAVerifier, storage.StatusEnInstruction} {
		all := srv.index.page(queueQuery{Site: "pp", Status: st, Limit: n})
		for k := 0; k < len(all.Entries); k += len(all.Entries)/40 + 1 {
			paths = append(paths, fmt.Sprintf("/dossiers?site=pp&statut=%s&apres=%s", st, all.Entries[k].cursor))
		}
	}
	paths = append(paths, "/dossiers?site=pp&statut=recevable&canal=postal", "/dossiers?site=pp&statut=a_verifier&canal=email")

	// One periodic refresh: the 50,000 markers listed again, no manifest
	// read (every summary is known).
	start = time.Now()
	if err := srv.index.refresh(ctx, "pp"); err != nil {
		b.Fatal(err)
	}
	refresh := time.Since(start)

	b.Run("page", func(b *testing.B) {
		var l latencies
		for i := 0; b.Loop(); i++ {
			l = append(l, get(b, paths[i%len(paths)]))
		}
		l.report(b)
		b.ReportMetric(float64(cold)/float64(time.Millisecond), "cold-ms")
		b.ReportMetric(summaries.Seconds(), "summaries-s")
		b.ReportMetric(refresh.Seconds(), "refresh-s")
	})
	b.Run("search", func(b *testing.B) {
		queries := []string{"kovalenko", "loetitia", "demandeur4711@example.org", fixtureReference(4420), "zzz-nobody"}
		var l latencies
		for i := 0; b.Loop(); i++ {
			l = append(l, get(b, "/dossiers?site=pp&q="+queries[i%len(queries)]))
		}
		l.report(b)
	})
}
