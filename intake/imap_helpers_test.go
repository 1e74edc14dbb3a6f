package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
)

// memCursors is a CursorStore in memory with the same optimistic
// concurrency as the bucket one: test scaffolding standing in for the
// storage package's adapter.
type memCursors struct {
	mu   sync.Mutex
	c    map[string]Cursor
	v    map[string]int
	puts int
}

func newMemCursors() *memCursors {
	return &memCursors{c: map[string]Cursor{}, v: map[string]int{}}
}

func (m *memCursors) Get(_ context.Context, id string) (Cursor, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.v[id]
	if !ok {
		return Cursor{}, "", nil
	}
	return m.c[id], strconv.Itoa(v), nil
}

func (m *memCursors) Put(_ context.Context, id string, c Cursor, version string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := ""
	if v, ok := m.v[id]; ok {
		cur = strconv.Itoa(v)
	}
	if cur != version {
		return "", ErrCursorConflict
	}
	m.v[id]++
	m.c[id] = c
	m.puts++
	return strconv.Itoa(m.v[id]), nil
}

func (m *memCursors) get(id string) Cursor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c[id]
}

// server is one kind of IMAP server the tests run against.
type server struct {
	name  string
	start func(t *testing.T) *imaptest.Server
}

// servers are the real IMAP peers of the table tests: the in-process
// memserver and a real Dovecot.
func servers() []server {
	return []server{
		{"mem", func(t *testing.T) *imaptest.Server { return imaptest.StartMem(t, nil) }},
		{"dovecot", func(t *testing.T) *imaptest.Server { return imaptest.StartDovecot(t, nil) }},
	}
}

// testOptions are options for srv with a fast rhythm for tests.
func testOptions(t *testing.T, srv *imaptest.Server) IMAPOptions {
	return IMAPOptions{
		Name:           "test",
		Host:           srv.Host,
		Port:           srv.Port,
		TLS:            IMAPPlain,
		Username:       srv.User,
		Password:       srv.Password,
		PollInterval:   time.Minute,
		SpoolDir:       t.TempDir(),
		CommandTimeout: 20 * time.Second,
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		Logger:         zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}
}

func newSource(t *testing.T, o IMAPOptions, cursors CursorStore) *IMAPSource {
	t.Helper()
	s, err := NewIMAP(o, cursors)
	if err != nil {
		t.Fatalf("NewIMAP: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// taken is an item read back whole.
type taken struct {
	item Item
	ack  Ack
	raw  []byte
}

// next takes one item within a generous bound and reads it.
func next(t *testing.T, s *IMAPSource) taken {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	item, ack, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return taken{item: item, ack: ack, raw: readItem(t, item)}
}

func readItem(t *testing.T, item Item) []byte {
	t.Helper()
	r, err := item.Open()
	if err != nil {
		return nil
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read item: %v", err)
	}
	return b
}

// nothingNew asserts, without waiting, that a scan finds nothing to take.
func nothingNew(t *testing.T, s *IMAPSource) {
	t.Helper()
	item, _, ok, err := s.take(context.Background())
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	if ok {
		t.Fatalf("take yielded uid %s, want nothing new", item.Coordinates[CoordUID])
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func ack(t *testing.T, tk taken, d Disposition) {
	t.Helper()
	if err := tk.ack(context.Background(), d); err != nil {
		t.Fatalf("ack uid %s: %v", tk.item.Coordinates[CoordUID], err)
	}
	tk.item.Release()
}

// storedCursor is the cursor in the store once the source's background
// cursor writes are over (acks return before their cursor is written).
func storedCursor(s *IMAPSource, cursors *memCursors) Cursor {
	s.cw.bg.Wait()
	return cursors.get(s.ID())
}

// moveFallbacks are the servers without MOVE: with UIDPLUS the source
// expunges what it copied, without it leaves the messages \Deleted.
var moveFallbacks = []struct {
	name    string
	caps    imap.CapSet
	expunge bool
}{
	{"rev1+uidplus", imaptest.Rev1UIDPlus(), true},
	{"rev1", imaptest.Rev1Only(), false},
}
