package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/emersion/go-imap/v2"

	"recevable/intake/imaptest"
)

// TestIMAPCorpus: every corpus message appended is yielded exactly once,
// with exactly the server's bytes, acked into the processed folder without
// \Seen; the cursor ends on the last UID and a second source run finds
// nothing.
func TestIMAPCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(imaptest.CorpusDir(t), "*", "*.eml"))
	if len(files) == 0 {
		imaptest.Missing(t, "no .eml files in the corpus")
	}
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			c := srv.Dial(t)
			want := map[string]string{} // uid -> sha256 of the bytes the server holds
			names := map[string]string{}
			var lastUID imap.UID
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				raw := imaptest.CRLF(b) // as delivered over SMTP
				uid, err := imaptest.AppendWith(c, "INBOX", raw)
				if err != nil {
					t.Fatalf("append %s: %v", f, err)
				}
				want[strconv.Itoa(int(uid))] = sha(raw)
				names[strconv.Itoa(int(uid))] = filepath.Base(f)
				lastUID = max(lastUID, uid)
			}
			if !srv.Faithful {
				// imapmemserver rewrites some messages on FETCH: compare with
				// what it serves to any client.
				inbox, _ := srv.Look(t, "INBOX")
				for _, m := range inbox.Messages {
					want[strconv.Itoa(int(m.UID))] = sha(m.Raw)
				}
			}

			cursors := newMemCursors()
			o := testOptions(t, srv)
			s := newSource(t, o, cursors)
			seen := map[string]bool{}
			for range files {
				tk := next(t, s)
				uid := tk.item.Coordinates[CoordUID]
				if seen[uid] {
					t.Fatalf("uid %s (%s) yielded twice", uid, names[uid])
				}
				seen[uid] = true
				if got := sha(tk.raw); got != want[uid] {
					t.Errorf("%s: item bytes sha256 %s, server holds %s", names[uid], got, want[uid])
				}
				if tk.item.Size != int64(len(tk.raw)) {
					t.Errorf("%s: Size %d, read %d bytes", names[uid], tk.item.Size, len(tk.raw))
				}
				if tk.item.Source != "imap:test/INBOX" || tk.item.Coordinates[CoordMailbox] != "INBOX" || tk.item.Coordinates[CoordUIDValidity] == "" {
					t.Errorf("%s: source %q coordinates %v", names[uid], tk.item.Source, tk.item.Coordinates)
				}
				ack(t, tk, Processed)
			}
			nothingNew(t, s)

			inbox, _ := srv.Look(t, "INBOX")
			if len(inbox.Messages) != 0 {
				t.Errorf("INBOX holds %d messages after acking all, want 0", len(inbox.Messages))
			}
			done, ok := srv.Look(t, DefaultIMAPProcessedFolder)
			if !ok || len(done.Messages) != len(files) {
				t.Fatalf("processed folder: %d messages (exists %v), want %d", len(done.Messages), ok, len(files))
			}
			for _, m := range done.Messages {
				if m.HasFlag(imap.FlagSeen) {
					t.Errorf("a processed message is \\Seen: the fetch must PEEK")
					break
				}
			}
			if got := storedCursor(s, cursors); got.LastUID != uint32(lastUID) || got.UIDValidity == 0 {
				t.Errorf("stored cursor %+v, want LastUID %d", got, lastUID)
			}

			// A new run (restart) with the stored cursor takes nothing.
			s2 := newSource(t, o, cursors)
			nothingNew(t, s2)
		})
	}
}

// TestIMAPMessageID: the Message-ID travels in the coordinates.
func TestIMAPMessageID(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	srv.Append(t, "INBOX", imaptest.CRLF([]byte("Message-ID:\n <abc.123@prefecture.example>\nSubject: x\n\nbody\n")))
	s := newSource(t, testOptions(t, srv), newMemCursors())
	tk := next(t, s)
	if got := tk.item.Coordinates[CoordMessageID]; got != "abc.123@prefecture.example" {
		t.Errorf("message_id = %q, want abc.123@prefecture.example", got)
	}
}

// TestIMAPDispositions: with post-action move, Processed and Quarantined
// land in their folders (created on first use); with keyword, messages stay
// and carry the keyword, and are not taken again even without a cursor.
func TestIMAPDispositions(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name+"/move", func(t *testing.T) {
			srv := sv.start(t)
			a := srv.Append(t, "INBOX", msg(1))
			b := srv.Append(t, "INBOX", msg(2))
			s := newSource(t, testOptions(t, srv), newMemCursors())
			tks := map[imap.UID]taken{}
			for range 2 {
				tk := next(t, s)
				uid, _ := strconv.Atoi(tk.item.Coordinates[CoordUID])
				tks[imap.UID(uid)] = tk
			}
			ack(t, tks[a], Processed)
			ack(t, tks[b], Quarantined)
			checkFolder(t, srv, "INBOX")
			checkFolder(t, srv, DefaultIMAPProcessedFolder, msg(1))
			checkFolder(t, srv, DefaultIMAPQuarantineFolder, msg(2))
		})
		t.Run(sv.name+"/keyword", func(t *testing.T) {
			srv := sv.start(t)
			a := srv.Append(t, "INBOX", msg(1))
			b := srv.Append(t, "INBOX", msg(2))
			srv.Append(t, "INBOX", msg(3))
			o := testOptions(t, srv)
			o.PostAction = PostActionKeyword
			s := newSource(t, o, newMemCursors())
			for range 3 {
				tk := next(t, s)
				switch tk.item.Coordinates[CoordUID] {
				case fmt.Sprint(a):
					ack(t, tk, Processed)
				case fmt.Sprint(b):
					ack(t, tk, Quarantined)
				default:
					tk.item.Release() // not acked: must come again
				}
			}
			inbox, _ := srv.Look(t, "INBOX")
			if len(inbox.Messages) != 3 {
				t.Fatalf("INBOX has %d messages, want 3 (keyword mode moves nothing)", len(inbox.Messages))
			}
			for _, m := range inbox.Messages {
				wantKw := map[imap.UID]imap.Flag{a: DefaultIMAPKeyword, b: DefaultIMAPQuarantineKeyword}[m.UID]
				for _, kw := range []imap.Flag{DefaultIMAPKeyword, DefaultIMAPQuarantineKeyword} {
					if m.HasFlag(kw) != (kw == wantKw) {
						t.Errorf("uid %d flags %v, want keyword %q only", m.UID, m.Flags, wantKw)
					}
				}
				if m.HasFlag(imap.FlagSeen) {
					t.Errorf("uid %d is \\Seen: the fetch must PEEK", m.UID)
				}
			}
			// Without any cursor, only the unacked third message comes.
			s2 := newSource(t, o, newMemCursors())
			tk := next(t, s2)
			if tk.item.Coordinates[CoordUID] == fmt.Sprint(a) || tk.item.Coordinates[CoordUID] == fmt.Sprint(b) {
				t.Errorf("fresh source yielded acked uid %s", tk.item.Coordinates[CoordUID])
			}
			tk.item.Release()
			nothingNew(t, s2)
		})
	}
}

// TestIMAPMoveFallback: servers without MOVE. With UIDPLUS: COPY, STORE
// \Deleted, UID EXPUNGE. Without UIDPLUS: COPY and \Deleted+keyword, no
// expunge, and the message is not taken again.
func TestIMAPMoveFallback(t *testing.T) {
	for _, tc := range moveFallbacks {
		t.Run(tc.name, func(t *testing.T) {
			srv := imaptest.StartMem(t, &imaptest.MemOptions{Caps: tc.caps})
			srv.Append(t, "INBOX", msg(1))
			srv.Append(t, "INBOX", msg(2)) // a bystander, never acked
			o := testOptions(t, srv)
			s := newSource(t, o, newMemCursors())
			tk := next(t, s)
			other := next(t, s)
			other.item.Release()
			ack(t, tk, Processed)
			checkFolder(t, srv, DefaultIMAPProcessedFolder, msg(1))
			inbox, _ := srv.Look(t, "INBOX")
			if !bytes.Equal(tk.raw, msg(1)) || !bytes.Equal(other.raw, msg(2)) {
				t.Fatalf("items out of UID order")
			}
			if tc.expunge {
				checkFolder(t, srv, "INBOX", msg(2))
			} else {
				if len(inbox.Messages) != 2 {
					t.Fatalf("INBOX has %d messages, want 2 (no UIDPLUS: nothing expunged)", len(inbox.Messages))
				}
				m := inbox.Messages[0]
				if !m.HasFlag(imap.FlagDeleted) || !m.HasFlag(DefaultIMAPKeyword) {
					t.Errorf("acked message flags %v, want \\Deleted and %s", m.Flags, DefaultIMAPKeyword)
				}
				if inbox.Messages[1].HasFlag(imap.FlagDeleted) {
					t.Errorf("bystander flagged \\Deleted")
				}
				// A fresh source does not take the acked one again.
				s2 := newSource(t, o, newMemCursors())
				again := next(t, s2)
				if !bytes.Equal(again.raw, other.raw) {
					t.Errorf("fresh source yielded the acked message again")
				}
			}
		})
	}
}

// TestIMAPCopyRefused: when the server refuses the copy (over quota) or the
// target folder cannot be created, the ack fails and the message stays in
// the inbox exactly as it was — never deleted.
func TestIMAPCopyRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		start  func(t *testing.T) *imaptest.Server
		folder string
	}{
		{"mem/move", func(t *testing.T) *imaptest.Server {
			s := imaptest.StartMem(t, nil)
			s.RefuseCopy(t, true)
			return s
		}, ""},
		{"mem/rev1+uidplus", func(t *testing.T) *imaptest.Server {
			s := imaptest.StartMem(t, &imaptest.MemOptions{Caps: imaptest.Rev1UIDPlus()})
			s.RefuseCopy(t, true)
			return s
		}, ""},
		{"mem/rev1", func(t *testing.T) *imaptest.Server {
			s := imaptest.StartMem(t, &imaptest.MemOptions{Caps: imaptest.Rev1Only()})
			s.RefuseCopy(t, true)
			return s
		}, ""},
		// Dovecot refuses mailbox names starting with "~".
		{"dovecot/bad-folder", func(t *testing.T) *imaptest.Server { return imaptest.StartDovecot(t, nil) }, "~refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			raw := msg(1)
			srv.Append(t, "INBOX", raw)
			o := testOptions(t, srv)
			if tc.folder != "" {
				o.ProcessedFolder = tc.folder
			}
			cursors := newMemCursors()
			s := newSource(t, o, cursors)
			tk := next(t, s)
			if err := tk.ack(context.Background(), Processed); err == nil {
				t.Fatalf("ack succeeded, want an error")
			}
			tk.item.Release()
			inbox, _ := srv.Look(t, "INBOX")
			if len(inbox.Messages) != 1 || !bytes.Equal(inbox.Messages[0].Raw, tk.raw) {
				t.Fatalf("INBOX after a failed ack: %d messages, want the message unchanged", len(inbox.Messages))
			}
			if f := inbox.Messages[0].Flags; len(f) != 0 {
				t.Errorf("message flags after a failed ack: %v, want none", f)
			}
			if got := storedCursor(s, cursors); got.LastUID != 0 {
				t.Errorf("cursor advanced to %d past an unacked message", got.LastUID)
			}
			if srv.Kind == "mem" {
				// Once the server accepts copies again, the message comes back
				// (after the wait that follows a release) and the ack works.
				srv.RefuseCopy(t, false)
				s.poke()
				again := next(t, s)
				if !bytes.Equal(again.raw, tk.raw) {
					t.Fatalf("retried item differs")
				}
				ack(t, again, Processed)
				checkFolder(t, srv, DefaultIMAPProcessedFolder, raw)
			}
		})
	}
}

// TestIMAPUIDValidity: when the folder is recreated (new UIDVALIDITY), the
// cursor is reset and every message is offered again; an ack of an item
// taken before the change does nothing and says why.
func TestIMAPUIDValidity(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			srv.Append(t, "Depots", msg(1))
			srv.Append(t, "Depots", msg(2))
			o := testOptions(t, srv)
			o.Folder = "Depots"
			cursors := newMemCursors()
			s := newSource(t, o, cursors)
			first := next(t, s)
			ack(t, first, Processed)
			stale := next(t, s) // taken, not acked before the change
			v1 := first.item.Coordinates[CoordUIDValidity]

			srv.Recreate(t, "Depots")
			srv.Append(t, "Depots", msg(1))
			srv.Append(t, "Depots", msg(2))

			got := map[string]bool{}
			for range 2 {
				tk := next(t, s)
				if tk.item.Coordinates[CoordUIDValidity] == v1 {
					t.Fatalf("item under the old UIDVALIDITY %s after the change", v1)
				}
				got[string(tk.raw)] = true
				defer tk.item.Release()
			}
			if !got[string(msg(1))] || !got[string(msg(2))] {
				t.Errorf("after the UIDVALIDITY change, not both messages were offered again")
			}
			err := stale.ack(context.Background(), Processed)
			if !errors.Is(err, ErrUIDValidityChanged) {
				t.Errorf("ack of a stale item: %v, want ErrUIDValidityChanged", err)
			}
			if c := storedCursor(s, cursors); strconv.FormatUint(uint64(c.UIDValidity), 10) == v1 {
				t.Errorf("stored cursor %+v still under the old UIDVALIDITY", c)
			}
		})
	}
}

// TestIMAPOversize: a message over MaxMessageSize is not downloaded; it is
// yielded with the limit named, Open fails permanently, and its quarantine
// ack moves it to the quarantine folder.
func TestIMAPOversize(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			big := imaptest.CRLF([]byte("Subject: big\n\n" + string(bytes.Repeat([]byte("0123456789abcdef\n"), 400))))
			srv.Append(t, "INBOX", big)
			srv.Append(t, "INBOX", msg(2))
			o := testOptions(t, srv)
			o.MaxMessageSize = 2000
			s := newSource(t, o, newMemCursors())

			ctx := context.Background()
			item, ackFn, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if item.Coordinates[CoordOversize] != "message_size" || item.Coordinates[CoordLimit] != "2000" {
				t.Errorf("coordinates %v, want oversize=message_size limit=2000", item.Coordinates)
			}
			if item.Size != int64(len(big)) {
				t.Errorf("Size %d, want %d", item.Size, len(big))
			}
			if spooled, _ := os.ReadDir(o.SpoolDir); len(spooled) != 0 {
				t.Errorf("oversize message spooled (%d files), want not downloaded", len(spooled))
			}
			_, err = item.Open()
			var perm *PermanentError
			if !errors.As(err, &perm) || perm.Limit != "message_size" || !errors.Is(err, ErrOversize) {
				t.Errorf("Open() error %v, want a PermanentError with Limit message_size wrapping ErrOversize", err)
			}
			if err := ackFn(ctx, Quarantined); err != nil {
				t.Fatal(err)
			}
			item.Release()
			checkFolder(t, srv, DefaultIMAPQuarantineFolder, big)

			small := next(t, s)
			if small.item.Coordinates[CoordOversize] != "" || !bytes.Equal(small.raw, msg(2)) {
				t.Errorf("small message after the big one: coordinates %v", small.item.Coordinates)
			}
			small.item.Release()
		})
	}
}

// TestIMAPAbandoned: an item released without an ack holds the cursor back,
// is not offered again at once, and is offered again after the next wait
// (and by a restarted source).
func TestIMAPAbandoned(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	srv.Append(t, "INBOX", msg(1))
	srv.Append(t, "INBOX", msg(2))
	srv.Append(t, "INBOX", msg(3))
	o := testOptions(t, srv)
	cursors := newMemCursors()
	s := newSource(t, o, cursors)
	one, two, three := next(t, s), next(t, s), next(t, s)
	one.item.Release() // storing failed, say
	ack(t, two, Processed)
	ack(t, three, Processed)
	nothingNew(t, s) // not at once
	if c := storedCursor(s, cursors); c.LastUID != 0 {
		t.Fatalf("cursor at %d with uid 1 unacked, want 0", c.LastUID)
	}

	// A restarted source takes it again.
	s2 := newSource(t, o, cursors)
	again := next(t, s2)
	if !bytes.Equal(again.raw, one.raw) {
		t.Fatalf("restarted source yielded another message")
	}
	again.item.Release()

	// And the first source, after its next wait.
	s.poke()
	retry := next(t, s)
	if !bytes.Equal(retry.raw, one.raw) {
		t.Fatalf("retry yielded another message")
	}
	ack(t, retry, Processed)
	if c := storedCursor(s, cursors); c.LastUID != 3 {
		t.Errorf("cursor at %d after all acked, want 3", c.LastUID)
	}
}

// msg is a small test message, CRLF, distinct per n.
func msg(n int) []byte {
	return imaptest.CRLF([]byte(fmt.Sprintf("From: depot@example.org\nMessage-ID: <%d@example.org>\nSubject: dossier %d\n\nPièces jointes %d.\n", n, n, n)))
}

// checkFolder asserts that folder holds exactly the messages raws.
func checkFolder(t *testing.T, srv *imaptest.Server, folder string, raws ...[]byte) {
	t.Helper()
	mb, ok := srv.Look(t, folder)
	if !ok && len(raws) > 0 {
		t.Fatalf("folder %s does not exist", folder)
	}
	if len(mb.Messages) != len(raws) {
		t.Fatalf("folder %s has %d messages, want %d", folder, len(mb.Messages), len(raws))
	}
	want := map[string]int{}
	for _, r := range raws {
		want[string(r)]++
	}
	for _, m := range mb.Messages {
		want[string(m.Raw)]--
	}
	for _, n := range want {
		if n != 0 {
			t.Errorf("folder %s does not hold the expected messages", folder)
			return
		}
	}
}

// TestIMAPMetaAhead: the metadata of queued messages is fetched ahead, in
// one UID FETCH per 64 messages, not one per message; each body still
// costs its own UID FETCH, and each item carries its own metadata.
func TestIMAPMetaAhead(t *testing.T) {
	const n = 2*64 + 2
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			appendN(t, srv, n)
			s := newSource(t, testOptions(t, srv), newMemCursors())
			wire := countCommands(s)
			for i, tk := range takeAll(t, s, n) {
				if !bytes.Equal(tk.raw, msg(i+1)) || tk.item.Size != int64(len(tk.raw)) {
					t.Errorf("item %d: %d bytes (Size %d), want msg(%d)", i, len(tk.raw), tk.item.Size, i+1)
				}
				if got, want := tk.item.Coordinates[CoordMessageID], fmt.Sprintf("%d@example.org", i+1); got != want {
					t.Errorf("item %d: Message-ID %q, want %q", i, got, want)
				}
				tk.item.Release()
			}
			meta, all := wire.get("UID FETCH metadata"), wire.get("UID FETCH")
			if want := 3; meta != want {
				t.Errorf("%d messages taken with %d metadata FETCH, want %d (commands %v)", n, meta, want, wire)
			}
			if all-meta != n {
				t.Errorf("%d messages taken with %d body FETCH, want %d", n, all-meta, n)
			}
		})
	}
}

// TestIMAPMetaAheadGone: a message whose metadata was fetched ahead but
// which someone else expunged before its body was fetched is skipped, as
// gone; the next one is taken.
func TestIMAPMetaAheadGone(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			appendN(t, srv, 3)
			s := newSource(t, testOptions(t, srv), newMemCursors())
			wire := countCommands(s)
			first := next(t, s) // metadata of all three fetched
			c := srv.Dial(t)
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			two := imap.UIDSetNum(2)
			if err := c.Store(two, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.UIDExpunge(two).Close(); err != nil {
				t.Fatal(err)
			}
			third := next(t, s)
			if !bytes.Equal(first.raw, msg(1)) || !bytes.Equal(third.raw, msg(3)) {
				t.Errorf("took %q then %q, want msg(1) then msg(3)", first.raw, third.raw)
			}
			// One ahead for the three, plus (Dovecot) one to check the
			// expunged message when its body comes back empty.
			if got := wire.get("UID FETCH metadata"); got > 2 {
				t.Errorf("%d metadata FETCH, want at most 2 (fetched ahead)", got)
			}
			first.item.Release()
			third.item.Release()
		})
	}
}

// TestIMAPItemSHA256: an item carries the SHA-256 of its bytes, computed
// while they were spooled, equal to that of what Open returns.
func TestIMAPItemSHA256(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			big := msg(2)
			big = append(big, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 20000)...)
			srv.Append(t, "INBOX", msg(1))
			srv.Append(t, "INBOX", big)
			s := newSource(t, testOptions(t, srv), newMemCursors())
			for range 2 {
				tk := next(t, s)
				if tk.raw == nil || tk.item.SHA256 != sha(tk.raw) {
					t.Errorf("uid %s: SHA256 %q, want %q (of %d bytes read)", tk.item.Coordinates[CoordUID], tk.item.SHA256, sha(tk.raw), len(tk.raw))
				}
				tk.item.Release()
			}
		})
	}
}
