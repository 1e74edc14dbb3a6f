package main

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// IMAPConfig is the imap section.
type IMAPConfig struct {
	Accounts []IMAPAccount `yaml:"accounts" doc:"One entry per mailbox account polled."`
}

// TLS modes of an IMAP connection.
const (
	TLSImplicit = "tls"      // TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // STARTTLS upgrade (port 143)
	TLSNone     = "none"     // clear text: loopback only
)

// IMAP authentication mechanisms.
const (
	AuthLogin       = "login"       // LOGIN with username and password
	AuthOAuthBearer = "oauthbearer" // SASL OAUTHBEARER (RFC 7628)
	AuthXOAuth2     = "xoauth2"     // SASL XOAUTH2 (Microsoft, Google)
)

// What happens at the source to a message once its raw bytes are stored.
const (
	PostActionMove    = "move"    // MOVE to processed_folder or quarantine_folder
	PostActionKeyword = "keyword" // leave it and set keyword or quarantine_keyword
)

// IMAPAccount is one mailbox account: an entry of imap.accounts.
type IMAPAccount struct {
	Name              string        `yaml:"name" doc:"Short id of the account (lowercase letters, digits, hyphens), used in logs, metrics and the source of each item."`
	Site              string        `yaml:"site" doc:"Id of the site whose submissions arrive here."`
	Host              string        `yaml:"host" doc:"IMAP server host name."`
	Port              int           `yaml:"port" doc:"Port; 0: 993 with tls, 143 otherwise."`
	TLS               string        `yaml:"tls" doc:"tls (implicit TLS), starttls, or none (only to a loopback address, e.g. a local proxy)."`
	CAFile            string        `yaml:"ca_file" doc:"PEM file of certificate authorities trusted for this server besides the system's (e.g. the ministry's internal CA)."`
	Auth              string        `yaml:"auth" doc:"login (username and password), oauthbearer or xoauth2 (username and a token from token_file or token_command)."`
	Username          string        `yaml:"username" doc:"Account name."`
	Password          Secret        `yaml:"password" doc:"Password, with auth login."`
	TokenFile         string        `yaml:"token_file" doc:"With oauthbearer or xoauth2: file holding the current access token, read again at each connection (kept fresh by another process)."`
	TokenCommand      []string      `yaml:"token_command" doc:"With oauthbearer or xoauth2, instead of token_file: program and arguments printing an access token on its standard output, run at each connection."`
	Folders           []string      `yaml:"folders" doc:"Folders polled for new submissions."`
	PostAction        string        `yaml:"post_action" doc:"What is done to a message once stored: move (to processed_folder or quarantine_folder) or keyword (set keyword or quarantine_keyword and leave it where it is). Nothing is ever deleted."`
	ProcessedFolder   string        `yaml:"processed_folder" doc:"With move: folder receiving processed messages (created if missing)."`
	QuarantineFolder  string        `yaml:"quarantine_folder" doc:"With move: folder receiving quarantined messages (created if missing)."`
	Keyword           string        `yaml:"keyword" doc:"With keyword: IMAP keyword set on processed messages."`
	QuarantineKeyword string        `yaml:"quarantine_keyword" doc:"With keyword: IMAP keyword set on quarantined messages."`
	PollInterval      time.Duration `yaml:"poll_interval" doc:"Time between two polls of each folder (also the resynchronisation interval with idle)."`
	Idle              bool          `yaml:"idle" doc:"Wait for new messages with IDLE when the server supports it, for prompt pickup."`
	MaxMessageMB      int           `yaml:"max_message_mb" doc:"Largest message taken from this account, in MiB; 0: limits.message_mb."`
	Timeout           time.Duration `yaml:"timeout" doc:"Network timeout for connecting and for each command."`
}

// Addr is host:port with the port defaulted from the TLS mode.
func (a IMAPAccount) Addr() string {
	port := a.Port
	if port == 0 {
		port = 143
		if a.TLS == TLSImplicit {
			port = 993
		}
	}
	return net.JoinHostPort(a.Host, fmt.Sprint(port))
}

// MessageLimit is the largest message taken from the account, in bytes.
func (a IMAPAccount) MessageLimit(l Limits) int64 {
	if a.MaxMessageMB > 0 {
		return int64(a.MaxMessageMB) << 20
	}
	return l.MessageBytes()
}

func (a *IMAPAccount) validate(c *checker, p string, sites map[string]bool) {
	validName(c, p+".name", a.Name)
	validSiteRef(c, p+".site", a.Site, sites)
	if a.Host == "" {
		c.errorf(p+".host", "required")
	}
	if a.Port < 0 || a.Port > 65535 {
		c.errorf(p+".port", "%d is not a port number", a.Port)
	}
	switch a.TLS {
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		// A password or token in clear text leaves the machine otherwise.
		if a.Host != "" && !isLoopbackHost(a.Host) {
			c.errorf(p+".tls", "none is only allowed to a loopback host, not %q: use tls or starttls", a.Host)
		}
	default:
		c.errorf(p+".tls", "%q: want tls, starttls or none", a.TLS)
	}
	if a.Username == "" {
		c.errorf(p+".username", "required")
	}
	switch a.Auth {
	case AuthLogin:
		requireSecret(c, p+".password", a.Password, "with auth login")
		if a.TokenFile != "" || len(a.TokenCommand) > 0 {
			c.warnf(p+".auth", "login uses password: token_file and token_command are ignored")
		}
	case AuthOAuthBearer, AuthXOAuth2:
		switch {
		case a.TokenFile == "" && len(a.TokenCommand) == 0:
			c.errorf(p+".token_file", "token_file or token_command is required with auth %s", a.Auth)
		case a.TokenFile != "" && len(a.TokenCommand) > 0:
			c.errorf(p+".token_command", "give token_file or token_command, not both")
		case len(a.TokenCommand) > 0 && a.TokenCommand[0] == "":
			c.errorf(p+".token_command[0]", "the program must not be empty")
		}
	default:
		c.errorf(p+".auth", "%q: want login, oauthbearer or xoauth2", a.Auth)
	}
	if len(a.Folders) == 0 {
		c.errorf(p+".folders", "at least one folder is required")
	}
	watched := map[string]int{}
	for i, f := range a.Folders {
		fp := fmt.Sprintf("%s.folders[%d]", p, i)
		if strings.TrimSpace(f) == "" {
			c.errorf(fp, "must not be empty")
		} else if j, dup := watched[f]; dup {
			c.errorf(fp, "%q is already folders[%d]", f, j)
		}
		watched[f] = i
	}
	switch a.PostAction {
	case PostActionMove:
		for _, f := range []struct{ field, name string }{
			{"processed_folder", a.ProcessedFolder}, {"quarantine_folder", a.QuarantineFolder},
		} {
			if f.name == "" {
				c.errorf(p+"."+f.field, "required with post_action move")
			} else if _, ok := watched[f.name]; ok {
				// Moving into a polled folder would take the message again.
				c.errorf(p+"."+f.field, "%q is also in folders", f.name)
			}
		}
		if a.ProcessedFolder != "" && a.ProcessedFolder == a.QuarantineFolder {
			c.errorf(p+".quarantine_folder", "must differ from processed_folder")
		}
	case PostActionKeyword:
		validKeyword(c, p+".keyword", a.Keyword)
		validKeyword(c, p+".quarantine_keyword", a.QuarantineKeyword)
		if a.Keyword != "" && strings.EqualFold(a.Keyword, a.QuarantineKeyword) {
			c.errorf(p+".quarantine_keyword", "must differ from keyword")
		}
	default:
		c.errorf(p+".post_action", "%q: want move or keyword", a.PostAction)
	}
	minDuration(c, p+".poll_interval", a.PollInterval, 5*time.Second)
	minDuration(c, p+".timeout", a.Timeout, time.Second)
	if a.MaxMessageMB < 0 {
		c.errorf(p+".max_message_mb", "must not be negative")
	}
}

// validKeyword checks an IMAP flag keyword: an atom (RFC 3501 §9,
// flag-keyword) that is not a system flag.
func validKeyword(c *checker, p, k string) {
	if k == "" {
		c.errorf(p, "required with post_action keyword")
		return
	}
	if k[0] == '\\' {
		c.errorf(p, "%q is a system flag, not a keyword", k)
		return
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) {
			c.errorf(p, "%q is not an IMAP keyword (an atom of printable ASCII without (){%%*\"\\])", k)
			return
		}
	}
}
