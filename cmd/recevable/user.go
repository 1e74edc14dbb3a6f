package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"recevable/storage"
	"recevable/web"
)

// `recevable user`: local accounts of the staff interface, kept in the
// bucket (web.Accounts), for the embedded default and small sites;
// production signs in through OIDC (web.oidc).
//
//	user add LOGIN --role R[,R] --site S[,S|*] [--name "…"]   password from stdin or a prompt
//	user passwd LOGIN                                         new password from stdin or a prompt
//	user disable LOGIN | user enable LOGIN
//	user list [--json]
//
// All take --config F (default $RECEVABLE_CONFIG) and --by ACCOUNT (who
// acts, for the audit log). Passwords are hashed with argon2id; they are
// never taken from the command line, where other users could read them.

func runUser(args []string, stdout, stderr io.Writer) int {
	return runUserWith(args, os.Stdin, stdout, stderr)
}

// runUserWith is runUser reading passwords from stdin.
func runUserWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: recevable user add LOGIN --role agent|courrier|superviseur|exploitant[,…] --site ID[,…|*] [--name "…"]
       recevable user passwd LOGIN
       recevable user disable LOGIN
       recevable user enable LOGIN
       recevable user list [--json]
The password is read from standard input (one line) or asked twice on a terminal.
Every command takes --config F (default $`+configEnv+`) and --by ACCOUNT (default cli:<login>).`)
	}
	subs := map[string]func([]string, io.Writer, io.Writer) int{
		"add":     func(a []string, o, e io.Writer) int { return runUserAdd(a, stdin, o, e) },
		"passwd":  func(a []string, o, e io.Writer) int { return runUserPasswd(a, stdin, o, e) },
		"disable": func(a []string, o, e io.Writer) int { return runUserDisable(a, true, o, e) },
		"enable":  func(a []string, o, e io.Writer) int { return runUserDisable(a, false, o, e) },
		"list":    runUserList,
	}
	return runSubcommand("user", args, subs, usage, stdout, stderr)
}

// userEnv is what every user command opens.
type userEnv struct {
	c        *Config
	accounts web.Accounts
	by       string
}

func openUsers(ctx context.Context, cfgPath, by string, stderr io.Writer) (*userEnv, error) {
	c, err := loadCLIConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if !c.Web.LocalAccounts {
		fmt.Fprintln(stderr, "recevable user: warning: web.local_accounts is false: these accounts cannot log in until it is set")
	}
	b, err := buildBucket(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("open the bucket: %w", err)
	}
	return &userEnv{c: c, accounts: web.Accounts{Bucket: b}, by: by}, nil
}

// audit records an action on an account; its failure is reported.
func (e *userEnv) audit(ctx context.Context, action, login string, stderr io.Writer) {
	cliAudit(ctx, e.accounts.Bucket, e.by, action, "account "+login, stderr)
}

// endSessions ends the account's open sessions, so that a disabled account
// or a changed password takes effect now.
func (e *userEnv) endSessions(ctx context.Context, login string, stdout, stderr io.Writer) {
	n, err := web.EndSessions(ctx, e.accounts.Bucket, login)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user: warning: sessions of %s not all ended: %v\n", login, err)
		return
	}
	if n > 0 {
		fmt.Fprintf(stdout, "%d open session(s) of %s ended\n", n, login)
	}
}

// splitList reads a repeatable, comma-separated flag.
type splitList []string

func (l *splitList) String() string { return strings.Join(*l, ",") }
func (l *splitList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseWithLogin parses flags placed before or after the LOGIN argument.
func parseWithLogin(fs *flag.FlagSet, args []string) (string, error) {
	var login string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		login, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if login == "" && fs.NArg() > 0 {
		login = fs.Arg(0)
	}
	if login == "" || fs.NArg() > 1 || (fs.NArg() == 1 && fs.Arg(0) != login) {
		return "", errors.New("give one LOGIN")
	}
	return strings.ToLower(login), nil
}

func runUserAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, by := cliCommonFlags(fs)
	var roles, sites splitList
	fs.Var(&roles, "role", "role(s): agent, courrier, superviseur, exploitant (repeat or comma-separate)")
	fs.Var(&sites, "site", "site id(s) whose dossiers the account sees, or * for all")
	name := fs.String("name", "", "name shown in the interface (never logged)")
	login, err := parseWithLogin(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user add: %v\n", err)
		return 2
	}
	a := web.Account{ID: login, Name: *name, Sites: sites}
	for _, r := range roles {
		role, err := web.ParseRole(r)
		if err != nil {
			fmt.Fprintf(stderr, "recevable user add: %v\n", err)
			return 2
		}
		a.Roles = append(a.Roles, role)
	}
	if len(a.Roles) == 0 || len(a.Sites) == 0 {
		fmt.Fprintln(stderr, "recevable user add: --role and --site are required")
		return 2
	}
	ctx := context.Background()
	env, err := openUsers(ctx, *cfg, *by, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user add: %v\n", err)
		return 1
	}
	for _, s := range a.Sites {
		if _, err := siteByID(env.c, s); s != web.AllSites && err != nil {
			fmt.Fprintf(stderr, "recevable user add: site %q is not in the configuration\n", s)
			return 2
		}
	}
	pw, err := readPassword(stdin, stderr, "Mot de passe de "+login)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user add: %v\n", err)
		return 1
	}
	if _, err := env.accounts.Create(ctx, a, pw); err != nil {
		if errors.Is(err, storage.ErrExists) {
			err = fmt.Errorf("account %s exists already (use passwd, enable or disable)", login)
		}
		fmt.Fprintf(stderr, "recevable user add: %v\n", err)
		return 1
	}
	env.audit(ctx, "account.create", login, stderr)
	fmt.Fprintf(stdout, "account %s created (%s; sites %s)\n", login, roles.String(), sites.String())
	return 0
}

func runUserPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, by := cliCommonFlags(fs)
	login, err := parseWithLogin(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user passwd: %v\n", err)
		return 2
	}
	ctx := context.Background()
	env, err := openUsers(ctx, *cfg, *by, stderr)
	if err == nil {
		var pw string
		a, etag, gerr := env.accounts.Get(ctx, login)
		err = gerr
		if err == nil {
			pw, err = readPassword(stdin, stderr, "Nouveau mot de passe de "+login)
		}
		if err == nil {
			_, err = env.accounts.Update(ctx, a, pw, etag)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "recevable user passwd: %v\n", err)
		return 1
	}
	env.audit(ctx, "account.password", login, stderr)
	env.endSessions(ctx, login, stdout, stderr)
	fmt.Fprintf(stdout, "password of %s changed\n", login)
	return 0
}

func runUserDisable(args []string, disable bool, stdout, stderr io.Writer) int {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, by := cliCommonFlags(fs)
	login, err := parseWithLogin(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "recevable user %s: %v\n", verb, err)
		return 2
	}
	ctx := context.Background()
	env, err := openUsers(ctx, *cfg, *by, stderr)
	if err == nil {
		a, etag, gerr := env.accounts.Get(ctx, login)
		err = gerr
		if err == nil {
			a.Disabled = disable
			_, err = env.accounts.Update(ctx, a, "", etag)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "recevable user %s: %v\n", verb, err)
		return 1
	}
	env.audit(ctx, "account."+verb, login, stderr)
	if disable {
		env.endSessions(ctx, login, stdout, stderr)
	}
	fmt.Fprintf(stdout, "account %s %sd\n", login, verb)
	return 0
}

func runUserList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, by := cliCommonFlags(fs)
	asJSON := fs.Bool("json", false, "JSON output (without password hashes)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	env, err := openUsers(ctx, *cfg, *by, stderr)
	var list []web.Account
	if err == nil {
		list, err = env.accounts.List(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "recevable user list: %v\n", err)
		return 1
	}
	for i := range list {
		list[i].PasswordHash = ""
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []web.Account{}
		}
		enc.Encode(list)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tROLES\tSITES\tSTATE\tNAME")
	for _, a := range list {
		roles := make([]string, len(a.Roles))
		for i, r := range a.Roles {
			roles[i] = string(r)
		}
		state := "active"
		if a.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, strings.Join(roles, ","), strings.Join(a.Sites, ","), state, a.Name)
	}
	tw.Flush()
	return 0
}

// readPassword reads a password: asked twice on a terminal, else the first
// line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt+" : ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Confirmation : ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
