package intake

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"recevable/intake/imaptest"
)

// connects reports whether the source can connect, authenticate and scan.
func connects(s *IMAPSource) error {
	_, _, _, err := s.take(context.Background())
	return err
}

// TestIMAPTLS: implicit TLS and STARTTLS against a server with a
// certificate the client trusts; an untrusted certificate is refused.
func TestIMAPTLS(t *testing.T) {
	srv := imaptest.StartMem(t, &imaptest.MemOptions{TLS: true})
	srv.Append(t, "INBOX", msg(1))
	for _, tc := range []struct {
		name    string
		mode    IMAPTLS
		port    int
		trusted bool
	}{
		{"tls", IMAPImplicitTLS, srv.TLSPort, true},
		{"starttls", IMAPStartTLS, srv.Port, true},
		{"tls/untrusted", IMAPImplicitTLS, srv.TLSPort, false},
		{"starttls/untrusted", IMAPStartTLS, srv.Port, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, srv)
			o.TLS, o.Port = tc.mode, tc.port
			if tc.trusted {
				o.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
			}
			s := newSource(t, o, newMemCursors())
			if !tc.trusted {
				if err := connects(s); err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("connect with an untrusted certificate: %v, want a certificate error", err)
				}
				return
			}
			tk := next(t, s)
			if !bytes.Equal(tk.raw, msg(1)) {
				t.Errorf("item differs from the appended message")
			}
			tk.item.Release()
		})
	}
}

// TestIMAPPlainOnlyLoopback: no clear-text IMAP to a remote host.
func TestIMAPPlainOnlyLoopback(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true}, {"localhost", true}, {"::1", true}, {"[::1]", true}, {"127.0.0.53", true},
		{"imap.example.org", false}, {"10.0.0.1", false}, {"localhost.example.org", false},
	} {
		_, err := NewIMAP(IMAPOptions{Host: tc.host, TLS: IMAPPlain, Username: "u", Password: "p"}, newMemCursors())
		if (err == nil) != tc.ok {
			t.Errorf("NewIMAP(plain, %q) error = %v, want ok=%v", tc.host, err, tc.ok)
		}
	}
	if _, err := NewIMAP(IMAPOptions{Host: "imap.example.org", TLS: IMAPStartTLS, Username: "u", Password: "p"}, newMemCursors()); err != nil {
		t.Errorf("NewIMAP(starttls, remote) = %v", err)
	}
}

// TestIMAPBearer: XOAUTH2 and OAUTHBEARER against servers that check the
// token — the memserver with an independent server-side implementation and
// Dovecot's oauth2 passdb asking a token introspection endpoint — with the
// token from a file (re-read at each connection) or a command.
func TestIMAPBearer(t *testing.T) {
	const token = "ya29.jeton-de-test"
	starts := []server{
		{"mem", func(t *testing.T) *imaptest.Server { return imaptest.StartMem(t, &imaptest.MemOptions{Token: token}) }},
		{"dovecot", func(t *testing.T) *imaptest.Server {
			return imaptest.StartDovecot(t, &imaptest.DovecotOptions{Token: token})
		}},
	}
	for _, sv := range starts {
		srv := sv.start(t)
		srv.Append(t, "INBOX", msg(1))
		for _, mech := range []IMAPAuth{IMAPAuthXOAuth2, IMAPAuthOAuthBearer} {
			t.Run(sv.name+"/"+string(mech), func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "token")
				o := testOptions(t, srv)
				o.Auth, o.Password, o.TokenFile = mech, "", file

				if err := os.WriteFile(file, []byte("expired-token\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				s := newSource(t, o, newMemCursors())
				if err := connects(s); err == nil {
					t.Fatalf("authenticated with a wrong token")
				}
				// The refresher writes a new token: the next attempt reads it.
				if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := connects(s); err != nil {
					t.Fatalf("with the refreshed token: %v", err)
				}

				o.TokenFile, o.TokenCommand = "", "printf '%s\\n' "+token
				s2 := newSource(t, o, newMemCursors())
				if err := connects(s2); err != nil {
					t.Fatalf("token command: %v", err)
				}
				o.TokenCommand = "echo refresh failed >&2; exit 3"
				s3 := newSource(t, o, newMemCursors())
				if err := connects(s3); err == nil || !strings.Contains(err.Error(), "token command") {
					t.Fatalf("failing token command: %v", err)
				}
			})
		}
	}
}

// TestIMAPLoginRefused: a wrong password is an error from the connection
// attempt (Next retries it with backoff).
func TestIMAPLoginRefused(t *testing.T) {
	for _, sv := range servers() {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			o := testOptions(t, srv)
			o.Password = "wrong"
			if err := connects(newSource(t, o, newMemCursors())); err == nil {
				t.Fatalf("logged in with a wrong password")
			}
		})
	}
}

// TestXOAuth2InitialResponse: the initial response of Google's
// specification example (developers.google.com/gmail/imap/xoauth2-protocol),
// base64 as sent on the wire.
func TestXOAuth2InitialResponse(t *testing.T) {
	c := NewXOAuth2Client("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	const want = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
	if got := base64.StdEncoding.EncodeToString(ir); mech != "XOAUTH2" || got != want {
		t.Errorf("Start() = %s %s, want XOAUTH2 %s", mech, got, want)
	}
	// The server's error challenge becomes the error.
	_, err = c.Next([]byte(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`))
	var xe *XOAuth2Error
	if !errors.As(err, &xe) || xe.Status != "401" {
		t.Errorf("Next(error challenge) = %v, want *XOAuth2Error status 401", err)
	}
	if _, _, err := NewXOAuth2Client("a\x01b", "t").Start(); err == nil {
		t.Errorf("Start accepted a \\x01 in the username")
	}
}
