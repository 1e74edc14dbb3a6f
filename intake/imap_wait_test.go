package intake

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"recevable/intake/imaptest"
)

// idling reports whether the source is waiting in IDLE.
func (s *IMAPSource) idling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && s.conn.idle != nil
}

// waitFor polls cond until it holds: readiness of the code under test, not
// a timing assertion (the bound only stops a broken test from hanging).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type nextResult struct {
	item Item
	ack  Ack
	err  error
}

func nextAsync(ctx context.Context, s *IMAPSource) <-chan nextResult {
	ch := make(chan nextResult, 1)
	go func() {
		item, ack, err := s.Next(ctx)
		ch <- nextResult{item, ack, err}
	}()
	return ch
}

// TestIMAPIdle: a message appended while Next waits in IDLE is yielded long
// before the poll interval (one minute, beyond the test's deadline) would
// have found it.
func TestIMAPIdle(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			o := testOptions(t, srv)
			o.IDLE = true
			o.PollInterval = time.Minute
			s := newSource(t, o, newMemCursors())

			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			res := nextAsync(ctx, s)
			waitFor(t, "IDLE", s.idling)
			srv.Append(t, "INBOX", msg(1))
			r := <-res
			if r.err != nil {
				t.Fatalf("Next during IDLE: %v (the append did not wake it before the deadline)", r.err)
			}
			if got := readItem(t, r.item); !bytes.Equal(got, msg(1)) {
				t.Errorf("item is not the appended message")
			}
			// The ack ends the next IDLE cleanly and the loop goes on.
			res = nextAsync(ctx, s)
			waitFor(t, "IDLE again", s.idling)
			if err := r.ack(ctx, Processed); err != nil {
				t.Fatalf("ack while Next idles: %v", err)
			}
			r.item.Release()
			srv.Append(t, "INBOX", msg(2))
			r = <-res
			if r.err != nil || !bytes.Equal(readItem(t, r.item), msg(2)) {
				t.Fatalf("second Next: %v", r.err)
			}
			r.item.Release()
			checkFolder(t, srv, DefaultIMAPProcessedFolder, msg(1))
		})
	}
}

// TestIMAPPoll: without IDLE the folder is checked every PollInterval.
func TestIMAPPoll(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	o := testOptions(t, srv)
	o.PollInterval = 20 * time.Millisecond
	s := newSource(t, o, newMemCursors())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := nextAsync(ctx, s)
	srv.Append(t, "INBOX", msg(1))
	r := <-res
	if r.err != nil {
		t.Fatalf("Next: %v", r.err)
	}
	if s.idling() {
		t.Errorf("source idles with IDLE off")
	}
	r.item.Release()
}

// TestIMAPCancel: cancelling ctx ends a Next waiting in IDLE, and leaves the
// connection usable (IDLE ended with DONE, not abandoned).
func TestIMAPCancel(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			o := testOptions(t, srv)
			o.IDLE = true
			s := newSource(t, o, newMemCursors())
			ctx, cancel := context.WithCancel(context.Background())
			res := nextAsync(ctx, s)
			waitFor(t, "IDLE", s.idling)
			s.mu.Lock()
			conn := s.conn
			s.mu.Unlock()
			cancel()
			if r := <-res; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("Next after cancel: %v, want context.Canceled", r.err)
			}
			srv.Append(t, "INBOX", msg(1))
			tk := next(t, s)
			tk.item.Release()
			s.mu.Lock()
			same := s.conn == conn
			s.mu.Unlock()
			if !same {
				t.Errorf("the connection was replaced: cancelling IDLE broke it")
			}
		})
	}
}

// TestIMAPReconnect: a connection cut by the server (restart, network) is
// re-established, both by an ack and by a Next waiting in IDLE.
func TestIMAPReconnect(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	o := testOptions(t, srv)
	o.IDLE = true
	cursors := newMemCursors()
	s := newSource(t, o, cursors)
	srv.Append(t, "INBOX", msg(1))
	tk := next(t, s)

	s.mu.Lock()
	closed := s.conn.c.Closed()
	s.mu.Unlock()
	srv.DropConnections(t)
	<-closed
	ack(t, tk, Processed) // redials
	checkFolder(t, srv, DefaultIMAPProcessedFolder, msg(1))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := nextAsync(ctx, s)
	waitFor(t, "IDLE", s.idling)
	s.mu.Lock()
	old := s.conn
	s.mu.Unlock()
	srv.DropConnections(t)
	waitFor(t, "IDLE on a new connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn != nil && s.conn != old && s.conn.idle != nil
	})
	srv.Append(t, "INBOX", msg(2))
	r := <-res
	if r.err != nil || !bytes.Equal(readItem(t, r.item), msg(2)) {
		t.Fatalf("Next across a dropped connection: %v", r.err)
	}
	r.item.Release()
}

// TestIMAPClose: Close ends a Next waiting in IDLE.
func TestIMAPClose(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	o := testOptions(t, srv)
	o.IDLE = true
	s := newSource(t, o, newMemCursors())
	res := nextAsync(context.Background(), s)
	waitFor(t, "IDLE", s.idling)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !errors.Is(r.err, ErrSourceClosed) {
		t.Fatalf("Next after Close: %v, want ErrSourceClosed", r.err)
	}
}

// TestIMAPCloseAfterIdleBroken: Close while Next waits in IDLE on a
// connection the server has just cut. Ending IDLE can then fail and drop
// the connection; Close must still finish (and write the cursor), not
// panic on the connection it just dropped.
func TestIMAPCloseAfterIdleBroken(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	o := testOptions(t, srv)
	o.IDLE = true
	o.PollInterval = time.Minute
	s, err := NewIMAP(o, newMemCursors())
	if err != nil {
		t.Fatal(err)
	}
	ch := nextAsync(context.Background(), s)
	waitFor(t, "the source in IDLE", s.idling)
	srv.DropConnections(t)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-ch // Next ends with the source closed
}
