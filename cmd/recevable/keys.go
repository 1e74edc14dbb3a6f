package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"recevable/validate"
)

// `recevable keys`: the Ed25519 keys that sign invitation tokens.
//
//	keys generate --site S [--dir DIR | --out FILE] [--config F]
//	keys list [--config F]
//	keys retire KEY-ID [--on YYYY-MM-DD] [--config F]
//
// A site may trust several keys at once: when a key is replaced, the new
// one becomes signing_key_file and the old one stays in trusted_keys with a
// retired_on date — tokens it signed before that day stay valid, later ones
// are refused (validate.VerifyToken). The configuration file is the
// operator's: these commands print what to change in it, they never
// rewrite it.

func runKeys(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: recevable keys generate --site S [--dir DIR | --out FILE] [--config F]")
		fmt.Fprintln(stderr, "       recevable keys list [--config F]")
		fmt.Fprintln(stderr, "       recevable keys retire KEY-ID [--on YYYY-MM-DD] [--config F]")
	}
	subs := map[string]func([]string, io.Writer, io.Writer) int{
		"generate": runKeysGenerate, "list": runKeysList, "retire": runKeysRetire,
	}
	return runSubcommand("keys", args, subs, usage, stdout, stderr)
}

func runKeysGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	site := fs.String("site", "", "id of the site whose invitations the key signs (required)")
	dir := fs.String("dir", ".", "directory of the new key file, named <key id>.pem")
	out := fs.String("out", "", "path of the new key file (instead of --dir)")
	cfgPath := fs.String("config", "", "configuration file: when given, the site must be in it")
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	if *site == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "recevable keys generate: --site is required, and nothing else")
		return 2
	}
	if *cfgPath != "" {
		c, err := loadCLIConfig(*cfgPath)
		if err != nil {
			return cliFail(stderr, "keys generate", err)
		}
		if _, err := siteByID(c, *site); err != nil {
			return cliFail(stderr, "keys generate", err)
		}
	}
	k, err := validate.GenerateKey(*site, time.Now(), nil)
	if err != nil {
		return cliFail(stderr, "keys generate", err)
	}
	path := *out
	if path == "" {
		path = filepath.Join(*dir, k.ID+".pem")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	// 0600, never over an existing file (validate.WritePrivateKeyFile).
	if err := validate.WritePrivateKeyFile(path, k); err != nil {
		return cliFail(stderr, "keys generate", err)
	}
	pub := validate.FormatPublicKey(k.Public().Key)
	fmt.Fprintf(stdout, "Key %s of site %s written to %s (mode 0600: only the service account may read it).\n\n", k.ID, k.Site, path)
	fmt.Fprintf(stdout, "In the configuration, under the site with id %s:\n\n", k.Site)
	fmt.Fprintf(stdout, "    signing_key_file: %s\n    trusted_keys:\n      - id: %s\n        public_key: %s\n\n", path, k.ID, pub)
	fmt.Fprintf(stdout, "Other sites that must recognise its invitations (as another prefecture's) list it too:\n\n")
	fmt.Fprintf(stdout, "      - id: %s\n        site: %s\n        public_key: %s\n\n", k.ID, k.Site, pub)
	fmt.Fprintln(stdout, "If it replaces a key, keep the old one listed with retired_on set to the day of the switch")
	fmt.Fprintln(stdout, "(recevable keys retire OLD-ID) until the invitations it signed have expired.")
	return 0
}

func runKeysList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $"+configEnv+")")
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	c, err := loadCLIConfig(*cfgPath)
	if err != nil {
		return cliFail(stderr, "keys list", err)
	}
	keys, err := trustedKeys(c)
	if err != nil {
		return cliFail(stderr, "keys list", err)
	}
	signing := map[string]string{} // key id → site signing with it
	for _, s := range c.Sites {
		if s.signing != nil {
			signing[s.signing.id] = s.ID
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tSITE\tSTATUS\tPUBLIC KEY")
	today := validate.CivilDay(time.Now())
	for _, k := range keys {
		status := "trusted"
		switch {
		case signing[k.ID] != "":
			status = "signing"
		case !k.RetiredOn.IsZero() && !today.Before(validate.CivilDay(k.RetiredOn)):
			status = "retired since " + k.RetiredOn.Format(time.DateOnly)
		case !k.RetiredOn.IsZero():
			status = "retires on " + k.RetiredOn.Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Site, status, validate.FormatPublicKey(k.Key))
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "keys list", err)
	}
	return 0
}

func runKeysRetire(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys retire", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $"+configEnv+")")
	on := fs.String("on", "", "first day the key no longer signs, YYYY-MM-DD (default today)")
	id, rest := cliPositional(args)
	if code, ok := cliParse(fs, rest); !ok {
		return code
	}
	if id == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: recevable keys retire KEY-ID [--on YYYY-MM-DD] [--config F]")
		return 2
	}
	day := time.Now().Format(time.DateOnly)
	if *on != "" {
		if _, err := time.Parse(time.DateOnly, *on); err != nil {
			return cliFail(stderr, "keys retire", fmt.Errorf("--on %q: want YYYY-MM-DD", *on))
		}
		day = *on
	}
	c, err := loadCLIConfig(*cfgPath)
	if err != nil {
		return cliFail(stderr, "keys retire", err)
	}
	var where []string
	for i, s := range c.Sites {
		if s.signing != nil && s.signing.id == id {
			return cliFail(stderr, "keys retire", fmt.Errorf("%s is the signing key of site %s: generate a new key (recevable keys generate --site %s) and point signing_key_file at it first", id, s.ID, s.ID))
		}
		for j, k := range s.TrustedKeys {
			if k.ID == id {
				where = append(where, fmt.Sprintf("sites[%d].trusted_keys[%d] (site %s)", i, j, s.ID))
			}
		}
	}
	if len(where) == 0 {
		return cliFail(stderr, "keys retire", fmt.Errorf("no trusted key %s in the configuration", id))
	}
	fmt.Fprintf(stdout, "Set, in the configuration, on key %s:\n\n    retired_on: %s\n\nat:\n", id, day)
	for _, w := range where {
		fmt.Fprintf(stdout, "    %s\n", w)
	}
	fmt.Fprintf(stdout, "\nTokens it signed before %s stay valid; tokens dated %s or later are refused as forged.\n", day, day)
	fmt.Fprintln(stdout, "Remove the key only once every invitation it signed has expired; remove it at once if it may have leaked.")
	return 0
}

// cliParse parses args, returning (exit code, false) when the command
// must stop: 0 for -h, 2 for a bad flag.
func cliParse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// cliPositional takes a leading positional argument (REF, KEY-ID) off args so
// that flags may follow it.
func cliPositional(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

// cliFail prints one line for a failed command and returns exit status 1.
func cliFail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "recevable %s: %v\n", cmd, err)
	return 1
}
