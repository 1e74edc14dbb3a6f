package intake

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

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
	// Metrics, shared by the IMAP sources of the process; nil: none.
	Metrics *IMAPMetrics
}

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
