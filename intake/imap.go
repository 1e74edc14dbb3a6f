package intake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The IMAP source: one mailbox folder of one account, read by UID against a
// stored cursor, each message spooled to disk and yielded with an ack that
// moves it (or flags it) at the server once its raw bytes are stored.
// arrêté 2023-08-01 art. 4: the prefecture's dedicated email address is one
// of the two substitute filing routes.
//
// Files: imap.go (options, Next, Close), imap_dial.go (TLS, authentication),
// imap_cursor.go (cursor, scan), imap_fetch.go (streaming fetch to the
// spool), imap_postaction.go (ack: move or keyword), imap_idle.go (IDLE,
// polling, watchdog, backoff), xoauth2.go (the XOAUTH2 SASL client).

// IMAPTLS says how the connection is secured.
type IMAPTLS string

const (
	// IMAPImplicitTLS: TLS from the first byte (port 993). The default.
	IMAPImplicitTLS IMAPTLS = "tls"
	// IMAPStartTLS: plain connection upgraded with STARTTLS before anything
	// else (port 143).
	IMAPStartTLS IMAPTLS = "starttls"
	// IMAPPlain: no TLS at all. Refused unless Host is a loopback address
	// (tests, or a local TLS-terminating proxy).
	IMAPPlain IMAPTLS = "plain"
)

// IMAPAuth says how the source authenticates.
type IMAPAuth string

const (
	// IMAPAuthLogin: the IMAP LOGIN command with Username and Password. The
	// default.
	IMAPAuthLogin IMAPAuth = "login"
	// IMAPAuthOAuthBearer: SASL OAUTHBEARER (RFC 7628) with a bearer token.
	IMAPAuthOAuthBearer IMAPAuth = "oauthbearer"
	// IMAPAuthXOAuth2: SASL XOAUTH2 (Google, Microsoft 365) with a bearer
	// token.
	IMAPAuthXOAuth2 IMAPAuth = "xoauth2"
)

// IMAPPostAction is what an ack does to the message at the server.
type IMAPPostAction string

const (
	// PostActionMove moves the message to ProcessedFolder or
	// QuarantineFolder. The default: the inbox then only holds what is still
	// to be taken, and staff see the outcome as a folder.
	PostActionMove IMAPPostAction = "move"
	// PostActionKeyword leaves the message in place and sets Keyword or
	// QuarantineKeyword on it; flagged messages are not taken again. For
	// mailboxes that staff sort by hand. The server must accept keywords
	// (PERMANENTFLAGS \*).
	PostActionKeyword IMAPPostAction = "keyword"
)

// Defaults of IMAPOptions.
const (
	DefaultIMAPFolder            = "INBOX"
	DefaultIMAPProcessedFolder   = "Recevable-traites"
	DefaultIMAPQuarantineFolder  = "Recevable-quarantaine"
	DefaultIMAPKeyword           = "$RecevableProcessed"
	DefaultIMAPQuarantineKeyword = "$RecevableQuarantined"
	DefaultIMAPPollInterval      = time.Minute
	DefaultIMAPMaxMessageSize    = 50 << 20 // DESIGN.md, Limits: message ≤ 50 MB
	DefaultIMAPCommandTimeout    = time.Minute
	DefaultIMAPMinBackoff        = time.Second
	DefaultIMAPMaxBackoff        = 5 * time.Minute
)

// IMAPOptions configure one IMAP source: one folder of one account.
type IMAPOptions struct {
	// Name labels the account in the source id ("imap:<Name>/<Folder>") and
	// in logs, e.g. "pref-75". Default: Username@Host.
	Name string
	// Host and Port of the server. Port defaults to 993 with TLS "tls" and
	// to 143 otherwise.
	Host string
	Port int
	// TLS mode: "tls" (default), "starttls" or "plain" (loopback only).
	TLS IMAPTLS
	// TLSConfig, optional: root CAs, client certificates. ServerName
	// defaults to Host. Never set InsecureSkipVerify in production.
	TLSConfig *tls.Config
	// Auth: "login" (default), "oauthbearer" or "xoauth2".
	Auth     IMAPAuth
	Username string
	// Password for Auth "login".
	Password string
	// TokenFile or TokenCommand give the bearer token for the OAuth
	// mechanisms. Either is read again at every authentication, so that an
	// external refresher (or the command itself) keeps it fresh. The command
	// runs with /bin/sh -c and prints the token on stdout.
	TokenFile    string
	TokenCommand string
	// Folder to read. Default "INBOX".
	Folder string
	// PostAction: "move" (default) or "keyword".
	PostAction IMAPPostAction
	// ProcessedFolder and QuarantineFolder receive acked messages with
	// PostAction "move"; created when missing. Defaults
	// "Recevable-traites" and "Recevable-quarantaine".
	ProcessedFolder  string
	QuarantineFolder string
	// Keyword and QuarantineKeyword mark acked messages with PostAction
	// "keyword" (and, with "move", messages a server without UIDPLUS could
	// not expunge). Defaults "$RecevableProcessed", "$RecevableQuarantined".
	Keyword           string
	QuarantineKeyword string
	// PollInterval between checks when IDLE is off or unavailable; with IDLE
	// it is the safety-net check (capped at 25 minutes, RFC 2177 §3). Default
	// one minute.
	PollInterval time.Duration
	// IDLE waits for new mail with the IDLE command when the server offers
	// it (RFC 2177), so that a message is taken within a second or two.
	// Turn it on in production.
	IDLE bool
	// MaxMessageSize: larger messages are not downloaded; they are yielded
	// as oversize items (see ErrOversize). Default 50 MiB.
	MaxMessageSize int64
	// SpoolDir holds the downloaded messages until they are released.
	// Default os.TempDir(). It holds personal data: keep it private.
	SpoolDir string
	// CommandTimeout bounds each IMAP command (a silent server is dropped
	// and reconnected). Default one minute; body downloads get more time in
	// proportion to their size.
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, doubled at each consecutive failure. Defaults 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the source's logs: ids and hashes only.
	Logger zerolog.Logger
}

// Errors of the IMAP source.
var (
	// ErrOversize: the message is over MaxMessageSize and was not
	// downloaded. An oversize item's Open returns a *PermanentError with
	// Limit "message_size" wrapping ErrOversize; the worker quarantines it
	// and acks it Quarantined, which moves it to the quarantine folder.
	ErrOversize = errors.New("message over the size limit")
	// ErrUIDValidityChanged: the folder's UIDVALIDITY changed after the item
	// was taken, so its UID may now name another message; the ack did
	// nothing. The message is offered again under the new UIDVALIDITY (the
	// pipeline deduplicates it).
	ErrUIDValidityChanged = errors.New("imap: UIDVALIDITY changed")
	// ErrSourceClosed is returned by Next after Close.
	ErrSourceClosed = errors.New("intake: source closed")
)

// IMAPSource reads one IMAP folder. Next is called by one goroutine at a
// time; acks and releases may come from other goroutines. It implements
// Source.
type IMAPSource struct {
	opts    IMAPOptions
	id      string
	cursors CursorStore
	log     zerolog.Logger

	wake      chan struct{} // new mail, or an ack ended IDLE: look again
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex // the connection and the book; held for every command
	conn     *imapConn  // nil when disconnected
	book     uidBook
	failures int // consecutive failed attempts, for the backoff (Next only)
}

var _ Source = (*IMAPSource)(nil)

// NewIMAP checks opts and returns a source; it does not connect (the first
// Next does). cursors keeps the {UIDVALIDITY, last UID} cursor between runs.
func NewIMAP(opts IMAPOptions, cursors CursorStore) (*IMAPSource, error) {
	if cursors == nil {
		return nil, errors.New("imap: no cursor store")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &IMAPSource{
		opts:    opts,
		id:      "imap:" + opts.Name + "/" + opts.Folder,
		cursors: cursors,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	s.log = opts.Logger.With().Str("source", s.id).Logger()
	s.book.init()
	return s, nil
}

// ID is the source id carried by every item: "imap:<Name>/<Folder>".
func (s *IMAPSource) ID() string { return s.id }

func (o *IMAPOptions) setDefaults() error {
	if o.Host == "" {
		return errors.New("imap: no host")
	}
	if o.TLS == "" {
		o.TLS = IMAPImplicitTLS
	}
	switch o.TLS {
	case IMAPImplicitTLS, IMAPStartTLS:
	case IMAPPlain:
		if !isLoopback(o.Host) {
			return fmt.Errorf("imap: plain-text IMAP to %q refused: without TLS the password and the dossiers would cross the network in clear; use tls or starttls (plain is for loopback only)", o.Host)
		}
	default:
		return fmt.Errorf("imap: unknown TLS mode %q (tls, starttls, plain)", o.TLS)
	}
	if o.Port == 0 {
		o.Port = 143
		if o.TLS == IMAPImplicitTLS {
			o.Port = 993
		}
	}
	if o.Auth == "" {
		o.Auth = IMAPAuthLogin
	}
	if o.Username == "" {
		return errors.New("imap: no username")
	}
	switch o.Auth {
	case IMAPAuthLogin:
		if o.Password == "" {
			return errors.New("imap: auth login needs a password")
		}
	case IMAPAuthOAuthBearer, IMAPAuthXOAuth2:
		if (o.TokenFile == "") == (o.TokenCommand == "") {
			return fmt.Errorf("imap: auth %s needs exactly one of token file and token command", o.Auth)
		}
	default:
		return fmt.Errorf("imap: unknown auth %q (login, oauthbearer, xoauth2)", o.Auth)
	}
	if o.Name == "" {
		o.Name = o.Username + "@" + o.Host
	}
	if o.Folder == "" {
		o.Folder = DefaultIMAPFolder
	}
	if o.PostAction == "" {
		o.PostAction = PostActionMove
	}
	if o.ProcessedFolder == "" {
		o.ProcessedFolder = DefaultIMAPProcessedFolder
	}
	if o.QuarantineFolder == "" {
		o.QuarantineFolder = DefaultIMAPQuarantineFolder
	}
	if o.Keyword == "" {
		o.Keyword = DefaultIMAPKeyword
	}
	if o.QuarantineKeyword == "" {
		o.QuarantineKeyword = DefaultIMAPQuarantineKeyword
	}
	switch o.PostAction {
	case PostActionMove:
		if o.ProcessedFolder == o.Folder || o.QuarantineFolder == o.Folder {
			return fmt.Errorf("imap: the processed and quarantine folders must differ from the folder read (%q)", o.Folder)
		}
	case PostActionKeyword:
	default:
		return fmt.Errorf("imap: unknown post-action %q (move, keyword)", o.PostAction)
	}
	for _, kw := range []string{o.Keyword, o.QuarantineKeyword} {
		if !isKeyword(kw) {
			return fmt.Errorf("imap: %q is not an IMAP keyword (RFC 9051 §9: an atom, no \\)", kw)
		}
	}
	if o.Keyword == o.QuarantineKeyword {
		return errors.New("imap: keyword and quarantine keyword must differ")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultIMAPPollInterval
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultIMAPMaxMessageSize
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if fi, err := os.Stat(o.SpoolDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("imap: spool directory %q: not a directory (%v)", o.SpoolDir, err)
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultIMAPCommandTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultIMAPMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultIMAPMaxBackoff, o.MinBackoff)
	}
	return nil
}

// Next returns the next message of the folder, waiting for one (IDLE or
// polling) as long as ctx allows. Connection failures are retried here
// with capped exponential backoff and logged; Next returns an error only
// when ctx is done or the source is closed.
//
// The item's Open reads the spooled copy; Release deletes it and, if the
// item was not acked, lets the message be offered again after the next
// wait. The Ack moves (or flags) the message; see IMAPSource.ack.
func (s *IMAPSource) Next(ctx context.Context) (Item, Ack, error) {
	for {
		select {
		case <-s.closing:
			return Item{}, nil, ErrSourceClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return Item{}, nil, err
		}
		item, ack, ok, err := s.take(ctx)
		if err == nil && ok {
			s.failures = 0
			return item, ack, nil
		}
		if err == nil {
			s.failures = 0
			err = s.wait(ctx)
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return Item{}, nil, ctx.Err()
		}
		if errors.Is(err, ErrSourceClosed) {
			return Item{}, nil, err
		}
		if err := s.backoff(ctx, err); err != nil {
			return Item{}, nil, err
		}
	}
}

// take connects if needed, scans when nothing is queued, and downloads the
// first queued message. ok is false when the folder has nothing new.
func (s *IMAPSource) take(ctx context.Context) (Item, Ack, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connLocked(ctx)
	if err != nil {
		return Item{}, nil, false, err
	}
	scanned := false
	for {
		if len(s.book.queue) == 0 {
			if scanned {
				return Item{}, nil, false, nil
			}
			if err := s.scanLocked(ctx, conn); err != nil {
				if conn.broken {
					s.dropLocked(err)
				}
				return Item{}, nil, false, err
			}
			scanned = true
			continue
		}
		// The queue was built under the book's UIDVALIDITY: after a
		// reconnection, make sure the folder still has it.
		if err := s.selectLocked(ctx, conn); err != nil {
			if conn.broken {
				s.dropLocked(err)
			}
			return Item{}, nil, false, err
		}
		if conn.validity != s.book.cursor.UIDValidity {
			if scanned {
				return Item{}, nil, false, fmt.Errorf("imap: UIDVALIDITY changing under us (%d, then %d)", s.book.cursor.UIDValidity, conn.validity)
			}
			s.book.queue = nil // the scan will reset the book
			continue
		}
		uid := s.book.queue[0]
		s.book.queue = s.book.queue[1:]
		item, ack, found, err := s.fetchLocked(ctx, conn, uid)
		switch {
		case err != nil && conn.broken:
			s.dropLocked(err)
			return Item{}, nil, false, err
		case err != nil:
			// The server refused this one message (NO): try the others,
			// and this one again after the next wait.
			s.book.abandoned[uid] = struct{}{}
			s.log.Warn().Err(err).Uint32("uid", uint32(uid)).Msg("imap: message not fetched, will retry")
			continue
		case !found:
			s.book.gone(uid) // expunged by someone else meanwhile
			s.persistLocked(ctx)
			continue
		}
		return item, ack, true, nil
	}
}

// Close ends the source: a Next waiting in IDLE returns ErrSourceClosed, the
// connection is logged out, and the cursor is written if it moved. Items
// already yielded may still be acked (on a new connection).
func (s *IMAPSource) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.stopIdleLocked()
		conn := s.conn
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
		conn.await(ctx, "LOGOUT", 0, func() error { return conn.c.Logout().Wait() })
		cancel()
		conn.c.Close()
		s.conn = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
	defer cancel()
	s.persistLocked(ctx)
	return nil
}

// poke wakes a Next waiting for mail, without blocking.
func (s *IMAPSource) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// isKeyword: flag-keyword = atom (RFC 9051 §9), and not a system flag.
func isKeyword(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}
