package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"recevable/intake/imaptest"
	"recevable/storage"
	"recevable/storage/s3test"
)

// TestIdleLatency measures how long a message takes from its APPEND to its
// dossier: `recevable serve` waits in IDLE on Dovecot; the harness appends
// one generated message at a time (sizes 20 KB to 5 MB as in
// TestThroughput) and polls the bucket every 5 ms for the item's done
// marker, index/done/<sha256 of the raw bytes>, which the pipeline writes
// right after the manifest (workers/doc.go, steps 11 and 12): a dossier
// is visible in the queue at that moment or a few milliseconds before. It
// reports p50, p95 and the maximum; nothing is asserted but that every
// message became a dossier.
//
// The limit, in the same run: a bare go-imap client IDLE on the same
// INBOX, timing the EXISTS each APPEND brings it. Dovecot delays that
// notification on purpose (it waits for more changes to bundle them), and
// the pipeline cannot learn of a message sooner.
//
//	RECEVABLE_BENCH=1 go test ./bench/ -run TestIdleLatency -v -timeout 30m
func TestIdleLatency(t *testing.T) {
	env := readEnv(t)
	_, loadStart := LoadAvg()
	g, err := NewGenerator(Options{Seed: env.seed + 1000, Content: env.content})
	if err != nil {
		t.Fatal(err)
	}
	bin := recevableBinary(t)
	srv := imaptest.StartDovecot(t, nil)
	s3srv := s3test.Start(t)
	bucket := bucketFor(t, s3srv, s3srv.Bucket)
	child := startServe(t, bin, srv, s3srv, s3srv.Bucket, env.pool)
	c := srv.Dial(t)
	exists := idleWatcher(t, srv)

	// The first message also waits for serve's start (lease, login,
	// SELECT); it is not a sample.
	appendAndWait := func(i int) (time.Duration, time.Duration, int) {
		m := g.Message(i)
		for len(exists) > 0 {
			<-exists // EXISTS of earlier messages
		}
		sum := sha256.Sum256(m.Raw)
		done := "index/done/" + hex.EncodeToString(sum[:])
		if _, err := imaptest.AppendWith(c, "INBOX", m.Raw); err != nil {
			t.Fatalf("append message %d: %v", i, err)
		}
		appended := time.Now()
		var notified time.Duration = -1
		for {
			select {
			case at := <-exists:
				if notified < 0 {
					notified = at.Sub(appended)
				}
			default:
			}
			_, err := bucket.Head(context.Background(), done)
			if err == nil {
				if notified < 0 {
					// No EXISTS at all when the pipeline moved the message
					// away before the watcher's session looked (the first
					// message, taken by serve's initial scan).
					select {
					case at := <-exists:
						notified = at.Sub(appended)
					case <-time.After(2 * time.Second):
					}
				}
				return time.Since(appended), notified, len(m.Raw)
			}
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("head %s: %v", done, err)
			}
			child.alive(t)
			// A guard against a hang, not a performance bound.
			if time.Since(appended) > 3*time.Minute {
				t.Fatalf("message %d (%d bytes): no dossier 3 minutes after its APPEND", i, len(m.Raw))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	warm, _, _ := appendAndWait(0)
	t.Logf("first message (serve starting): %v", warm.Round(time.Millisecond))

	var lat, notify []time.Duration
	var lines strings.Builder
	for i := 1; i <= env.samples; i++ {
		// Let the source go back to IDLE after the previous acknowledgment,
		// and Dovecot's delayed notification of that MOVE reach the watcher
		// (it would carry the next EXISTS early).
		time.Sleep(1500 * time.Millisecond)
		d, n, size := appendAndWait(i)
		lat = append(lat, d)
		if n >= 0 {
			notify = append(notify, n)
		}
		fmt.Fprintf(&lines, "%d:%dKB:%dms/%dms ", i, size/1000, n.Milliseconds(), d.Milliseconds())
	}
	_, loadEnd := LoadAvg()
	child.stop(t)
	t.Logf("samples (index:size:EXISTS/dossier): %s", lines.String())
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("IDLE latency, %d samples, pool %d, content %s, load %s → %s (%s):\n"+
		"APPEND → EXISTS to a bare IDLE client  p50 %v  p95 %v  max %v (%d samples)\n"+
		"APPEND → dossier (done marker)         p50 %v  p95 %v  max %v",
		len(lat), env.pool, env.content, loadStart, loadEnd, time.Now().Format("2006-01-02 15:04"),
		ms(Percentile(notify, 50)), ms(Percentile(notify, 95)), ms(Percentile(notify, 100)), len(notify),
		ms(Percentile(lat, 50)), ms(Percentile(lat, 95)), ms(Percentile(lat, 100)))
}

// idleWatcher keeps a connection of its own in IDLE on INBOX and sends the
// arrival time of every EXISTS on the channel it returns.
func idleWatcher(t testing.TB, srv *imaptest.Server) <-chan time.Time {
	t.Helper()
	ch := make(chan time.Time, 64)
	c, err := imapclient.DialInsecure(srv.Addr(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case ch <- time.Now():
					default: // the harness is not listening: drop
					}
				}
			},
		},
	})
	if err != nil {
		t.Fatalf("watcher: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		t.Fatalf("watcher login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("watcher select: %v", err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("watcher idle: %v", err)
	}
	t.Cleanup(func() { idle.Close() })
	return ch
}
