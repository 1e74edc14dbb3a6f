package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"recevable/intake/imaptest"
)

// wireCount counts the commands a source sends, by name ("UID MOVE",
// "UID COPY", "UID STORE", "UID EXPUNGE", "SELECT"…), read off the bytes it
// writes to its TCP connections: what the server received, whatever the
// code believes it sent. "UID FETCH metadata" counts the UID FETCHes that
// ask for RFC822.SIZE (also counted under "UID FETCH").
type wireCount struct {
	mu sync.Mutex
	n  map[string]int
}

func countCommands(s *IMAPSource) *wireCount {
	w := &wireCount{n: map[string]int{}}
	s.wrapConn = func(c net.Conn) net.Conn { return &countingConn{Conn: c, w: w} }
	return w
}

func (w *wireCount) get(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[name]
}

func (w *wireCount) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprint(w.n)
}

type countingConn struct {
	net.Conn
	w    *wireCount
	line []byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	for _, b := range p {
		if b != '\n' {
			c.line = append(c.line, b)
			continue
		}
		// "<tag> <command> …"; UID commands are named by two words. Lines
		// of one word (DONE, SASL responses) are not commands.
		f := strings.Fields(string(c.line))
		if len(f) >= 2 {
			name := strings.ToUpper(f[1])
			if name == "UID" && len(f) >= 3 {
				name += " " + strings.ToUpper(f[2])
			}
			c.w.n[name]++
			if name == "UID FETCH" && strings.Contains(strings.ToUpper(string(c.line)), "RFC822.SIZE") {
				c.w.n["UID FETCH metadata"]++
			}
		}
		c.line = c.line[:0]
	}
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

// takeAll takes n items, in UID order.
func takeAll(t *testing.T, s *IMAPSource, n int) []taken {
	t.Helper()
	tks := make([]taken, n)
	for i := range tks {
		tks[i] = next(t, s)
	}
	return tks
}

// appendN appends msg(1)…msg(n) to INBOX on one connection.
func appendN(t *testing.T, srv *imaptest.Server, n int) {
	t.Helper()
	c := srv.Dial(t)
	for i := 1; i <= n; i++ {
		if _, err := imaptest.AppendWith(c, "INBOX", msg(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// ackSource appends n messages, opens a source on o that counts its
// commands, and takes the n items.
func ackSource(t *testing.T, srv *imaptest.Server, o IMAPOptions, n int) (*IMAPSource, *memCursors, *wireCount, []taken) {
	t.Helper()
	appendN(t, srv, n)
	cursors := newMemCursors()
	s := newSource(t, o, cursors)
	wire := countCommands(s)
	return s, cursors, wire, takeAll(t, s, n)
}

// wantAcked reports each ack that failed.
func wantAcked(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ack of item %d: %v", i, err)
		}
	}
}

// waitQueued waits until ok holds for the number of acks queued, and
// returns that number (the last one seen, after 20 s: readiness of the
// goroutines, not a timing assertion).
func waitQueued(s *IMAPSource, ok func(queued int) bool) int {
	queued := func() int {
		s.acks.mu.Lock()
		defer s.acks.mu.Unlock()
		return len(s.acks.pending)
	}
	end := time.Now().Add(20 * time.Second)
	n := queued()
	for !ok(n) && time.Now().Before(end) {
		time.Sleep(time.Millisecond)
		n = queued()
	}
	return n
}

// ackTogether acks the items concurrently while the test holds the ack
// connection, as the previous batch does while its command runs: every ack queues,
// and they all go out in the batch that follows (up to the cap). ctxs[i],
// when set, is item i's context. It returns each ack's error.
func ackTogether(t *testing.T, s *IMAPSource, tks []taken, d func(i int) Disposition, ctxs map[int]context.Context) []error {
	t.Helper()
	errs := make([]error, len(tks))
	var wg sync.WaitGroup
	s.ackMu.Lock()
	for i, tk := range tks {
		ctx := ctxs[i]
		if ctx == nil {
			ctx = context.Background()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tk.ack(ctx, d(i))
		}()
	}
	n := waitQueued(s, func(q int) bool { return q >= len(tks) })
	s.ackMu.Unlock()
	if n < len(tks) {
		t.Fatalf("%d acks queued, want %d", n, len(tks))
	}
	wg.Wait()
	for _, tk := range tks {
		tk.item.Release()
	}
	return errs
}

func all(d Disposition) func(int) Disposition { return func(int) Disposition { return d } }

// TestIMAPAckBatch: 50 acks queued while the connection is busy go out as
// one command (UID MOVE of the set, or one UID STORE in keyword mode) and
// one cursor write; every message is acked and the cursor ends on the last
// UID.
func TestIMAPAckBatch(t *testing.T) {
	const n = 50
	for _, sv := range servers() {
		for _, action := range []IMAPPostAction{PostActionMove, PostActionKeyword} {
			t.Run(sv.name+"/"+string(action), func(t *testing.T) {
				srv := sv.start(t)
				o := testOptions(t, srv)
				o.PostAction = action
				s, cursors, wire, tks := ackSource(t, srv, o, n)
				putsBefore := cursors.puts

				wantAcked(t, ackTogether(t, s, tks, all(Processed), nil))
				cmd := "UID MOVE"
				if action == PostActionKeyword {
					cmd = "UID STORE"
				}
				if got := wire.get(cmd); got != 1 {
					t.Errorf("%d acks sent %d %s, want 1 (commands %v)", n, got, cmd, wire)
				}
				s.cw.bg.Wait()
				if got := cursors.puts - putsBefore; got != 1 {
					t.Errorf("%d acks in one batch wrote the cursor %d times, want 1", n, got)
				}
				var raws [][]byte
				for i := 1; i <= n; i++ {
					raws = append(raws, msg(i))
				}
				if action == PostActionMove {
					checkFolder(t, srv, "INBOX")
					checkFolder(t, srv, DefaultIMAPProcessedFolder, raws...)
				} else {
					inbox, _ := srv.Look(t, "INBOX")
					if len(inbox.Messages) != n {
						t.Fatalf("INBOX has %d messages, want %d (keyword mode moves nothing)", len(inbox.Messages), n)
					}
					for _, m := range inbox.Messages {
						if !m.HasFlag(DefaultIMAPKeyword) {
							t.Errorf("uid %d flags %v, want %s", m.UID, m.Flags, DefaultIMAPKeyword)
						}
					}
				}
				wantCursorAt(t, s, cursors, tks[n-1], "the last UID")
				nothingNew(t, s)
			})
		}
	}
}

// TestIMAPAckConcurrent: 50 workers ack at the same time, with nothing
// else holding the connection: what queues while a batch's command runs
// goes in the next one, so far fewer than 50 moves are sent.
func TestIMAPAckConcurrent(t *testing.T) {
	const n = 50
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			s, cursors, wire, tks := ackSource(t, srv, testOptions(t, srv), n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, tk := range tks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if err := tk.ack(context.Background(), Processed); err != nil {
						t.Errorf("ack uid %s: %v", tk.item.Coordinates[CoordUID], err)
					}
					tk.item.Release()
				}()
			}
			close(start)
			wg.Wait()
			if got := wire.get("UID MOVE"); got > n/2 {
				t.Errorf("%d concurrent acks sent %d UID MOVE, want at most %d", n, got, n/2)
			}
			s.cw.bg.Wait()
			t.Logf("%d concurrent acks: %d UID MOVE, %d cursor writes", n, wire.get("UID MOVE"), cursors.puts)
			checkFolder(t, srv, "INBOX")
			wantCursorAt(t, s, cursors, tks[n-1], "the last UID")
		})
	}
}

// TestIMAPAckBatchCap: a batch holds at most ackBatchMax UIDs; the rest go
// in the next one.
func TestIMAPAckBatchCap(t *testing.T) {
	n := ackBatchMax + ackBatchMax/2
	srv := imaptest.StartMem(t, nil)
	s, _, wire, tks := ackSource(t, srv, testOptions(t, srv), n)
	wantAcked(t, ackTogether(t, s, tks, all(Processed), nil))
	if got := wire.get("UID MOVE"); got != 2 {
		t.Errorf("%d acks sent %d UID MOVE, want 2 (cap %d)", n, got, ackBatchMax)
	}
	checkFolder(t, srv, "INBOX")
}

// TestIMAPAckBatchFallback: without MOVE, a batch is one UID COPY of the
// set, one UID STORE \Deleted of it and (UIDPLUS) one UID EXPUNGE of it.
func TestIMAPAckBatchFallback(t *testing.T) {
	const n = 50
	for _, tc := range moveFallbacks {
		t.Run(tc.name, func(t *testing.T) {
			srv := imaptest.StartMem(t, &imaptest.MemOptions{Caps: tc.caps})
			s, cursors, wire, tks := ackSource(t, srv, testOptions(t, srv), n)
			wantAcked(t, ackTogether(t, s, tks, all(Processed), nil))
			wantExpunge := 0
			if tc.expunge {
				wantExpunge = 1
			}
			if wire.get("UID COPY") != 1 || wire.get("UID STORE") != 1 || wire.get("UID EXPUNGE") != wantExpunge || wire.get("UID MOVE") != 0 || wire.get("EXPUNGE") != 0 {
				t.Errorf("commands %v, want one UID COPY, one UID STORE, %d UID EXPUNGE, no MOVE, no plain EXPUNGE", wire, wantExpunge)
			}
			done, _ := srv.Look(t, DefaultIMAPProcessedFolder)
			if len(done.Messages) != n {
				t.Errorf("processed folder has %d messages, want %d", len(done.Messages), n)
			}
			inbox, _ := srv.Look(t, "INBOX")
			if tc.expunge && len(inbox.Messages) != 0 {
				t.Errorf("INBOX has %d messages, want 0", len(inbox.Messages))
			}
			if !tc.expunge {
				if len(inbox.Messages) != n {
					t.Fatalf("INBOX has %d messages, want %d (no UIDPLUS: nothing expunged)", len(inbox.Messages), n)
				}
				for _, m := range inbox.Messages {
					if !m.HasFlag(imap.FlagDeleted) || !m.HasFlag(DefaultIMAPKeyword) {
						t.Errorf("uid %d flags %v, want \\Deleted and %s", m.UID, m.Flags, DefaultIMAPKeyword)
					}
				}
			}
			wantCursorAt(t, s, cursors, tks[n-1], "the last UID")
		})
	}
}

// TestIMAPAckBatchRefused: when the server refuses the batch's copy (over
// quota), every caller of the batch gets the error and every message stays
// in the inbox exactly as it was; nothing is deleted, the cursor stays.
func TestIMAPAckBatchRefused(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		name string
		caps imap.CapSet
		cmd  string
	}{
		{"move", nil, "UID MOVE"},
		{"rev1+uidplus", imaptest.Rev1UIDPlus(), "UID COPY"},
		{"rev1", imaptest.Rev1Only(), "UID COPY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := imaptest.StartMem(t, &imaptest.MemOptions{Caps: tc.caps})
			s, cursors, wire, tks := ackSource(t, srv, testOptions(t, srv), n)
			srv.RefuseCopy(t, true)
			for i, err := range ackTogether(t, s, tks, all(Processed), nil) {
				if err == nil {
					t.Errorf("ack of item %d succeeded, want the copy's error", i)
				}
			}
			if wire.get(tc.cmd) != 1 || wire.get("UID STORE") != 0 || wire.get("UID EXPUNGE") != 0 || wire.get("EXPUNGE") != 0 {
				t.Errorf("commands %v, want one %s and nothing after it", wire, tc.cmd)
			}
			inbox, _ := srv.Look(t, "INBOX")
			if len(inbox.Messages) != n {
				t.Fatalf("INBOX has %d messages after a refused batch, want %d", len(inbox.Messages), n)
			}
			for i, m := range inbox.Messages {
				if !bytes.Equal(m.Raw, tks[i].raw) || len(m.Flags) != 0 {
					t.Errorf("uid %d changed by a refused batch (flags %v)", m.UID, m.Flags)
				}
			}
			if c := storedCursor(s, cursors); c.LastUID != 0 {
				t.Errorf("cursor advanced to %d past unacked messages", c.LastUID)
			}
		})
	}
}

// TestIMAPAckBatchMixed: in one batch, processed and quarantined messages
// each go to their folder, one command per disposition.
func TestIMAPAckBatchMixed(t *testing.T) {
	const n = 20
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			s, cursors, wire, tks := ackSource(t, srv, testOptions(t, srv), n)
			odd := func(i int) Disposition {
				if i%2 == 1 {
					return Quarantined
				}
				return Processed
			}
			wantAcked(t, ackTogether(t, s, tks, odd, nil))
			if got := wire.get("UID MOVE"); got != 2 {
				t.Errorf("mixed batch sent %d UID MOVE, want 2 (one per disposition)", got)
			}
			var processed, quarantined [][]byte
			for i, tk := range tks {
				if odd(i) == Quarantined {
					quarantined = append(quarantined, tk.raw)
				} else {
					processed = append(processed, tk.raw)
				}
			}
			checkFolder(t, srv, "INBOX")
			checkFolder(t, srv, DefaultIMAPProcessedFolder, processed...)
			checkFolder(t, srv, DefaultIMAPQuarantineFolder, quarantined...)
			wantCursorAt(t, s, cursors, tks[n-1], "the last UID")
		})
	}
}

// TestIMAPAckBatchPartial: in a mixed batch whose quarantine folder cannot
// be created (Dovecot refuses names starting with "~"), the processed
// messages are moved and their acks succeed; the quarantined ones stay in
// the inbox untouched, their acks fail, and the cursor stops below the
// first of them.
func TestIMAPAckBatchPartial(t *testing.T) {
	const n = 6
	srv := imaptest.StartDovecot(t, nil)
	o := testOptions(t, srv)
	o.QuarantineFolder = "~refused"
	s, cursors, _, tks := ackSource(t, srv, o, n)
	d := func(i int) Disposition {
		if i == 2 || i == 4 {
			return Quarantined
		}
		return Processed
	}
	errs := ackTogether(t, s, tks, d, nil)
	var processed, left [][]byte
	for i, err := range errs {
		if d(i) == Quarantined {
			left = append(left, tks[i].raw)
			if err == nil {
				t.Errorf("quarantine ack of item %d succeeded, want an error", i)
			}
			continue
		}
		processed = append(processed, tks[i].raw)
		if err != nil {
			t.Errorf("processed ack of item %d: %v", i, err)
		}
	}
	checkFolder(t, srv, DefaultIMAPProcessedFolder, processed...)
	checkFolder(t, srv, "INBOX", left...)
	inbox, _ := srv.Look(t, "INBOX")
	for _, m := range inbox.Messages {
		if len(m.Flags) != 0 {
			t.Errorf("uid %d flags %v after a failed ack, want none", m.UID, m.Flags)
		}
	}
	wantCursorAt(t, s, cursors, tks[1], "below the first failed ack")
}

// TestIMAPAckBatchCursor: a batch acking every message but an abandoned
// one leaves the cursor below it; a restarted source takes it again.
func TestIMAPAckBatchCursor(t *testing.T) {
	const n = 10
	srv := imaptest.StartMem(t, nil)
	o := testOptions(t, srv)
	s, cursors, _, tks := ackSource(t, srv, o, n)
	tks[3].item.Release() // storing failed, say
	rest := append(append([]taken{}, tks[:3]...), tks[4:]...)
	wantAcked(t, ackTogether(t, s, rest, all(Processed), nil))
	wantCursorAt(t, s, cursors, tks[2], "below the abandoned message")
	again := next(t, newSource(t, o, cursors))
	if !bytes.Equal(again.raw, tks[3].raw) {
		t.Errorf("restarted source did not take the abandoned message")
	}
	again.item.Release()
}

// TestIMAPAckWithdrawn: an ack whose context ends while it waits in the
// queue is withdrawn: it returns the context's error, its message stays in
// the inbox and holds the cursor back, and the rest of the batch goes on.
func TestIMAPAckWithdrawn(t *testing.T) {
	const n = 5
	srv := imaptest.StartMem(t, nil)
	s, cursors, _, tks := ackSource(t, srv, testOptions(t, srv), n)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make([]error, n)
	var wg sync.WaitGroup
	s.ackMu.Lock()
	for i, tk := range tks {
		c := context.Background()
		if i == 1 {
			c = ctx
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tk.ack(c, Processed)
		}()
	}
	waitQueued(s, func(q int) bool { return q >= n })
	cancel()
	withdrawn := waitQueued(s, func(q int) bool { return q <= n-1 }) == n-1
	s.ackMu.Unlock()
	if !withdrawn {
		t.Fatalf("the cancelled ack is still queued")
	}
	wg.Wait()
	for i, err := range errs {
		if i == 1 {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("withdrawn ack: %v, want context.Canceled", err)
			}
		} else if err != nil {
			t.Errorf("ack of item %d: %v", i, err)
		}
		tks[i].item.Release()
	}
	checkFolder(t, srv, "INBOX", tks[1].raw)
	wantCursorAt(t, s, cursors, tks[0], "below the withdrawn ack")
}

// gatedCursors is a CursorStore whose first Put once armed waits until
// the test opens the gate, as a slow bucket would.
type gatedCursors struct {
	*memCursors
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedCursors) Put(ctx context.Context, id string, c Cursor, version string) (string, error) {
	first := false
	if g.armed.Load() {
		g.once.Do(func() { first = true })
	}
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.memCursors.Put(ctx, id, c, version)
}

// TestIMAPAckCursorBackground: an ack returns once its command is done,
// without waiting for the bucket: while a batch's cursor write hangs the
// connection is free, the next ack moves its message and returns too; once
// the store answers again, the latest cursor (the second UID) is written.
func TestIMAPAckCursorBackground(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	appendN(t, srv, 2)
	cursors := &gatedCursors{memCursors: newMemCursors(), entered: make(chan struct{}), gate: make(chan struct{})}
	s := newSource(t, testOptions(t, srv), cursors)
	tks := takeAll(t, s, 2)
	cursors.armed.Store(true)
	defer func() {
		select {
		case <-cursors.gate:
		default:
			close(cursors.gate)
		}
	}()
	// returned waits for one ack, with a bound so that a broken contract
	// fails instead of hanging on the closed gate.
	returned := func(what string, ack func() error) {
		t.Helper()
		res := make(chan error, 1)
		go func() { res <- ack() }()
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not return while the cursor write hangs", what)
		}
	}
	returned("first ack", func() error { return tks[0].ack(context.Background(), Processed) })
	<-cursors.entered // its cursor write has started, and hangs
	if !s.mu.TryLock() {
		t.Fatalf("the connection's lock is held during the cursor write")
	}
	s.mu.Unlock()
	returned("second ack", func() error { return tks[1].ack(context.Background(), Processed) })
	checkFolder(t, srv, DefaultIMAPProcessedFolder, tks[0].raw, tks[1].raw)
	if got := cursors.get(s.ID()); got.LastUID != 0 {
		t.Errorf("stored cursor at %d while the store hangs", got.LastUID)
	}
	close(cursors.gate)
	for _, tk := range tks {
		tk.item.Release()
	}
	s.cw.bg.Wait()
	if got, want := cursors.get(s.ID()).LastUID, tks[1].item.Coordinates[CoordUID]; strconv.Itoa(int(got)) != want {
		t.Errorf("stored cursor at %d, want %s (the latest acked)", got, want)
	}
}

// TestIMAPAckDuringDownload: acks run on their own connection, so they
// complete while the main connection is held (as Next holds it for a whole
// download): the messages are moved and the acks return; the book takes
// them when the main lock is let go, and the cursor follows.
func TestIMAPAckDuringDownload(t *testing.T) {
	const n = 3
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			s, cursors, _, tks := ackSource(t, srv, testOptions(t, srv), n)
			s.mu.Lock()
			held := true
			defer func() {
				if held {
					s.unlock()
				}
			}()
			res := make(chan error, n)
			for _, tk := range tks {
				go func() { res <- tk.ack(context.Background(), Processed) }()
			}
			for range n {
				select {
				case err := <-res:
					if err != nil {
						t.Errorf("ack: %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("an ack did not complete while the main connection is held")
				}
			}
			var raws [][]byte
			for _, tk := range tks {
				raws = append(raws, tk.raw)
			}
			checkFolder(t, srv, DefaultIMAPProcessedFolder, raws...)
			checkFolder(t, srv, "INBOX")
			held = false
			s.unlock()
			for _, tk := range tks {
				tk.item.Release()
			}
			wantCursorAt(t, s, cursors, tks[n-1], "the last UID")
			nothingNew(t, s)
		})
	}
}

// wantCursorAt checks that the stored cursor is at tk's UID; why says
// which UID that is, for the failure message.
func wantCursorAt(t *testing.T, s *IMAPSource, cursors *memCursors, tk taken, why string) {
	t.Helper()
	if got, want := storedCursor(s, cursors).LastUID, tk.item.Coordinates[CoordUID]; strconv.Itoa(int(got)) != want {
		t.Errorf("stored cursor at %d, want %s (%s)", got, want, why)
	}
}
