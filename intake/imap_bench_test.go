package intake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// BenchmarkIMAPTakeAck: one message of 1 MiB appended, taken (streamed to
// the spool), read back and acked (MOVE), per iteration.
func BenchmarkIMAPTakeAck(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/=\r\n"), (1<<20)/68)
	for _, kind := range []string{"mem", "dovecot"} {
		b.Run(kind, func(b *testing.B) {
			var srv *imaptest.Server
			if kind == "mem" {
				srv = imaptest.StartMem(b, nil)
			} else {
				srv = imaptest.StartDovecot(b, nil)
			}
			c := srv.Dial(b)
			o := IMAPOptions{
				Name: "bench", Host: srv.Host, Port: srv.Port, TLS: IMAPPlain,
				Username: srv.User, Password: srv.Password, SpoolDir: b.TempDir(),
				Logger: zerolog.Nop(),
			}
			s, err := NewIMAP(o, newMemCursors())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				raw := append([]byte(fmt.Sprintf("Message-ID: <%d@bench>\r\nSubject: bench\r\n\r\n", i)), body...)
				if _, err := imaptest.AppendWith(c, "INBOX", raw); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				item, ack, err := s.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				r, err := item.Open()
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r)
				r.Close()
				if err := ack(ctx, Processed); err != nil {
					b.Fatal(err)
				}
				item.Release()
			}
		})
	}
}

// BenchmarkIMAPAckBatch: acks per second on Dovecot with four workers
// acking at once (the pipeline's default pool), the cursor kept in a
// filesystem bucket. "batched" is the source as it runs; "one-by-one" caps
// batches at one UID: one UID MOVE and one cursor write per ack, as before
// acks were coalesced. One op is one message.
//
//   - ack: every message is taken first, then the four workers ack them:
//     the ack path alone.
//   - take+ack: one goroutine takes messages (Next) and hands each to a
//     free worker, which reads it and acks it, as the pipeline's poller and
//     pool do: takes and acks share the connection.
//
// Fix the number of messages, since a MOVE's cost grows with the folder:
//
//	go test ./intake/ -run '^$' -bench IMAPAckBatch -benchtime 1000x
func BenchmarkIMAPAckBatch(b *testing.B) {
	const workers = 4
	for _, mode := range []string{"ack", "take+ack"} {
		for _, batched := range []bool{true, false} {
			name := mode + "/batched"
			if !batched {
				name = mode + "/one-by-one"
			}
			b.Run(name, func(b *testing.B) {
				srv := imaptest.StartDovecot(b, nil)
				c := srv.Dial(b)
				for i := 0; i < b.N; i++ {
					if _, err := imaptest.AppendWith(c, "INBOX", msg(i)); err != nil {
						b.Fatal(err)
					}
				}
				fs, err := storage.NewFS(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				o := IMAPOptions{
					Name: "bench", Host: srv.Host, Port: srv.Port, TLS: IMAPPlain,
					Username: srv.User, Password: srv.Password, SpoolDir: b.TempDir(),
					Logger: zerolog.Nop(),
				}
				cursors := &countedCursors{CursorStore: BucketCursors{Cursors: storage.Cursors{Bucket: fs}}}
				s, err := NewIMAP(o, cursors)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if !batched {
					s.acks.max = 1
				}
				wire := countCommands(s)
				ctx := context.Background()

				type job struct {
					item Item
					ack  Ack
				}
				items := make(chan job)
				if mode == "ack" {
					all := make(chan job, b.N)
					for i := 0; i < b.N; i++ {
						item, ack, err := s.Next(ctx)
						if err != nil {
							b.Fatal(err)
						}
						all <- job{item, ack}
					}
					close(all)
					items = all
				}
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				b.ResetTimer()
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for tk := range items {
							if r, err := tk.item.Open(); err == nil {
								io.Copy(io.Discard, r)
								r.Close()
							}
							if err := tk.ack(ctx, Processed); err != nil {
								select {
								case errs <- err:
								default:
								}
							}
							tk.item.Release()
						}
					}()
				}
				if mode == "take+ack" {
					for i := 0; i < b.N; i++ {
						item, ack, err := s.Next(ctx)
						if err != nil {
							b.Fatal(err)
						}
						items <- job{item, ack}
					}
					close(items)
				}
				wg.Wait()
				b.StopTimer()
				select {
				case err := <-errs:
					b.Fatal(err)
				default:
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
				b.ReportMetric(float64(wire.get("UID MOVE"))/float64(b.N), "moves/op")
				b.ReportMetric(float64(cursors.puts.Load())/float64(b.N), "cursor-puts/op")
			})
		}
	}
}

// countedCursors counts the cursor writes.
type countedCursors struct {
	CursorStore
	puts atomic.Int64
}

func (c *countedCursors) Put(ctx context.Context, id string, cur Cursor, version string) (string, error) {
	c.puts.Add(1)
	return c.CursorStore.Put(ctx, id, cur, version)
}
