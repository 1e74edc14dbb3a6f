//go:build linux

package workers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"recevable/intake"
	"recevable/validate"
)

// BenchmarkPostalSplit measures what the postal channel does with a scanned
// batch before any dossier is written: read the PDF, decode every page
// image, measure its ink, look for separator codes (validate.DecodeQR, as
// wired in production, on pages reduced to 75 dpi) and cut the letters.
// The batch is 200 A4 pages at 300 dpi in grey, JPEG quality 75, noise
// σ 8, 1° askew: letters of two and three pages, blank backs, a separator
// sheet before each letter (see benchBatch). Reported: pages/s, and the peak of
// heap in use above what was live before (the batch's own bytes, held by
// the benchmark, are not counted: it is read from a file), sampled every
// 2 ms; CPU time per page
// (getrusage) and the pages per second it makes on two idle cores.
//
//	go test ./workers/ -run '^$' -bench BenchmarkPostalSplit -benchtime 3x
func BenchmarkPostalSplit(b *testing.B) {
	pdf, pages := benchBatch(b, 200)
	b.Logf("batch: %d pages, %.1f MB", pages, float64(len(pdf))/(1<<20))
	// From a file, as the worker reads its spooled copy: the batch's bytes
	// are not on the heap.
	path := filepath.Join(b.TempDir(), "lot.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		b.Fatal(err)
	}
	pdf = nil
	for _, workers := range []int{0, 1} {
		name := fmt.Sprintf("workers=%d", workers)
		if workers == 0 {
			name = fmt.Sprintf("workers=GOMAXPROCS(%d)", runtime.GOMAXPROCS(0))
		}
		b.Run(name, func(b *testing.B) {
			opts := intake.SplitOptions{Separators: true, FindCodes: validate.DecodeQR, Workers: workers}
			runtime.GC()
			peak := samplePeakHeap()
			cpu0 := cpuSeconds()
			b.ResetTimer()
			var letters int
			for range b.N {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				scan, err := intake.OpenScan(context.Background(), f, intake.ScanLimits{})
				if err != nil {
					b.Fatal(err)
				}
				batch, err := intake.Split(context.Background(), scan, opts)
				if err != nil {
					b.Fatal(err)
				}
				letters = len(batch.Letters)
				f.Close()
			}
			b.StopTimer()
			cpu := cpuSeconds() - cpu0
			mb := peak()
			if letters != pages/10*2 {
				b.Fatalf("%d letters, want %d", letters, pages/10*2)
			}
			b.ReportMetric(float64(pages*b.N)/b.Elapsed().Seconds(), "pages/s")
			b.ReportMetric(mb, "peak-heap-MB")
			// CPU time per page, and what it makes on two cores of its own:
			// the wall-clock figure depends on what else the machine runs.
			b.ReportMetric(cpu/float64(pages*b.N)*1000, "cpu-ms/page")
			b.ReportMetric(2*float64(pages*b.N)/cpu, "pages/s-on-2-idle-cores")
		})
	}
}

// cpuSeconds is the CPU time (user and system) used by this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// samplePeakHeap samples the heap in use until the returned function is
// called, which returns the peak above the level at the start, in MB.
func samplePeakHeap() func() float64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var max atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := read(); v > max.Load() {
					max.Store(v)
				}
			}
		}
	}()
	return func() float64 {
		close(stop)
		wg.Wait()
		return float64(max.Load()-min(base, max.Load())) / (1 << 20)
	}
}

// benchBatch is a batch of n pages (n a multiple of 10): per ten pages, a
// separator sheet, a two-page letter scanned in duplex (blank backs), a
// sheet, a three-page letter whose first page bears a QR code, and one
// blank back — 2 letters, 2 sheets, 3 blank pages, 5 letter pages. Eight
// page images, scanned once, are reused.
func benchBatch(b *testing.B, n int) ([]byte, int) {
	b.Helper()
	style := intake.ScanStyle{Angle: 1, Noise: 8, Specks: 10, Seed: 42}
	sim := []intake.SimPage{
		{Separator: &intake.Separator{}},
		{Lines: []string{"Madame, Monsieur,", "Je sollicite le renouvellement de mon titre de séjour.", "Veuillez agréer mes salutations."}},
		{Blank: true, ShowThrough: true},
		{Lines: []string{"Demande de titre de séjour", "Pièces jointes : passeport, justificatif de domicile."}},
		{Lines: []string{"Invitation de la préfecture"}, Code: "BENCH-INVITATION-CODE-0123456789"},
		{Lines: []string{"Justificatif de domicile", "Facture d'électricité", "Montant : 42,00 EUR"}},
		{Blank: true},
		{Lines: []string{"Attestation", "Le centre de contact citoyens atteste que le dépôt en ligne a échoué."}},
	}
	j, err := intake.ScanPages(sim, style, encodeQR)
	if err != nil {
		b.Fatal(err)
	}
	group := [][]byte{j[0], j[1], j[2], j[3], j[6], j[0], j[4], j[5], j[7], j[2]}
	var seq [][]byte
	for len(seq) < n {
		seq = append(seq, group...)
	}
	var buf bytes.Buffer
	if err := intake.AssembleImages(context.Background(), &buf, seq[:n], intake.ScanLimits{}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), n
}
