package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// runConfig is `recevable config describe|check`: describe prints an
// annotated example configuration (config_describe.go), check validates a
// file.
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "describe":
			return runConfigDescribe(args[1:], stdout, stderr)
		case "check":
			return runConfigCheck(args[1:], stdout, stderr)
		case "-h", "--help", "help":
			configUsage(stdout)
			return 0
		}
	}
	configUsage(stderr)
	return 2
}

func configUsage(w io.Writer) {
	fmt.Fprint(w, `usage: recevable config describe
       recevable config check FILE

describe prints an annotated example configuration with the defaults.
check validates FILE: it prints "ok" and the warnings, or every error,
each naming the field ("sites[0].departments[1]: ...") and its line.
`)
}

func runConfigDescribe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config describe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		configUsage(stderr)
		return 2
	}
	if err := describeConfig(stdout, describeExample(), describeCommented()); err != nil {
		fmt.Fprintf(stderr, "recevable config describe: %v\n", err)
		return 1
	}
	return 0
}

// runConfigCheck exits 0 with "ok" for a valid file (warnings on stderr),
// 1 for an invalid one, 2 for a usage error.
func runConfigCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		configUsage(stderr)
		return 2
	}
	file := fs.Arg(0)
	c, err := LoadConfig(file)
	var ce *ConfigError
	switch {
	case errors.As(err, &ce):
		for _, is := range ce.Issues {
			fmt.Fprintln(stderr, formatIssue(file, is))
		}
		fmt.Fprintf(stderr, "%s: %d error(s)\n", file, len(ce.Issues))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "recevable config check: %v\n", err)
		return 1
	}
	for _, w := range c.Warnings() {
		fmt.Fprintln(stderr, formatIssue(file, Issue{Line: w.Line, Msg: "warning: " + w.Error()}))
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
