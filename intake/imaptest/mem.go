package imaptest

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// MemOptions configure StartMem. The zero value is an IMAP4rev2 server
// (MOVE, UIDPLUS, IDLE…) without TLS, with LOGIN.
type MemOptions struct {
	// Caps replaces the advertised capabilities; nil means IMAP4rev1 and
	// IMAP4rev2. Rev1Only() is a bare IMAP4rev1 server.
	Caps imap.CapSet
	// TLS adds STARTTLS on the main port and an implicit-TLS port
	// (Server.TLSPort), with a self-signed certificate for 127.0.0.1
	// trusted by Server.RootCAs.
	TLS bool
	// Token, when set, enables AUTH=XOAUTH2 and AUTH=OAUTHBEARER, which
	// accept this bearer token for the test user.
	Token string
}

// Rev1Only is the capability set of a bare IMAP4rev1 server: no MOVE, no
// UIDPLUS. (imapserver still adds IDLE, UNSELECT and the like, which need no
// backend support.)
func Rev1Only() imap.CapSet { return imap.CapSet{imap.CapIMAP4rev1: {}} }

// Rev1UIDPlus is IMAP4rev1 with UIDPLUS but without MOVE: the server on which
// a move is COPY + STORE \Deleted + UID EXPUNGE.
func Rev1UIDPlus() imap.CapSet {
	return imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
}

// memState is what a test can change in a running memserver.
type memState struct {
	refuseCopy atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartMem starts an imapmemserver on 127.0.0.1:0 with a user and an empty
// INBOX. It stops at the end of the test.
func StartMem(t testing.TB, opts *MemOptions) *Server {
	t.Helper()
	if opts == nil {
		opts = &MemOptions{}
	}
	const user, password = "depot", "mot-de-passe-de-test"

	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatalf("imaptest: create INBOX: %v", err)
	}
	mem.AddUser(u)

	st := &memState{conns: make(map[net.Conn]struct{})}
	done := new(atomic.Bool)
	caps := opts.Caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	srvOpts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &memSession{Session: mem.NewSession(), st: st, user: user, password: password, token: opts.Token}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true, // loopback tests; the client under test enforces TLS elsewhere
		Logger:       testLogger{t: t, done: done},
	}
	srv := &Server{Kind: "mem", Host: "127.0.0.1", User: user, Password: password, Token: opts.Token, mem: st}
	if opts.TLS {
		cert, pool := selfSigned(t)
		srvOpts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.RootCAs = pool
	}
	server := imapserver.New(srvOpts)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: listen: %v", err)
	}
	srv.Port = ln.Addr().(*net.TCPAddr).Port
	go server.Serve(&trackingListener{Listener: ln, st: st})
	if opts.TLS {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("imaptest: listen tls: %v", err)
		}
		srv.TLSPort = tln.Addr().(*net.TCPAddr).Port
		go server.Serve(tls.NewListener(&trackingListener{Listener: tln, st: st}, srvOpts.TLSConfig))
	}
	t.Cleanup(func() {
		done.Store(true)
		server.Close()
	})
	return srv
}

// RefuseCopy makes COPY and MOVE fail with NO (as a server over quota does)
// until called again with false. Memserver only.
func (s *Server) RefuseCopy(t testing.TB, refuse bool) {
	t.Helper()
	if s.mem == nil {
		t.Fatalf("imaptest: RefuseCopy is for the memserver")
	}
	s.mem.refuseCopy.Store(refuse)
}

// DropConnections cuts every open client connection, as a network failure
// or a server restart would. Memserver only.
func (s *Server) DropConnections(t testing.TB) {
	t.Helper()
	if s.mem == nil {
		t.Fatalf("imaptest: DropConnections is for the memserver")
	}
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	for c := range s.mem.conns {
		c.Close()
	}
}

type trackingListener struct {
	net.Listener
	st *memState
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.st.mu.Lock()
	l.st.conns[c] = struct{}{}
	l.st.mu.Unlock()
	return &trackedConn{Conn: c, st: l.st}, nil
}

type trackedConn struct {
	net.Conn
	st *memState
}

func (c *trackedConn) Close() error {
	c.st.mu.Lock()
	delete(c.st.conns, c.Conn)
	c.st.mu.Unlock()
	return c.Conn.Close()
}

// memSession wraps the memserver's session to refuse COPY on demand and to
// offer the bearer-token mechanisms.
type memSession struct {
	imapserver.Session
	st             *memState
	user, password string
	token          string
}

var errCopyRefused = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeOverQuota,
	Text: "Quota exceeded (imaptest refuses COPY)",
}

func (s *memSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if s.st.refuseCopy.Load() {
		return nil, errCopyRefused
	}
	return s.Session.Copy(numSet, dest)
}

func (s *memSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.st.refuseCopy.Load() {
		return errCopyRefused
	}
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}

// Idle works around a race of imapmemserver (go-imap v2.0.0-beta.8): the
// server sends "+ idling" before the session registers for updates, and an
// update queued in between is only delivered with the next one. Like
// Dovecot's mailbox_idle_check_interval, re-check every 50 ms. The client
// under test still learns of new mail only from the server's EXISTS.
func (s *memSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		inner := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- s.Session.Idle(w, inner) }()
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-stop:
			t.Stop()
			close(inner)
			return <-done
		case err := <-done:
			t.Stop()
			return err
		case <-t.C:
			close(inner)
			if err := <-done; err != nil {
				return err
			}
			if err := s.Session.Poll(w, true); err != nil {
				return err
			}
		}
	}
}

func (s *memSession) Namespace() (*imap.NamespaceData, error) {
	return s.Session.(imapserver.SessionNamespace).Namespace()
}

func (s *memSession) AuthenticateMechanisms() []string {
	if s.token == "" {
		return []string{sasl.Plain}
	}
	return []string{sasl.Plain, "XOAUTH2", sasl.OAuthBearer}
}

func (s *memSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return imapserver.ErrAuthFailed
			}
			return s.Login(username, password)
		}), nil
	case "XOAUTH2":
		if s.token != "" {
			return &xoauth2Server{check: s.checkToken}, nil
		}
	case sasl.OAuthBearer:
		if s.token != "" {
			return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
				if err := s.checkToken(o.Username, o.Token); err != nil {
					return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
				}
				return nil
			}), nil
		}
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported mechanism"}
}

// checkToken accepts the configured token for the test user and logs the
// session in.
func (s *memSession) checkToken(user, token string) error {
	if user != s.user || token != s.token {
		return imapserver.ErrAuthFailed
	}
	return s.Login(s.user, s.password)
}

// testLogger sends the server's error log to the test log, and drops it once
// the test is over (t.Logf would panic then).
type testLogger struct {
	t    testing.TB
	done *atomic.Bool
}

func (l testLogger) Printf(format string, args ...any) {
	if !l.done.Load() {
		l.t.Logf("imapserver: "+format, args...)
	}
}
