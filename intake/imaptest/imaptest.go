// Package imaptest starts real IMAP servers on loopback for tests: go-imap's
// in-process imapmemserver (StartMem) and a real Dovecot with its own
// configuration in a temporary directory (StartDovecot). Both hand back a
// Server with the address, a test user and helpers to APPEND messages and to
// look at mailboxes from the outside, so one test table runs against both.
//
// It is test support only: nothing in the service imports it.
package imaptest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Server is a running IMAP server with one user.
type Server struct {
	// Kind is "mem" or "dovecot", for test names.
	Kind string
	// Host and Port of the plain-text (or STARTTLS) listener.
	Host string
	Port int
	// TLSPort is the implicit-TLS listener, 0 when there is none.
	TLSPort int
	// User and Password of the test account.
	User, Password string
	// Token is the bearer token the server accepts for XOAUTH2 and
	// OAUTHBEARER, empty when it offers neither.
	Token string
	// Faithful reports whether FETCH BODY[] returns the appended bytes
	// unchanged. Dovecot does (for CRLF input). imapmemserver re-serialises
	// the header block and returns an empty body when it cannot parse it,
	// so tests compare against what it serves (Look), not what was appended.
	Faithful bool
	// RootCAs trusts the server's self-signed certificate (TLS servers only).
	RootCAs *x509.CertPool

	mem *memState // nil for Dovecot
}

// Addr is Host:Port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Dial returns a client logged in as the test user, closed at the end of the
// test. It is the "outside view" a test uses to append and inspect.
func (s *Server) Dial(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		t.Fatalf("imaptest: dial %s: %v", s.Kind, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatalf("imaptest: login %s: %v", s.Kind, err)
	}
	return c
}

// Append stores raw in mailbox (created if missing) and returns its UID.
// The bytes are sent as they are; callers that want what an MTA would
// deliver pass CRLF line endings (see CRLF).
func (s *Server) Append(t testing.TB, mailbox string, raw []byte) imap.UID {
	t.Helper()
	c := s.Dial(t)
	defer c.Logout()
	uid, err := appendTo(c, mailbox, raw)
	if err != nil {
		t.Fatalf("imaptest: append to %s on %s: %v", mailbox, s.Kind, err)
	}
	return uid
}

// AppendWith appends on an existing client, for tests that append many.
func AppendWith(c *imapclient.Client, mailbox string, raw []byte) (imap.UID, error) {
	return appendTo(c, mailbox, raw)
}

func appendTo(c *imapclient.Client, mailbox string, raw []byte) (imap.UID, error) {
	// imapmemserver's Append panics on nil options: always pass a value.
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return 0, fmt.Errorf("write literal: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return 0, fmt.Errorf("close literal: %w", err)
	}
	data, err := cmd.Wait()
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
		if err := c.Create(mailbox, nil).Wait(); err != nil {
			return 0, fmt.Errorf("create %s: %w", mailbox, err)
		}
		return appendTo(c, mailbox, raw)
	}
	if err != nil {
		return 0, err
	}
	if data.UID == 0 {
		// Without UIDPLUS there is no APPENDUID: the last UID is the one.
		st, err := c.Status(mailbox, &imap.StatusOptions{UIDNext: true}).Wait()
		if err != nil {
			return 0, fmt.Errorf("status after append: %w", err)
		}
		return st.UIDNext - 1, nil
	}
	return data.UID, nil
}

// Mailbox is what a test sees in a folder: each message's UID, flags and
// bytes.
type Mailbox struct {
	UIDValidity uint32
	Messages    []Message
}

// Message is one message of a Mailbox.
type Message struct {
	UID   imap.UID
	Flags []imap.Flag
	Raw   []byte
}

// HasFlag reports whether the message carries flag (case-insensitively, as
// IMAP compares keywords).
func (m Message) HasFlag(flag imap.Flag) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(string(f), string(flag)) {
			return true
		}
	}
	return false
}

// Look returns the content of mailbox, read with EXAMINE so that nothing
// changes; a missing mailbox returns ok=false.
func (s *Server) Look(t testing.TB, mailbox string) (mb Mailbox, ok bool) {
	t.Helper()
	c := s.Dial(t)
	defer c.Logout()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Type == imap.StatusResponseTypeNo {
			return Mailbox{}, false
		}
		t.Fatalf("imaptest: examine %s on %s: %v", mailbox, s.Kind, err)
	}
	mb.UIDValidity = sel.UIDValidity
	if sel.NumMessages == 0 {
		return mb, true
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{
		UID:         true,
		Flags:       true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("imaptest: fetch %s on %s: %v", mailbox, s.Kind, err)
	}
	for _, m := range msgs {
		var raw []byte
		for _, b := range m.BodySection {
			raw = b.Bytes
		}
		mb.Messages = append(mb.Messages, Message{UID: m.UID, Flags: m.Flags, Raw: raw})
	}
	return mb, true
}

// Recreate deletes mailbox and creates it again, which gives it a new
// UIDVALIDITY (RFC 9051 §2.3.1.1: UIDs of a re-created mailbox must not be
// mistaken for the old ones). Its messages are lost; the test appends again.
func (s *Server) Recreate(t testing.TB, mailbox string) {
	t.Helper()
	c := s.Dial(t)
	defer c.Logout()
	if err := c.Delete(mailbox).Wait(); err != nil {
		t.Fatalf("imaptest: delete %s on %s: %v", mailbox, s.Kind, err)
	}
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		t.Fatalf("imaptest: create %s on %s: %v", mailbox, s.Kind, err)
	}
}

// CRLF returns raw with every line ending as CRLF, which is how a message
// arrives over SMTP (RFC 5321 §2.3.8) and so how a mail server stores it.
// Dovecot hands LF-only messages back with CRLF; tests compare against this
// form.
func CRLF(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+len(raw)/40)
	for i, b := range raw {
		if b == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	return out
}

// CorpusDir returns the shared MIME corpus (…/shared/corpus/mime beside the
// repository). A missing corpus fails the test under CI=true and skips it
// otherwise.
func CorpusDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			corpus := filepath.Join(dir, "..", "shared", "corpus", "mime")
			if _, err := os.Stat(corpus); err != nil {
				Missing(t, fmt.Sprintf("MIME corpus %s: %v", corpus, err))
			}
			return corpus
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("imaptest: no go.mod above %s", wd)
		}
	}
}

// Missing reports that something a test needs is not there: a failure under
// CI=true (CI must run every real-server test), a skip otherwise.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("imaptest: %s (CI=true: real-server tests must not skip)", what)
	}
	t.Skipf("imaptest: %s", what)
}

// waitPort waits until addr accepts connections or the deadline passes.
// This is readiness polling of a server we started, not a timing assertion.
func waitPort(addr string, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(end) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
