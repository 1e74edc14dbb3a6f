package workers

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// BenchmarkCorpus measures the processing of the MIME corpus (150 real
// messages, CRLF) on a filesystem bucket, without an IMAP server: raw
// stored, parsed, documents checked, number reserved, dossier written. It
// reports items/s with PoolSize goroutines calling Handle, as the pool does.
//
//	go test ./workers/ -run '^$' -bench BenchmarkCorpus -benchtime 3x
func BenchmarkCorpus(b *testing.B) {
	dir, exp := corpus(b)
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	sort.Strings(names)
	var raws [][]byte
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, imaptest.CRLF(data))
	}
	for _, pool := range []int{1, 4} {
		b.Run("pool="+string(rune('0'+pool)), func(b *testing.B) {
			items := 0
			for b.Loop() {
				b.StopTimer()
				bucket, err := storage.NewFS(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				o := testOptions(b, bucket)
				o.Logger = o.Logger.Level(100) // silent
				p := newPipeline(b, o)
				work := make(chan []byte)
				b.StartTimer()
				var wg sync.WaitGroup
				for range pool {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for raw := range work {
							if _, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:bench/INBOX", raw, nil), nil); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				for _, raw := range raws {
					work <- raw
				}
				close(work)
				wg.Wait()
				items += len(raws)
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
