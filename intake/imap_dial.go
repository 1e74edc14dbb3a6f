package intake

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// imapConn is one authenticated connection with the folder selected.
type imapConn struct {
	c        *imapclient.Client
	caps     imap.CapSet
	selected bool   // the folder is selected (read-write)
	validity uint32 // UIDVALIDITY of the folder when last selected
	// uidNext: every UID below it is in the session's view of the folder.
	// Set from UIDNEXT at SELECT (0 if the server did not say); raised by
	// syncViewLocked once a NOOP has shown the session newer messages.
	uidNext imap.UID
	// keywords: the folder accepts new keywords (PERMANENTFLAGS \*).
	keywords bool
	// folders known to exist (created or listed) on this connection.
	folders map[string]bool
	idle    *imapclient.IdleCommand // running IDLE, nil otherwise
	noIdle  bool                    // the server refused IDLE: poll
	// broken: a command timed out or failed below IMAP (I/O, protocol);
	// the connection must not be used again.
	broken bool
}

// errIMAPTimeout: the server did not answer a command in time.
var errIMAPTimeout = errors.New("imap: no answer in time")

// await runs wait (a command's Wait) and gives up when ctx is done or the
// timeout passes, closing the connection: a server that does not answer is
// dead to us (the watchdog). A timeout of 0 waits for ctx only. Errors
// other than a tagged NO/BAD mark the connection broken.
func (conn *imapConn) await(ctx context.Context, what string, timeout time.Duration, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case err := <-done:
		var ierr *imap.Error
		if err != nil && !errors.As(err, &ierr) {
			conn.broken = true
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		conn.broken = true
		conn.c.Close()
		<-done
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case <-expired:
		conn.broken = true
		conn.c.Close()
		<-done
		return fmt.Errorf("%s: %w after %s", what, errIMAPTimeout, timeout)
	}
}

// deadCause says why conn must not be used again; nil when it may.
func (conn *imapConn) deadCause() error {
	select {
	case <-conn.c.Closed():
		return errors.New("connection closed by the server")
	default:
	}
	if conn.broken {
		return errors.New("connection broken")
	}
	return nil
}

// logout ends conn: LOGOUT, answered or not within timeout, then close.
func (conn *imapConn) logout(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn.await(ctx, "LOGOUT", 0, func() error { return conn.c.Logout().Wait() })
	conn.c.Close()
}

// connLocked returns the live connection, or dials a new one.
func (s *IMAPSource) connLocked(ctx context.Context) (*imapConn, error) {
	if s.conn != nil {
		cause := s.conn.deadCause()
		if cause == nil {
			s.stopIdleLocked() // drops the connection if IDLE does not end cleanly
			if s.conn != nil {
				if cause = s.conn.deadCause(); cause == nil {
					return s.conn, nil
				}
			}
		}
		s.dropLocked(cause)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	s.metricConnected()
	s.log.Info().Msg("imap: connected")
	return conn, nil
}

// dropLocked forgets the connection after a failure; the next use redials.
func (s *IMAPSource) dropLocked(cause error) {
	if s.conn == nil {
		return
	}
	s.conn.c.Close()
	s.conn = nil
	s.metricDropped()
	s.log.Warn().Err(cause).Msg("imap: connection dropped")
}

// dial connects, secures and authenticates; the folder is selected on
// demand (selectLocked).
func (s *IMAPSource) dial(ctx context.Context) (conn *imapConn, err error) {
	o := &s.opts
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	d := net.Dialer{Timeout: o.CommandTimeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	if s.wrapConn != nil {
		raw = s.wrapConn(raw)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = strings.Trim(o.Host, "[]")
	}
	cliOpts := &imapclient.Options{
		TLSConfig: tlsConf,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// EXISTS: new mail (during IDLE or in any response). Runs in the
			// client's reader goroutine: never block here.
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					s.poke()
				}
			},
		},
	}

	var c *imapclient.Client
	switch o.TLS {
	case IMAPImplicitTLS:
		if tlsConf.NextProtos == nil {
			tlsConf.NextProtos = []string{"imap"}
		}
		tc := tls.Client(raw, tlsConf)
		hctx, cancel := context.WithTimeout(ctx, o.CommandTimeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("imap dial %s: TLS: %w", addr, err)
		}
		c = imapclient.New(tc, cliOpts)
	case IMAPStartTLS:
		// NewStartTLS sends STARTTLS before reading anything else and
		// refuses PREAUTH in clear (RFC 9051 §7.1.4). It has no context:
		// bound it by closing the socket.
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		raw.SetDeadline(time.Now().Add(o.CommandTimeout))
		c, err = imapclient.NewStartTLS(raw, cliOpts)
		stop()
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("imap dial %s: STARTTLS: %w", addr, err)
		}
		raw.SetDeadline(time.Time{})
	default: // IMAPPlain, loopback only (checked in setDefaults)
		c = imapclient.New(raw, cliOpts)
	}
	conn = &imapConn{c: c, folders: make(map[string]bool)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	if err := conn.await(ctx, "greeting", o.CommandTimeout, c.WaitGreeting); err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	if err := s.authenticate(ctx, conn); err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	if err := conn.await(ctx, "CAPABILITY", o.CommandTimeout, func() error {
		conn.caps = c.Caps()
		if conn.caps == nil {
			return errors.New("no capabilities")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	return conn, nil
}

// authenticate logs in with the configured mechanism. The token is read
// again each time, so a refreshed token is picked up at the next connection.
func (s *IMAPSource) authenticate(ctx context.Context, conn *imapConn) error {
	o := &s.opts
	c := conn.c
	var caps imap.CapSet
	if err := conn.await(ctx, "CAPABILITY", o.CommandTimeout, func() error {
		caps = c.Caps()
		return nil
	}); err != nil {
		return err
	}
	if o.Auth == IMAPAuthLogin {
		if caps.Has(imap.CapLoginDisabled) {
			return errors.New("server refuses LOGIN (LOGINDISABLED)")
		}
		return conn.await(ctx, "LOGIN", o.CommandTimeout, c.Login(o.Username, o.Password).Wait)
	}

	token, err := s.token(ctx)
	if err != nil {
		return err
	}
	var client sasl.Client
	var mech string
	switch o.Auth {
	case IMAPAuthOAuthBearer:
		mech = sasl.OAuthBearer
		client = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
			Username: o.Username, Token: token, Host: o.Host, Port: o.Port,
		})
	case IMAPAuthXOAuth2:
		mech = XOAuth2
		client = NewXOAuth2Client(o.Username, token)
	}
	if caps != nil && !caps.Has(imap.AuthCap(mech)) {
		return fmt.Errorf("server does not offer AUTH=%s", mech)
	}
	// On a rejected token the SASL client returns the server's error
	// challenge as an error; the exchange is then unfinished and the
	// connection is closed by our caller, which is what we want anyway.
	return conn.await(ctx, "AUTHENTICATE "+mech, o.CommandTimeout, func() error { return c.Authenticate(client) })
}

// token reads the bearer token from TokenFile or TokenCommand. It is never
// logged.
func (s *IMAPSource) token(ctx context.Context) (string, error) {
	o := &s.opts
	var b []byte
	if o.TokenFile != "" {
		var err error
		if b, err = os.ReadFile(o.TokenFile); err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, o.CommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(cctx, "/bin/sh", "-c", o.TokenCommand)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			// stderr may help the operator; keep it short, it is not the token.
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return "", fmt.Errorf("token command: %w (%s)", err, msg)
		}
		b = out
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("empty bearer token")
	}
	return tok, nil
}

// selectLocked selects the folder (read-write: acks need it) unless it is
// selected already, and records its UIDVALIDITY and whether it takes
// keywords.
func (s *IMAPSource) selectLocked(ctx context.Context, conn *imapConn) error {
	if conn.selected {
		return nil
	}
	var data *imap.SelectData
	err := conn.await(ctx, "SELECT", s.opts.CommandTimeout, func() error {
		var err error
		data, err = conn.c.Select(s.opts.Folder, nil).Wait()
		return err
	})
	if err != nil {
		return err
	}
	conn.selected = true
	conn.validity = data.UIDValidity
	conn.uidNext = data.UIDNext
	conn.keywords = false
	for _, f := range data.PermanentFlags {
		if f == imap.FlagWildcard || strings.EqualFold(string(f), s.opts.Keyword) {
			conn.keywords = true
		}
	}
	if s.opts.PostAction == PostActionKeyword && !conn.keywords {
		return fmt.Errorf("folder %q does not accept keywords (no \\* in PERMANENTFLAGS): use post-action move", s.opts.Folder)
	}
	return nil
}

// unselectLocked leaves the folder (UNSELECT, RFC 3691: unlike CLOSE it
// expunges nothing), so that STATUS sees the folder as it is: on the
// selected mailbox Dovecot answers STATUS from the session's stale view
// ("OK [CLIENTBUG]") and misses a recreated folder. A server without
// UNSELECT keeps the folder selected and STATUS is asked anyway.
func (s *IMAPSource) unselectLocked(ctx context.Context, conn *imapConn) error {
	if !conn.selected || !conn.caps.Has(imap.CapUnselect) {
		return nil
	}
	if err := conn.await(ctx, "UNSELECT", s.opts.CommandTimeout, conn.c.Unselect().Wait); err != nil {
		return err
	}
	conn.selected = false
	return nil
}
