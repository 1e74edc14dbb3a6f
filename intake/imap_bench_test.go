package intake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
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
