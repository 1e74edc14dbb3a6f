package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// `recevable check FILE.eml|FILE.pdf`: the art. 4 assessment of one file,
// printed, without storing anything — the registry is only read, no
// invitation is recorded as consumed (validate.AssessorOptions.DryRun). It
// is how a supervisor understands a surprising decision: what evidence was
// found where, what was checked, and what the pipeline would propose.
//
// An .eml is read as the mailbox would deliver it (intake.Walk, the
// documents checked by validate.CheckDocument); any other file is taken as
// a letter scanned by the mailroom (channel postal), whose postmark may be
// given with --postmark.

// checkReport is what --json prints.
type checkReport struct {
	File     string             `json:"file"`
	Site     string             `json:"site"`
	Channel  storage.Channel    `json:"channel"`
	Received time.Time          `json:"received_at"`
	Postmark *time.Time         `json:"postmark,omitempty"`
	Evidence []storage.Evidence `json:"evidence"`
	Decision storage.Decision   `json:"decision"`
	Linked   []string           `json:"linked,omitempty"`
	Searched []string           `json:"searched"`
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $"+configEnv+")")
	siteID := fs.String("site", "", "receiving site (default: the only one)")
	asJSON := fs.Bool("json", false, "print JSON")
	received := fs.String("received", "", "date of receipt, YYYY-MM-DD or RFC 3339 (default: the message's Date, else now)")
	postmark := fs.String("postmark", "", "postmark date of a letter, YYYY-MM-DD (CRPA L112-1)")
	senderName := fs.String("sender-name", "", "sender's name (default: the From display name of an .eml)")
	senderAddr := fs.String("sender-address", "", "sender's postal address, for the territorial check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recevable check FILE.eml|FILE.pdf [--site S] [--config F] [--json] [--received DATE] [--postmark DATE] [--sender-name N] [--sender-address A]")
		fmt.Fprintln(stderr, "Prints the art. 4 evidence found in the file and the decision the pipeline would propose. Stores nothing.")
		fs.PrintDefaults()
	}
	file, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if file == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	c, err := loadCLIConfig(*cfgPath)
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	site, err := pickSite(c, *siteID)
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	ctx := context.Background()
	b, err := buildBucket(ctx, c)
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	a, err := assessorFromConfig(c, b, zerolog.Nop(), true)
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	tmp, err := os.MkdirTemp("", "recevable-check-")
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	defer os.RemoveAll(tmp)

	var s *validate.Submission
	if strings.EqualFold(filepath.Ext(file), ".eml") {
		s, err = checkEmail(ctx, c, file, tmp)
	} else {
		s, err = checkLetter(ctx, c, file)
	}
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	s.Site = site.ID
	if *senderName != "" {
		s.Sender.Name = *senderName
	}
	s.Sender.Address = *senderAddr
	if *received != "" {
		t, err := parseCheckDate(*received)
		if err != nil {
			return cliFail(stderr, "check", fmt.Errorf("--received: %w", err))
		}
		s.ReceivedAt = t
	}
	if *postmark != "" {
		t, err := time.Parse(time.DateOnly, *postmark)
		if err != nil {
			return cliFail(stderr, "check", fmt.Errorf("--postmark %q: want YYYY-MM-DD", *postmark))
		}
		s.Postmark = &t
	}
	as, trace, err := a.Explain(ctx, s)
	if err != nil {
		return cliFail(stderr, "check", err)
	}
	rep := checkReport{File: file, Site: s.Site, Channel: s.Channel, Received: s.ReceivedAt, Postmark: s.Postmark,
		Evidence: as.Evidence, Decision: as.Decision, Linked: as.Linked, Searched: trace}
	if *asJSON {
		return cliJSON(stdout, stderr, "check", rep)
	}
	printCheck(stdout, rep)
	return 0
}

func parseCheckDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t.Add(12 * time.Hour), nil // midday: the same day in every French zone
	}
	return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD or RFC 3339", s)
}

// checkEmail builds the submission of an .eml as the pipeline would: parts
// spooled to dir, documents checked.
func checkEmail(ctx context.Context, c *Config, path, dir string) (*validate.Submission, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type spooled struct {
		p    *intake.Part
		path string
	}
	var parts []spooled
	l := c.Limits
	lim := intake.Limits{MaxMessageBytes: l.MessageBytes(), MaxDepth: l.MIMEDepth, MaxParts: l.MIMEParts, MaxHeaderBytes: l.HeaderBytes()}
	msg, err := intake.Walk(f, lim, func(p *intake.Part, body io.Reader) error {
		sp := filepath.Join(dir, fmt.Sprintf("part-%04d", len(parts)))
		out, err := os.OpenFile(sp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, body); err != nil {
			out.Close()
			return err
		}
		parts = append(parts, spooled{p, sp})
		return out.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	s := &validate.Submission{
		Channel: storage.ChannelEmail, ReceivedAt: msg.Date, Subject: msg.Subject,
		Sender: storage.Party{Email: msg.From, Name: msg.FromName},
	}
	if s.ReceivedAt.IsZero() {
		s.ReceivedAt = time.Now()
	}
	dl := documentLimits(c)
	for i, sp := range parts {
		p, file := sp.p, sp.path
		open := func() (io.ReadCloser, error) { return os.Open(file) }
		switch p.Kind {
		case intake.KindBodyText, intake.KindBodyHTML:
			rc, err := open()
			if err != nil {
				return nil, err
			}
			text, err := io.ReadAll(io.LimitReader(intake.TextReader(p, rc), 1<<20))
			rc.Close()
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, err
			}
			s.Texts = append(s.Texts, validate.Text{Where: "corps " + p.Path, HTML: p.Kind == intake.KindBodyHTML, Body: string(text)})
		case intake.KindEmbedded:
			s.Embedded = append(s.Embedded, validate.Embedded{Where: "partie " + p.Path, Open: open, Size: p.Size})
		case intake.KindDocument:
			res, err := validate.CheckFile(ctx, file, validate.DocInfo{Name: p.Filename, Declared: p.DeclaredType, Sniffed: p.ContentType}, dl)
			if err != nil {
				return nil, err
			}
			s.Documents = append(s.Documents, validate.Doc{
				Index: i, Name: p.Filename, SafeName: p.SafeName, Type: p.ContentType, Size: p.Size,
				Open: open, Problems: res.Problems,
			})
		}
	}
	return s, nil
}

// checkLetter takes a file as one scanned letter.
func checkLetter(ctx context.Context, c *Config, path string) (*validate.Submission, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	res, err := validate.CheckFile(ctx, path, validate.DocInfo{Name: filepath.Base(path)}, documentLimits(c))
	if err != nil {
		return nil, err
	}
	return &validate.Submission{
		Channel: storage.ChannelPostal, ReceivedAt: time.Now(),
		Documents: []validate.Doc{{
			Index: 0, Name: filepath.Base(path), SafeName: filepath.Base(path), Type: res.Type, Size: st.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(path) }, Problems: res.Problems,
		}},
	}, nil
}

// printCheck prints the report for a person.
func printCheck(w io.Writer, r checkReport) {
	fmt.Fprintf(w, "%s\n  site %s, channel %s, received %s", shown(r.File), r.Site, r.Channel, r.Received.Format(time.RFC3339))
	if r.Postmark != nil {
		fmt.Fprintf(w, ", postmark %s", r.Postmark.Format(time.DateOnly))
	}
	fmt.Fprintln(w, " — dry run, nothing recorded")
	fmt.Fprintf(w, "\nDecision: %s (%s)\n", r.Decision.Outcome, r.Decision.Rule)
	for _, rs := range r.Decision.Reasons {
		fmt.Fprintf(w, "  - %s: %s\n", rs.Code, rs.Text)
	}
	if len(r.Linked) > 0 {
		fmt.Fprintf(w, "  linked dossiers: %s\n", strings.Join(r.Linked, ", "))
	}
	fmt.Fprintf(w, "\nEvidence (%d):\n", len(r.Evidence))
	for i, e := range r.Evidence {
		value := ""
		if e.Value != "" {
			value = " " + shown(e.Value)
		}
		fmt.Fprintf(w, "  %d. %s%s — %s\n     found in: %s\n", i+1, e.Kind, value, e.Verdict, shown(e.Where))
		for _, ch := range e.Checks {
			mark := "ok  "
			if !ch.OK {
				mark = "FAIL"
			}
			detail := ""
			if ch.Detail != "" {
				detail = ": " + shown(ch.Detail)
			}
			fmt.Fprintf(w, "     [%s] %s%s\n", mark, ch.Name, detail)
		}
	}
	fmt.Fprintln(w, "\nSearched:")
	for _, line := range r.Searched {
		fmt.Fprintf(w, "  %s\n", shown(line))
	}
}
