package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// `recevable invitation`: the prefecture's invitations to file by post or
// email (arrêté 2023-08-01 art. 4 al. 2), for supervisors.
//
//	invitation issue --site S --name "…" [--email …] [--department NN]
//	                 [--valid-days N] [--address LINE]… [--out FILE.pdf]
//	invitation letter REF [--out FILE.pdf]     print the letter again
//	invitation revoke REF --reason "…"
//	invitation show REF [--json]
//	invitation list [--site S] [--json]
//
// All take --config F (default $RECEVABLE_CONFIG) and --by ACCOUNT (who
// acts, for the audit log; default cli:<login>). The letter holds personal
// data: it is written with mode 0600, never over an existing file.

func runInvitation(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: recevable invitation issue --site S --name "…" [--email …] [--department NN] [--valid-days N] [--address LINE]… [--out FILE.pdf]
       recevable invitation letter REF [--out FILE.pdf]
       recevable invitation revoke REF --reason "…"
       recevable invitation show REF [--json]
       recevable invitation list [--site S] [--json]
Every command takes --config F (default $`+configEnv+`) and --by ACCOUNT (default cli:<login>).`)
	}
	subs := map[string]func([]string, io.Writer, io.Writer) int{
		"issue": runInvitationIssue, "letter": runInvitationLetter, "revoke": runInvitationRevoke,
		"show": runInvitationShow, "list": runInvitationList,
	}
	return runSubcommand("invitation", args, subs, usage, stdout, stderr)
}

// invitationEnv is what every invitation command opens.
type invitationEnv struct {
	c   *Config
	b   storage.Bucket
	reg *validate.Registry
	by  string
}

// cliCommonFlags adds --config and --by to fs.
func cliCommonFlags(fs *flag.FlagSet) (cfg, by *string) {
	cfg = fs.String("config", "", "configuration file (default $"+configEnv+")")
	by = fs.String("by", cliActor(), "account acting, recorded in the audit log")
	return cfg, by
}

func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func openInvitations(ctx context.Context, cfgPath, by string) (*invitationEnv, error) {
	c, err := loadCLIConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	b, err := buildBucket(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("open the bucket: %w", err)
	}
	return &invitationEnv{c: c, b: b, reg: validate.NewRegistry(b), by: by}, nil
}

// audit records an action; its failure is reported, not hidden.
func (e *invitationEnv) audit(ctx context.Context, action, detail string, stderr io.Writer) {
	cliAudit(ctx, e.b, e.by, action, detail, stderr)
}

// cliAudit records an action of a command in the audit log; its failure is
// reported on stderr, and the command goes on.
func cliAudit(ctx context.Context, b storage.Bucket, who, action, detail string, stderr io.Writer) {
	if _, err := (storage.Audit{Bucket: b}).Append(ctx, storage.AuditEvent{Who: who, Action: action, Detail: detail}); err != nil {
		fmt.Fprintf(stderr, "recevable: warning: audit event %s not recorded: %v\n", action, err)
	}
}

// cliLines collects a repeated flag (--address).
type cliLines []string

func (m *cliLines) String() string     { return strings.Join(*m, ", ") }
func (m *cliLines) Set(v string) error { *m = append(*m, v); return nil }

func runInvitationIssue(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invitation issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	siteID := fs.String("site", "", "issuing site (default: the only one)")
	name := fs.String("name", "", "applicant's name, as on their documents (required)")
	email := fs.String("email", "", "applicant's email address")
	dept := fs.String("department", "", "applicant's department of residence (default: the site's, when it serves one)")
	days := fs.Int("valid-days", 0, "days the invitation stays valid (default: the site's invitation_valid_days)")
	out := fs.String("out", "", "letter PDF to write (default invitation-<reference>.pdf)")
	var address cliLines
	fs.Var(&address, "address", "a line of the applicant's postal address (repeat for each line)")
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	if strings.TrimSpace(*name) == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "recevable invitation issue: --name is required")
		return 2
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "invitation issue", err)
	}
	site, err := pickSite(env.c, *siteID)
	if err != nil {
		return cliFail(stderr, "invitation issue", err)
	}
	department, err := issueDepartment(env.c, site, strings.ToUpper(strings.TrimSpace(*dept)))
	if err != nil {
		return cliFail(stderr, "invitation issue", err)
	}
	if site.SigningKeyFile == "" {
		return cliFail(stderr, "invitation issue", fmt.Errorf("site %s has no signing_key_file: it cannot issue invitations (recevable keys generate --site %s)", site.ID, site.ID))
	}
	key, err := validate.ReadPrivateKeyFile(site.SigningKeyFile)
	if err != nil {
		return cliFail(stderr, "invitation issue", err)
	}
	valid := site.InvitationValidDays
	if *days > 0 {
		valid = *days
	}
	now := siteNow(site, time.Now())
	inv, err := env.reg.Issue(ctx, validate.IssueRequest{
		Site: site.ID, Department: department, Name: *name, Email: *email, PostalAddress: address,
		IssuedBy: env.by, Now: now, ExpiresOn: validate.CivilDay(now).AddDate(0, 0, valid),
	}, key)
	if err != nil {
		return cliFail(stderr, "invitation issue", err)
	}
	env.audit(ctx, "invitation.issue", inv.Reference, stderr)
	fmt.Fprintf(stdout, "Invitation %s issued by site %s for department %s, valid through %s.\n",
		inv.Reference, site.ID, department, inv.ExpiresOn.Format(time.DateOnly))
	path, err := writeInvitationLetter(site, inv, *out)
	if err != nil {
		return cliFail(stderr, "invitation issue", fmt.Errorf("the invitation is recorded but its letter was not written (recevable invitation letter %s): %w", inv.Reference, err))
	}
	fmt.Fprintf(stdout, "Letter: %s\n", path)
	return 0
}

// issueDepartment checks the applicant's department against the site's:
// the competent prefecture is that of the department of residence
// (arrêté 2023-08-01 art. 4 al. 3).
func issueDepartment(c *Config, site *Site, dept string) (string, error) {
	if dept == "" {
		if len(site.Departments) == 1 {
			return site.Departments[0], nil
		}
		return "", fmt.Errorf("site %s serves %v: say which with --department", site.ID, site.Departments)
	}
	if len(dept) == 1 && dept[0] >= '1' && dept[0] <= '9' {
		dept = "0" + dept
	}
	if slices.Contains(site.Departments, dept) {
		return dept, nil
	}
	var competent []string
	for _, s := range c.Sites {
		if slices.Contains(s.Departments, dept) {
			competent = append(competent, s.ID)
		}
	}
	if len(competent) == 0 {
		return "", fmt.Errorf("site %s does not serve department %s, and no configured site does", site.ID, dept)
	}
	return "", fmt.Errorf("site %s does not serve department %s: the competent site is %s", site.ID, dept, strings.Join(competent, " or "))
}

// letterCity finds the city of the last line of an address: "75195 Paris
// Cedex 04" gives "Paris".
var letterCity = regexp.MustCompile(`(?i)^\s*[0-9]{5}\s+(.+?)(\s+cedex\b.*)?\s*$`)

// letterSiteOf is what the letter says about the site.
func letterSiteOf(s *Site) validate.LetterSite {
	ls := validate.LetterSite{Name: s.Name, Letterhead: s.Letterhead, PostalAddress: s.PostalAddress, Email: s.Email, Phone: s.Phone}
	if n := len(s.PostalAddress); n > 0 {
		if m := letterCity.FindStringSubmatch(s.PostalAddress[n-1]); m != nil {
			ls.City = m[1]
		}
	}
	return ls
}

// writeInvitationLetter renders the letter of inv (the same bytes every time) to out,
// or invitation-<reference>.pdf.
func writeInvitationLetter(site *Site, inv validate.Invitation, out string) (string, error) {
	ref, err := inv.ParsedReference()
	if err != nil {
		return "", err
	}
	loc, err := site.Location()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = validate.RenderLetter(&buf, validate.Letter{
		Site: letterSiteOf(site), Date: inv.IssuedAt.In(loc), ApplicantName: inv.Name,
		ApplicantAddress: inv.PostalAddress, Reference: ref, Token: inv.Token, Expires: inv.ExpiresOn,
	})
	if err != nil {
		return "", err
	}
	if out == "" {
		out = "invitation-" + inv.Reference + ".pdf"
	}
	if err := writeNewFile(out, buf.Bytes(), 0o600); err != nil {
		return "", err
	}
	return out, nil
}

// lookupInvitation finds the invitation of a reference, whatever site
// issued it.
func (e *invitationEnv) lookupInvitation(ctx context.Context, text string) (*Site, validate.Invitation, error) {
	ref, err := validate.ParseReference(text)
	if err != nil {
		return nil, validate.Invitation{}, err
	}
	site, err := siteOfCode(e.c, ref.Code)
	if err != nil {
		return nil, validate.Invitation{}, err
	}
	inv, _, err := e.reg.Get(ctx, site.ID, ref)
	return site, inv, err
}

func runInvitationLetter(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invitation letter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	out := fs.String("out", "", "letter PDF to write (default invitation-<reference>.pdf)")
	ref, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if ref == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: recevable invitation letter REF [--out FILE.pdf]")
		return 2
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "invitation letter", err)
	}
	site, inv, err := env.lookupInvitation(ctx, ref)
	if err != nil {
		return cliFail(stderr, "invitation letter", err)
	}
	path, err := writeInvitationLetter(site, inv, *out)
	if err != nil {
		return cliFail(stderr, "invitation letter", err)
	}
	env.audit(ctx, "invitation.letter", inv.Reference, stderr)
	if inv.Revoked != nil {
		fmt.Fprintf(stderr, "recevable invitation letter: warning: %s was revoked on %s\n", inv.Reference, inv.Revoked.At.Format(time.DateOnly))
	}
	fmt.Fprintf(stdout, "Letter: %s\n", path)
	return 0
}

func runInvitationRevoke(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invitation revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	why := fs.String("reason", "", "why the invitation is withdrawn (required, kept in the registry)")
	ref, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if ref == "" || strings.TrimSpace(*why) == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, `usage: recevable invitation revoke REF --reason "…"`)
		return 2
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "invitation revoke", err)
	}
	site, inv, err := env.lookupInvitation(ctx, ref)
	if err != nil {
		return cliFail(stderr, "invitation revoke", err)
	}
	parsed, _ := inv.ParsedReference()
	if inv.Revoked != nil {
		fmt.Fprintf(stdout, "%s was already revoked on %s by %s.\n", inv.Reference, inv.Revoked.At.Format(time.DateOnly), inv.Revoked.By)
		return 0
	}
	inv, err = env.reg.Revoke(ctx, site.ID, parsed, env.by, *why, time.Now())
	if err != nil {
		return cliFail(stderr, "invitation revoke", err)
	}
	env.audit(ctx, "invitation.revoke", inv.Reference, stderr)
	fmt.Fprintf(stdout, "%s revoked. Dossiers sent with it from today are proposed inadmissible; those sent earlier go to manual check.\n", inv.Reference)
	if len(inv.ConsumedBy) > 0 {
		fmt.Fprintf(stdout, "Already presented in: %s\n", strings.Join(invitationDossiers(inv), ", "))
	}
	return 0
}

func invitationDossiers(inv validate.Invitation) []string {
	out := make([]string, len(inv.ConsumedBy))
	for i, c := range inv.ConsumedBy {
		out[i] = c.Dossier
	}
	return out
}

// invitationStatus says in a word where an invitation stands today.
func invitationStatus(inv validate.Invitation, today time.Time) string {
	switch {
	case inv.Revoked != nil:
		return "revoked"
	case today.After(inv.ExpiresOn):
		return "expired"
	}
	return "valid"
}

// invitationView is an invitation as show and list print it in JSON; the
// token and the key id are left out of list.
type invitationView struct {
	validate.Invitation
	Status string `json:"status"`
}

func runInvitationShow(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invitation show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	ref, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if ref == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: recevable invitation show REF [--json]")
		return 2
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "invitation show", err)
	}
	site, inv, err := env.lookupInvitation(ctx, ref)
	if errors.Is(err, validate.ErrInvitationNotFound) {
		return cliFail(stderr, "invitation show", fmt.Errorf("%s was never issued", ref))
	}
	if err != nil {
		return cliFail(stderr, "invitation show", err)
	}
	env.audit(ctx, "invitation.read", inv.Reference, stderr)
	status := invitationStatus(inv, validate.CivilDay(siteNow(site, time.Now())))
	if *asJSON {
		return cliJSON(stdout, stderr, "invitation show", invitationView{inv, status})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Reference", inv.Reference)
	row("Status", status)
	row("Site", inv.Site)
	row("Name", inv.Name)
	row("Email", inv.Email)
	row("Address", strings.Join(inv.PostalAddress, ", "))
	row("Department", inv.Department)
	row("Issued", inv.IssuedAt.Format(time.RFC3339)+" by "+inv.IssuedBy)
	row("Expires", inv.ExpiresOn.Format(time.DateOnly)+" (last valid day)")
	row("Key", inv.KeyID)
	if r := inv.Revoked; r != nil {
		row("Revoked", r.At.Format(time.RFC3339)+" by "+r.By+": "+r.Reason)
	}
	for i, c := range inv.ConsumedBy {
		k := ""
		if i == 0 {
			k = "Presented in"
		}
		fmt.Fprintf(tw, "%s\t%s (%s, name %s)\n", k, c.Dossier, c.At.Format(time.DateOnly), nameHashNote(inv, c.NameHash))
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "invitation show", err)
	}
	return 0
}

// nameHashNote says whether a consumption's name was the invitation's.
func nameHashNote(inv validate.Invitation, h validate.NameHash) string {
	switch {
	case h.IsZero():
		return "unknown"
	case h == inv.NameHash:
		return "the invited applicant's"
	}
	return "another"
}

func runInvitationList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invitation list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	siteID := fs.String("site", "", "site (default: the only one)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "invitation list", err)
	}
	site, err := pickSite(env.c, *siteID)
	if err != nil {
		return cliFail(stderr, "invitation list", err)
	}
	list, err := env.reg.List(ctx, site.ID)
	if err != nil {
		return cliFail(stderr, "invitation list", err)
	}
	env.audit(ctx, "invitation.list", site.ID, stderr)
	today := validate.CivilDay(siteNow(site, time.Now()))
	if *asJSON {
		views := make([]invitationView, len(list))
		for i, inv := range list {
			inv.Token = ""
			views[i] = invitationView{inv, invitationStatus(inv, today)}
		}
		return cliJSON(stdout, stderr, "invitation list", views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REFERENCE\tISSUED\tEXPIRES\tSTATUS\tUSES\tDEPT\tNAME")
	for _, inv := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", inv.Reference, inv.IssuedAt.Format(time.DateOnly),
			inv.ExpiresOn.Format(time.DateOnly), invitationStatus(inv, today), len(inv.ConsumedBy), inv.Department, shown(inv.Name))
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "invitation list", err)
	}
	return 0
}

func cliJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return cliFail(stderr, cmd, err)
	}
	return 0
}
