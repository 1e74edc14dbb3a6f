package imaptest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DovecotOptions configure StartDovecot.
type DovecotOptions struct {
	// Token, when set, enables AUTH=XOAUTH2 and AUTH=OAUTHBEARER through
	// Dovecot's oauth2 passdb, which asks an introspection endpoint (RFC 7662)
	// run by the test whether the token is valid.
	Token string
}

// DovecotBinary is where Debian's dovecot-core installs the server; PATH is
// searched when it is not there.
const DovecotBinary = "/usr/sbin/dovecot"

// StartDovecot starts a real Dovecot on 127.0.0.1 with a free port, its own
// configuration, runtime and maildir in a temporary directory, and one user
// (passwd-file). It stops at the end of the test. Without a dovecot binary
// the test fails under CI=true and skips otherwise.
//
// The configuration (Dovecot 2.3, written by dovecotConfig) in short:
// plain-text IMAP on loopback only, LOGIN/PLAIN allowed without TLS, maildir
// under the temp dir, mail owned by the Debian "mail" user when run as root
// (Dovecot refuses to run mail processes as uid 0).
func StartDovecot(t testing.TB, opts *DovecotOptions) *Server {
	t.Helper()
	if opts == nil {
		opts = &DovecotOptions{}
	}
	bin := DovecotBinary
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("dovecot")
		if lerr != nil {
			Missing(t, "dovecot not installed (Debian package dovecot-imapd)")
		}
		bin = p
	}

	// t.TempDir is 0700 root: Dovecot's unprivileged processes could not
	// traverse it, so make our own, world-traversable.
	dir, err := os.MkdirTemp("", "recevable-dovecot-")
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("imaptest: %v", err)
	}

	ids, err := dovecotIdentity()
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	mail := filepath.Join(dir, "mail")
	if err := os.Mkdir(mail, 0o755); err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	if err := os.Chown(mail, ids.mailUID, ids.mailGID); err != nil {
		t.Fatalf("imaptest: chown maildir root: %v", err)
	}

	const user, password = "depot", "mot-de-passe-de-test"
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(user+":{PLAIN}"+password+"\n"), 0o644); err != nil {
		t.Fatalf("imaptest: %v", err)
	}

	var introspection string
	if opts.Token != "" {
		introspection = startIntrospection(t, user, opts.Token)
		ext := "introspection_mode = post\n" +
			"introspection_url = " + introspection + "\n" +
			"username_attribute = username\n" +
			"active_attribute = active\n" +
			"active_value = true\n"
		if err := os.WriteFile(filepath.Join(dir, "oauth2.conf.ext"), []byte(ext), 0o644); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
	}

	port, err := freePort()
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	conf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(conf, []byte(dovecotConfig(dir, port, ids, opts.Token != "")), 0o644); err != nil {
		t.Fatalf("imaptest: %v", err)
	}

	// -F keeps the master in the foreground, so the test owns the process
	// and stops it, rather than chasing a daemon through master.pid.
	cmd := exec.Command(bin, "-F", "-c", conf)
	cmd.Dir = dir
	dieWithParent(cmd)
	logPath := filepath.Join(dir, "dovecot.log")
	if err := cmd.Start(); err != nil {
		t.Fatalf("imaptest: start dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("dovecot.log:\n%s", b)
			}
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ready := make(chan error, 1)
	go func() { ready <- waitPort(addr, 20*time.Second) }()
	select {
	case err := <-ready:
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("imaptest: dovecot does not listen on %s: %v\n%s", addr, err, b)
		}
	case err := <-exited:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("imaptest: dovecot exited: %v\n%s", err, b)
	}
	return &Server{Kind: "dovecot", Host: "127.0.0.1", Port: port, User: user, Password: password, Token: opts.Token, Faithful: true}
}

// identity is who owns the mail and runs Dovecot's unprivileged processes.
type identity struct {
	mailUser         string
	mailUID, mailGID int
	loginUser        string // default_login_user / default_internal_user; "" keeps Dovecot's defaults
}

func dovecotIdentity() (identity, error) {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mail") // Debian: uid 8
		if err != nil {
			return identity{}, fmt.Errorf("user mail: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return identity{mailUser: "mail", mailUID: uid, mailGID: gid}, nil
	}
	// Not root: everything runs as ourselves.
	u, err := user.Current()
	if err != nil {
		return identity{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return identity{mailUser: u.Username, mailUID: uid, mailGID: gid, loginUser: u.Username}, nil
}

func dovecotConfig(dir string, port int, ids identity, oauth bool) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Written by recevable/intake/imaptest for one test run.")
	p("protocols = imap")
	p("listen = 127.0.0.1")
	p("base_dir = %s/run", dir)
	p("state_dir = %s/state", dir)
	p("log_path = %s/dovecot.log", dir)
	p("ssl = no")
	p("disable_plaintext_auth = no")
	if oauth {
		p("auth_mechanisms = plain login xoauth2 oauthbearer")
	} else {
		p("auth_mechanisms = plain login")
	}
	// Dovecot refuses mail processes below first_valid_uid; Debian's mail is 8.
	p("first_valid_uid = %d", min(ids.mailUID, 8))
	p("mail_uid = %d", ids.mailUID)
	p("mail_gid = %d", ids.mailGID)
	p("mail_location = maildir:%s/mail/%%u", dir)
	// IDLE learns of new mail through inotify; where that is unavailable
	// Dovecot checks every 30 s by default: make it one second.
	p("mailbox_idle_check_interval = 1 secs")
	if ids.loginUser != "" {
		p("default_login_user = %s", ids.loginUser)
		p("default_internal_user = %s", ids.loginUser)
	}
	p("passdb {")
	p("  driver = passwd-file")
	p("  args = scheme=PLAIN username_format=%%u %s/users", dir)
	p("}")
	if oauth {
		p("passdb {")
		p("  driver = oauth2")
		p("  mechanisms = xoauth2 oauthbearer")
		p("  args = %s/oauth2.conf.ext", dir)
		p("}")
	}
	p("userdb {")
	p("  driver = static")
	p("  args = uid=%d gid=%d home=%s/mail/%%u", ids.mailUID, ids.mailGID, dir)
	p("}")
	p("service imap-login {")
	p("  inet_listener imap {")
	p("    address = 127.0.0.1")
	p("    port = %d", port)
	p("  }")
	p("  inet_listener imaps {")
	p("    port = 0")
	p("  }")
	p("}")
	return b.String()
}

// startIntrospection serves the OAuth 2.0 token introspection endpoint
// (RFC 7662) Dovecot's oauth2 passdb asks: token is active for user, any
// other token is not.
func startIntrospection(t testing.TB, user, token string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("token") == token {
			fmt.Fprintf(w, `{"active":true,"username":%q}`, user)
			return
		}
		fmt.Fprint(w, `{"active":false}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/introspect"
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before Dovecot binds it; StartDovecot then fails clearly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if port == 0 {
		return 0, errors.New("no port")
	}
	return port, nil
}
