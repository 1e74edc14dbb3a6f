package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"recevable/validate"
)

// `recevable ccc`: the registry of CCC ticket numbers (arrêté 2023-08-01
// art. 4 al. 2, the CCC's attestation of impossibility).
//
//	ccc import FILE.csv    add the tickets of a CSV export to the bucket's registry
//	ccc status             when the last import was made, and how many rows
//
// The CSV's columns are documented in validate/cccregistry.go: ticket
// (required), date, department; a header row names them, or they come in
// that order; comma or semicolon. An import is all or nothing: one bad line
// and nothing is imported.

func runCCC(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: recevable ccc import FILE.csv [--config F] [--by ACCOUNT]")
		fmt.Fprintln(stderr, "       recevable ccc status [--config F]")
		fmt.Fprintln(stderr, "CSV columns: ticket (required), date (YYYY-MM-DD or DD/MM/YYYY), department; header optional; , or ;")
	}
	subs := map[string]func([]string, io.Writer, io.Writer) int{"import": runCCCImport, "status": runCCCStatus}
	return runSubcommand("ccc", args, subs, usage, stdout, stderr)
}

func runCCCImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ccc import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	file, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: recevable ccc import FILE.csv [--config F] [--by ACCOUNT]")
		return 2
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "ccc import", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return cliFail(stderr, "ccc import", err)
	}
	defer f.Close()
	imp, err := validate.NewBucketTickets(env.b).Import(ctx, f, env.by, time.Now())
	if err != nil {
		return cliFail(stderr, "ccc import", err)
	}
	env.audit(ctx, "ccc.import", fmt.Sprintf("sha256=%s rows=%d", imp.Source, imp.Rows), stderr)
	fmt.Fprintf(stdout, "%d ticket(s) imported: %d new, %d replaced (file sha256 %s).\n", imp.Rows, imp.Added, imp.Updated, imp.Source)
	return 0
}

func runCCCStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ccc status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath, by := cliCommonFlags(fs)
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	ctx := context.Background()
	env, err := openInvitations(ctx, *cfgPath, *by)
	if err != nil {
		return cliFail(stderr, "ccc status", err)
	}
	imp, err := validate.NewBucketTickets(env.b).LastImport(ctx)
	switch {
	case errors.Is(err, validate.ErrNoTicketRegistry):
		fmt.Fprintln(stdout, "No ticket was ever imported: a CCC ticket alone gives a_verifier.")
	case err != nil:
		return cliFail(stderr, "ccc status", err)
	default:
		fmt.Fprintf(stdout, "Last import: %s by %s, %d row(s), file sha256 %s.\n", imp.At.Format(time.RFC3339), imp.By, imp.Rows, imp.Source)
	}
	if f := env.c.CCC.RegistryFile; f != "" {
		fmt.Fprintf(stdout, "Also read: %s (ccc.registry_file).\n", f)
	}
	fmt.Fprintf(stdout, "DKIM: %d CCC domain(s) with pinned keys.\n", len(env.c.CCC.Domains))
	return 0
}
