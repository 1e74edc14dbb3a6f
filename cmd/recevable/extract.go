package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"recevable/intake"
)

// extractDocument is one document as `recevable extract --json` prints it.
type extractDocument struct {
	Filename     string   `json:"filename"`
	SafeName     string   `json:"safe_name"`
	ContentType  string   `json:"content_type"`
	DeclaredType string   `json:"declared_type"`
	Size         int64    `json:"size"`
	SHA256       string   `json:"sha256"`
	Path         string   `json:"path"`
	Disposition  string   `json:"disposition"`
	Notes        []string `json:"notes,omitempty"`
}

// extractEmbedded is one forwarded message found inside.
type extractEmbedded struct {
	Path     string `json:"path"`
	Filename string `json:"filename,omitempty"`
	Subject  string `json:"subject"`
	From     string `json:"from"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// extractResult is one file as `recevable extract --json` prints it.
type extractResult struct {
	File      string            `json:"file"`
	Error     string            `json:"error,omitempty"`
	Subject   string            `json:"subject"`
	From      string            `json:"from"`
	MessageID string            `json:"message_id"`
	Date      *time.Time        `json:"date,omitempty"`
	Documents []extractDocument `json:"documents"`
	Embedded  []extractEmbedded `json:"embedded,omitempty"`
	Notes     []string          `json:"notes,omitempty"`
}

// runExtract lists the documents of e-mail messages, as the intake would
// find them: recevable extract [--json] FILE.eml…
func runExtract(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recevable extract [--json] FILE.eml…")
		fmt.Fprintln(stderr, "Lists the documents of each message (decoded name, safe name, sniffed and declared type, size, SHA-256, part path, disposition).")
		fmt.Fprintln(stderr, "Exit status 1 when a file could not be read or parsed (one line on stderr per file).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	status := 0
	results := make([]extractResult, 0, fs.NArg())
	for _, name := range fs.Args() {
		res, err := extractFile(name)
		if err != nil {
			// One line per failed file, whatever the error says.
			fmt.Fprintf(stderr, "recevable extract: %s: %s\n", name, oneLine(err.Error()))
			res.Error = err.Error()
			status = 1
		}
		results = append(results, res)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			fmt.Fprintf(stderr, "recevable extract: %v\n", err)
			return 1
		}
		return status
	}
	for i, res := range results {
		if res.Error != "" {
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printExtract(stdout, res)
	}
	return status
}

// extractFile walks one message file with the intake's default limits.
func extractFile(name string) (extractResult, error) {
	res := extractResult{File: name, Documents: []extractDocument{}}
	f, err := os.Open(name)
	if err != nil {
		return res, err
	}
	defer f.Close()
	msg, err := intake.Walk(f, intake.Limits{}, nil)
	if err != nil {
		return res, err
	}
	res.Subject, res.From, res.MessageID, res.Notes = msg.Subject, msg.From, msg.MessageID, msg.Notes
	if !msg.Date.IsZero() {
		res.Date = &msg.Date
	}
	for _, p := range msg.Parts {
		switch p.Kind {
		case intake.KindDocument:
			res.Documents = append(res.Documents, extractDocument{
				Filename: p.Filename, SafeName: p.SafeName,
				ContentType: p.ContentType, DeclaredType: p.DeclaredType,
				Size: p.Size, SHA256: p.SHA256, Path: p.Path,
				Disposition: p.Disposition, Notes: p.Notes,
			})
		case intake.KindEmbedded:
			e := extractEmbedded{Path: p.Path, Filename: p.Filename, Size: p.Size, SHA256: p.SHA256}
			if p.Envelope != nil {
				e.Subject, e.From = p.Envelope.Subject, p.Envelope.From
			}
			res.Embedded = append(res.Embedded, e)
		}
	}
	return res, nil
}

// printExtract prints one message as a table. Names and subjects are
// printed quoted when they hold control or invisible characters, so that a
// hostile name cannot rewrite the terminal.
func printExtract(w io.Writer, res extractResult) {
	fmt.Fprintf(w, "%s\n  Subject:    %s\n  From:       %s\n  Message-ID: %s\n", shown(res.File), shown(res.Subject), shown(res.From), shown(res.MessageID))
	for _, e := range res.Embedded {
		fmt.Fprintf(w, "  Forwarded message at %s: %s (from %s)\n", e.Path, shown(e.Subject), shown(e.From))
	}
	if len(res.Documents) == 0 {
		fmt.Fprintln(w, "  no documents")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PATH\tSIZE\tSHA256\tCONTENT TYPE\tDECLARED\tDISPOSITION\tSAFE NAME\tFILENAME")
	for _, d := range res.Documents {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, d.Size, d.SHA256, d.ContentType, d.DeclaredType, orDash(d.Disposition), d.SafeName, orDash(shown(d.Filename)))
	}
	tw.Flush()
}

// shown quotes s when it holds anything a terminal would not show plainly.
func shown(s string) string {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\t' {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
