package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// version is the version of the binary, set when building with
// -ldflags "-X main.version=…" (deploy/Dockerfile does); "dev" otherwise.
var version = "dev"

// The log field of an error is "err", as STYLE.md names it for every
// package (zerolog's default is "error"). zerolog keeps its field names in
// package variables; this is the one place that sets one, before anything
// logs.
func init() { zerolog.ErrorFieldName = "err" }

// newLogger builds the process logger from log.format and log.level;
// format, when not empty, overrides log.format (the --log-format flag).
// JSON, one object per line, is for collectors; console is for people at a
// terminal. Every line carries a timestamp; the fields are those of
// STYLE.md (source, mailbox, uid, raw, dossier, site, err): ids and hashes,
// never names, addresses or subjects.
func newLogger(c LogConfig, format string, w io.Writer) (zerolog.Logger, error) {
	if format == "" {
		format = c.Format
	}
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	switch format {
	case "json", "":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !isTerminal(w)}
	default:
		return zerolog.Logger{}, fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a character device (a terminal): colours
// only there, not in a file or a journal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// buildVersion is the version the binary reports: the one given with -X,
// else the module version Go recorded (a "go install" of a tag), else
// "dev".
func buildVersion() string {
	if version != "dev" && version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// registerBuildInfo exports recevable_build_info{version} = 1 (v is
// buildVersion()), which the dashboard counts by version during a rollout.
func registerBuildInfo(reg prometheus.Registerer, v string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "recevable_build_info",
		Help: "1, labelled with the version of the running binary.",
	}, []string{"version"})
	reg.MustRegister(g)
	g.WithLabelValues(v).Set(1)
}
