package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/rs/zerolog"

	"recevable/storage"
)

// The demo's mailbox: an IMAP server in this process (go-imap's memory
// backend) on a loopback port, standing for the prefecture's dedicated
// address (arrêté 2023-08-01 art. 4 al. 4). It starts empty at each run and
// is seeded before the workers start; what the workers did with the
// messages (moved to the processed folder) is lost when the demo stops —
// the bucket is what remembers.

// demoMailbox is the running server and its one account.
type demoMailbox struct {
	User     string
	Password string
	Port     int

	user    *imapmemserver.User
	server  *imapserver.Server
	ln      net.Listener
	done    chan struct{}
	closing atomic.Bool
}

// demoIMAPUser is the account of the demo's mailbox.
const demoIMAPUser = "titres-sejour"

// demoIMAPAccount is the name of the account in the demo's configuration;
// the source polling its INBOX is demoIMAPSource (intake.IMAPSource.ID).
const (
	demoIMAPAccount = "demo-imap"
	demoIMAPSource  = "imap:" + demoIMAPAccount + "/INBOX"
)

// startDemoMailbox starts the server on 127.0.0.1 with an empty INBOX and a
// random password.
func startDemoMailbox(log zerolog.Logger) (*demoMailbox, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("demo mailbox: password: %w", err)
	}
	m := &demoMailbox{User: demoIMAPUser, Password: hex.EncodeToString(pw), done: make(chan struct{})}
	mem := imapmemserver.New()
	m.user = imapmemserver.NewUser(m.User, m.Password)
	if err := m.user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("demo mailbox: create INBOX: %w", err)
	}
	mem.AddUser(m.user)
	m.server = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		// Loopback only: the password never leaves the machine, which is
		// what the configuration's tls: none allows (config_imap.go).
		InsecureAuth: true,
		Logger:       imapLogger{log.With().Str("component", "demo-imap").Logger()},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo mailbox: listen: %w", err)
	}
	m.ln = ln
	m.Port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		defer close(m.done)
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && !m.closing.Load() {
			log.Warn().Err(err).Msg("demo mailbox stopped")
		}
	}()
	return m, nil
}

// Deliver appends a message to INBOX, as the mail server does when an
// applicant's email arrives, dated at (the IMAP internal date, which the
// pipeline takes as the day of receipt).
func (m *demoMailbox) Deliver(msg []byte, at time.Time) error {
	// imapmemserver's Append dereferences its options: never pass nil.
	if _, err := m.user.Append("INBOX", bytes.NewReader(msg), &imap.AppendOptions{Time: at}); err != nil {
		return fmt.Errorf("demo mailbox: append: %w", err)
	}
	return nil
}

// Waiting is the number of messages still in INBOX: the workers move each
// one out once it is stored and processed.
func (m *demoMailbox) Waiting() (int, error) {
	st, err := m.user.Status("INBOX", &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0, fmt.Errorf("demo mailbox: status: %w", err)
	}
	if st.NumMessages == nil {
		return 0, errors.New("demo mailbox: status without a message count")
	}
	return int(*st.NumMessages), nil
}

// Close stops the server and closes its connections.
func (m *demoMailbox) Close() error {
	m.closing.Store(true)
	err := m.server.Close()
	// Serve may not have registered the listener yet, in which case the
	// server's Close did not close it.
	m.ln.Close()
	<-m.done
	return err
}

// imapLogger sends the server's error messages to the demo's log.
type imapLogger struct{ log zerolog.Logger }

func (l imapLogger) Printf(format string, args ...any) {
	l.log.Debug().Msgf(format, args...)
}

// forgetDemoCursor resets the IMAP cursor of the demo's source. The memory
// server starts each run with UIDVALIDITY 1 and UIDs from 1, which a real
// server never does to a mailbox with a history (RFC 9051 §2.3.1.1): left
// as it is, the previous run's cursor would make the poller skip the new
// mailbox's messages as already seen. Deduplication, not the cursor, is
// what keeps their second delivery from making dossiers.
func forgetDemoCursor(ctx context.Context, b storage.Bucket, source string, now time.Time) error {
	cursors := storage.Cursors{Bucket: b}
	cur, etag, err := cursors.Get(ctx, source)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = cursors.Put(ctx, source, storage.Cursor{UIDValidity: cur.UIDValidity, UpdatedAt: now.UTC()}, etag)
	return err
}
