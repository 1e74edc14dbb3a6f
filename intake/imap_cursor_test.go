package intake

import (
	"context"
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"

	"recevable/storage"
)

// TestUIDBook: the cursor never passes an unacked UID, and the "n:*" answer
// of UID SEARCH (which always includes the last message) is filtered.
func TestUIDBook(t *testing.T) {
	var b uidBook
	b.init()
	b.reset(7)
	b.cursor.LastUID, b.scannedTo = 5, 5

	// UID SEARCH UID 6:* on a folder whose last UID is 5 answers 5.
	b.found([]imap.UID{5}, 5)
	if len(b.queue) != 0 {
		t.Fatalf("queue %v after a search answering only the last (old) UID, want empty", b.queue)
	}

	b.found([]imap.UID{6, 7, 9}, 9)
	if want := []imap.UID{6, 7, 9}; !equalUIDs(b.queue, want) {
		t.Fatalf("queue %v, want %v", b.queue, want)
	}
	for _, u := range b.queue {
		b.inflight[u] = &imapFlight{uid: u, validity: 7}
	}
	b.done(7)
	b.done(9)
	if b.cursor.LastUID != 5 {
		t.Errorf("cursor %d with uid 6 unacked, want 5", b.cursor.LastUID)
	}
	b.done(6)
	if b.cursor.LastUID != 9 {
		t.Errorf("cursor %d after 6, 7, 9 acked, want 9", b.cursor.LastUID)
	}
	if len(b.acked) != 0 {
		t.Errorf("acked set %v not trimmed below the cursor", b.acked)
	}

	// A message that vanished before being taken does not hold the cursor.
	b.found([]imap.UID{10, 11}, 11)
	b.gone(10)
	if b.cursor.LastUID != 10 {
		t.Errorf("cursor %d after uid 10 vanished (11 pending), want 10", b.cursor.LastUID)
	}
}

func equalUIDs(a, b []imap.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMessageID extracts Message-IDs from FETCH BODY[HEADER.FIELDS
// (MESSAGE-ID)] answers.
func TestMessageID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Message-ID: <a.b@example.org>\r\n\r\n", "a.b@example.org"},
		{"Message-Id:\r\n <folded@example.org>\r\n\r\n", "folded@example.org"},
		{"message-id: <x@y> (comment)\r\n\r\n", "x@y"},
		{"Message-ID: bare@example.org\r\n\r\n", "bare@example.org"},
		{"\r\n", ""},
		{"", ""},
		{"Message-ID: <é@example.org>\r\n\r\n", ""},
		{"Message-ID: <>\r\n\r\n", ""},
	} {
		if got := messageID([]byte(tc.in)); got != tc.want {
			t.Errorf("messageID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBucketCursors: the adapter over storage.Cursors on the filesystem
// bucket: absent → zero, versions, conflicts.
func TestBucketCursors(t *testing.T) {
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cs := BucketCursors{Cursors: storage.Cursors{Bucket: fs}}
	ctx := context.Background()
	const id = "imap:pref-75/INBOX"
	c, v, err := cs.Get(ctx, id)
	if err != nil || c != (Cursor{}) || v != "" {
		t.Fatalf("Get(absent) = %+v %q %v, want zero", c, v, err)
	}
	v1, err := cs.Put(ctx, id, Cursor{UIDValidity: 3, LastUID: 10}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Put(ctx, id, Cursor{UIDValidity: 3, LastUID: 11}, ""); !errors.Is(err, ErrCursorConflict) {
		t.Errorf("second create: %v, want ErrCursorConflict", err)
	}
	if _, err := cs.Put(ctx, id, Cursor{UIDValidity: 3, LastUID: 12}, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Put(ctx, id, Cursor{UIDValidity: 3, LastUID: 13}, v1); !errors.Is(err, ErrCursorConflict) {
		t.Errorf("stale version: %v, want ErrCursorConflict", err)
	}
	if c, _, err := cs.Get(ctx, id); err != nil || c != (Cursor{UIDValidity: 3, LastUID: 12}) {
		t.Errorf("Get = %+v %v, want {3 12}", c, err)
	}
}
