// Command recevable receives residence-permit dossiers filed by post or by
// email under the substitute route of the ANEF téléservice (arrêté of
// 1 August 2023, art. 4). This package only wires: it parses flags and the
// configuration, builds the parts, starts them and stops them.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand, explicitly.
func commands() map[string]command {
	return map[string]command{
		// Each subcommand lives in a file of its own, named for it.
		"config":     {"describe or check a configuration file", runConfig},
		"demo":       {"run everything on this machine with sample submissions (start here)", runDemo},
		"extract":    {"list the documents of email messages (.eml)", runExtract},
		"keys":       {"generate, list or retire the keys signing invitations", runKeys},
		"invitation": {"issue, print, revoke, show or list invitations (art. 4)", runInvitation},
		"ccc":        {"import CCC ticket numbers, show the registry's status", runCCC},
		"check":      {"show the art. 4 evidence of a file and the decision it would get", runCheck},
		"separator":  {"print separator sheets for batch scans (PDF)", runSeparator},
		"serve":      {"run the service: poll the sources, register dossiers (until SIGTERM)", runServe},
		"user":       {"add, list, disable or change the password of local accounts", runUser},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "recevable: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: recevable COMMAND [arguments]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'recevable COMMAND -h' for a command's options.")
}

// runSubcommand runs the subcommand args[0] of `recevable name` from subs,
// with the arguments after it: none given prints usage (status 2), -h
// prints it (status 0), an unknown one is an error (status 2).
func runSubcommand(name string, args []string, subs map[string]func(args []string, stdout, stderr io.Writer) int, usage func(), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	if f, ok := subs[args[0]]; ok {
		return f(args[1:], stdout, stderr)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "recevable %s: unknown command %q\n", name, args[0])
	usage()
	return 2
}
