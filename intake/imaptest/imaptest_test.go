package imaptest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestServers checks the harness itself on both servers: an appended message
// comes back byte for byte, and Recreate changes UIDVALIDITY.
func TestServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *Server
	}{
		{"mem", func(t *testing.T) *Server { return StartMem(t, nil) }},
		{"dovecot", func(t *testing.T) *Server { return StartDovecot(t, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			raw := CRLF([]byte("From: a@example.org\nSubject: test\nMessage-ID: <1@example.org>\n\nbody\n"))
			uid := srv.Append(t, "Depots", raw)
			mb, ok := srv.Look(t, "Depots")
			if !ok || len(mb.Messages) != 1 || mb.Messages[0].UID != uid {
				t.Fatalf("Look(Depots) = %+v, %v; want one message with UID %d", mb, ok, uid)
			}
			if !bytes.Equal(mb.Messages[0].Raw, raw) {
				t.Errorf("message bytes = %q, want %q", mb.Messages[0].Raw, raw)
			}
			srv.Recreate(t, "Depots")
			mb2, _ := srv.Look(t, "Depots")
			if mb2.UIDValidity == mb.UIDValidity || len(mb2.Messages) != 0 {
				t.Errorf("after Recreate: UIDVALIDITY %d -> %d, %d messages; want a new UIDVALIDITY and none", mb.UIDValidity, mb2.UIDValidity, len(mb2.Messages))
			}
			if _, ok := srv.Look(t, "Absent"); ok {
				t.Errorf("Look(Absent) found a mailbox")
			}
		})
	}
}

// TestCorpusRoundTrip appends every corpus message (in CRLF form) to Dovecot
// and reads it back unchanged: the precondition of the IMAP source's
// byte-exact tests. (imapmemserver is not Faithful: see Server.Faithful.)
func TestCorpusRoundTrip(t *testing.T) {
	dir := CorpusDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.eml"))
	if len(files) == 0 {
		Missing(t, "no .eml in "+dir)
	}
	for _, kind := range []string{"dovecot"} {
		t.Run(kind, func(t *testing.T) {
			var srv *Server
			if kind == "mem" {
				srv = StartMem(t, nil)
			} else {
				srv = StartDovecot(t, nil)
			}
			c := srv.Dial(t)
			want := map[uint32][]byte{}
			names := map[uint32]string{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				raw := CRLF(b)
				uid, err := AppendWith(c, "INBOX", raw)
				if err != nil {
					t.Errorf("append %s: %v", f, err)
					continue
				}
				want[uint32(uid)] = raw
				names[uint32(uid)] = f
			}
			mb, _ := srv.Look(t, "INBOX")
			for _, m := range mb.Messages {
				if !bytes.Equal(m.Raw, want[uint32(m.UID)]) {
					t.Errorf("%s: %d bytes back, %d appended", names[uint32(m.UID)], len(m.Raw), len(want[uint32(m.UID)]))
				}
			}
		})
	}
}
