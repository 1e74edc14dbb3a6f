package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/intake/imaptest"
	"recevable/storage"
	"recevable/storage/buckettest"
	"recevable/storage/s3test"
	"recevable/validate"
	"recevable/workers"
)

// TestPipelineBreakdown is the diagnostic companion of TestThroughput: the
// same load, the pipeline built in this process the way serve wires it
// (cmd/recevable/wire.go: S3 bucket with the configuration's defaults,
// instrumented; IMAP source with IDLE; production limits; the evidence
// assessor of one site without keys), so that its metrics can be read:
// time per stage, bucket operations by kind and by key family, and the time the single IMAP
// connection spends taking items (Next) and acknowledging them (Ack). With
// RECEVABLE_BENCH_PPROF=FILE it writes a CPU profile of the phase.
//
// Its wall time is not the figure of record (the harness's buffers share
// the process); use it to see where the time goes.
//
//	RECEVABLE_BENCH=1 RECEVABLE_BENCH_N=400 go test ./bench/ -run TestPipelineBreakdown -v
func TestPipelineBreakdown(t *testing.T) {
	env := readEnv(t)
	g, err := NewGenerator(Options{Seed: env.seed, Content: env.content})
	if err != nil {
		t.Fatal(err)
	}
	files, total := spoolMessages(t, g, env.n, t.TempDir())
	srv := imaptest.StartDovecot(t, nil)
	s3srv := s3test.Start(t)
	appendFiles(t, srv, files)

	reg := prometheus.NewRegistry()
	raw, err := storage.NewS3(context.Background(), storage.S3Options{
		Endpoint: s3srv.Endpoint, Region: s3srv.Region, Bucket: s3srv.Bucket, PathStyle: true,
		AccessKey: s3srv.AccessKey, SecretKey: s3srv.SecretKey,
		PartSize: 16 << 20, MaxRetries: 5, // config_defaults.go
	})
	if err != nil {
		t.Fatal(err)
	}
	counting := buckettest.NewCounting(raw)
	bucket := storage.Instrument(counting, storage.NewMetrics(reg))
	ks, err := validate.NewKeySet("75")
	if err != nil {
		t.Fatal(err)
	}
	assessor, err := validate.NewAssessor(validate.AssessorOptions{
		Bucket: bucket, Sites: []validate.SiteInfo{{ID: "75", Name: "Préfecture de police", Departments: []string{"75"}, Keys: ks}},
		Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	iopts := intake.IMAPOptions{
		Name: "bench", Host: srv.Host, Port: srv.Port, TLS: intake.IMAPPlain,
		Username: srv.User, Password: srv.Password, Folder: "INBOX",
		IDLE: true, PollInterval: time.Minute, CommandTimeout: time.Minute,
		MaxMessageSize: 50 << 20, SpoolDir: t.TempDir(),
	}
	src, err := workers.IMAPSource(iopts, bucket, "75")
	if err != nil {
		t.Fatal(err)
	}
	timing := &sourceTiming{}
	open := src.Open
	src.Open = func() (intake.Source, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return &timedSource{s: s, t: timing}, nil
	}
	p, err := workers.New(workers.Options{
		Bucket: bucket, Sites: []workers.Site{{ID: "75"}}, Sources: []workers.Source{src}, Assessor: assessor,
		MIMELimits:     intake.Limits{MaxMessageBytes: 50 << 20, MaxDepth: 32, MaxParts: 1000, MaxHeaderBytes: 1 << 20},
		DocumentLimits: validate.Limits{MaxBytes: 50 << 20, MaxPages: 500, MaxMegapixels: 50},
		MaxDocuments:   100, PoolSize: env.pool, SpoolDir: t.TempDir(),
		Metrics: workers.NewMetrics(reg), Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}

	if path := os.Getenv("RECEVABLE_BENCH_PPROF"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	watch := srv.Dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	start := time.Now()
	go func() { ran <- p.Run(ctx) }()
	for left, last := env.n, time.Now(); left > 0; {
		time.Sleep(100 * time.Millisecond)
		n, err := inboxCount(watch)
		if err != nil {
			t.Fatal(err)
		}
		if n < left {
			left, last = n, time.Now()
		}
		if time.Since(last) > 5*time.Minute {
			t.Fatalf("no message acknowledged for 5 minutes, %d left", left)
		}
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("pipeline: %v", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%d messages, %.0f MB in %.1f s (%.1f msgs/s), pool %d\n", env.n, float64(total)/1e6, elapsed.Seconds(), float64(env.n)/elapsed.Seconds(), env.pool)
	fmt.Fprintf(&b, "IMAP source: Next %.1f s over %d calls (the main connection, serial), Ack %.1f s over %d calls (the ack connection, batched)\n",
		timing.next.Seconds(), timing.nextN, timing.ack.Seconds(), timing.ackN)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "recevable_stage_duration_seconds":
			b.WriteString("stage time, summed over workers (s, count):\n")
			writeHistograms(&b, f, "stage")
		case "recevable_storage_operation_duration_seconds":
			b.WriteString("bucket operations (s, count):\n")
			writeHistograms(&b, f, "op")
		}
	}
	b.WriteString(requestReport(counting.Counts(), env.n))
	t.Logf("breakdown:\n%s", b.String())
}

// writeHistograms prints each series of a histogram family by label.
func writeHistograms(b *strings.Builder, f *dto.MetricFamily, label string) {
	var lines []string
	for _, m := range f.GetMetric() {
		name := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				name = l.GetValue()
			}
		}
		h := m.GetHistogram()
		if h.GetSampleCount() == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("  %-14s %7.1f s %6d  (mean %.1f ms)", name, h.GetSampleSum(), h.GetSampleCount(),
			1000*h.GetSampleSum()/float64(h.GetSampleCount())))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n") + "\n")
}

// sourceTiming sums the time spent in a source's Next and in its acks.
type sourceTiming struct {
	mu          sync.Mutex
	next, ack   time.Duration
	nextN, ackN int
}

// timedSource measures an intake.Source.
type timedSource struct {
	s intake.Source
	t *sourceTiming
}

func (s *timedSource) Next(ctx context.Context) (intake.Item, intake.Ack, error) {
	start := time.Now()
	item, ack, err := s.s.Next(ctx)
	if err != nil {
		return item, ack, err // the wait in IDLE at the end is not counted
	}
	s.t.mu.Lock()
	s.t.next += time.Since(start)
	s.t.nextN++
	s.t.mu.Unlock()
	return item, func(ctx context.Context, d intake.Disposition) error {
		start := time.Now()
		err := ack(ctx, d)
		s.t.mu.Lock()
		s.t.ack += time.Since(start)
		s.t.ackN++
		s.t.mu.Unlock()
		return err
	}, nil
}

func (s *timedSource) Close() error { return s.s.Close() }
