package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

// runDemo is `recevable demo [-dir DIR] [-listen ADDR] [-once]`: the whole
// flow on one machine, for a newcomer. A filesystem bucket in DIR, an IMAP
// server in this process seeded with five emails, a batch scan in the drop
// folder, the workers and the staff interface on a loopback address; once
// the samples are processed it prints the dossiers and how to look at them,
// then serves until Ctrl-C (with -once: stops at once).
//
// Running it again in the same DIR registers nothing twice: the bucket is
// the state, the samples are delivered again with the same bytes, and the
// pipeline's deduplication recognises them.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "recevable-demo", "directory of the demo: bucket, drop folder, keys, samples, letters, log (created if missing)")
	listen := fs.String("listen", "127.0.0.1:8080", "loopback address of the staff interface (port 0: any free port)")
	once := fs.Bool("once", false, "stop once the summary is printed (for tests and CI)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recevable demo [-dir DIR] [-listen 127.0.0.1:PORT] [-once]")
		fmt.Fprintln(stderr, "\nRuns everything embedded: a filesystem bucket, an in-process IMAP server with sample")
		fmt.Fprintln(stderr, "submissions, a scan drop with a sample batch, the workers and the staff interface.")
		fs.PrintDefaults()
	}
	if code, ok := cliParse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	addr, err := demoListen(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "recevable demo: %v\n", err)
		return 1
	}

	ctx, stop := stopOnSignal(func(os.Signal) {
		fmt.Fprintln(stderr, "\nrecevable demo: stopping (a second Ctrl-C exits at once)")
	}, func(os.Signal) {})
	defer stop()

	d := demo{dirs: newDemoDirs(*dir), addr: addr, once: *once, stdout: stdout, stderr: stderr}
	if err := d.run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return 0
		}
		fmt.Fprintf(stderr, "recevable demo: %v\n", err)
		return 1
	}
	return 0
}

// demo is one run of the demo.
type demo struct {
	dirs   demoDirs
	addr   string
	once   bool
	stdout io.Writer
	stderr io.Writer
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.stdout, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	start := time.Now()
	if err := d.dirs.make(); err != nil {
		return fmt.Errorf("prepare %s: %w", d.dirs.Root, err)
	}
	logFile, err := os.OpenFile(d.dirs.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// The log goes to its file; errors are also shown on the terminal.
	log := zerolog.New(zerolog.MultiLevelWriter(
		zerolog.ConsoleWriter{Out: logFile, NoColor: true, TimeFormat: time.RFC3339},
		&zerolog.FilteredLevelWriter{
			Writer: zerolog.LevelWriterAdapter{Writer: zerolog.ConsoleWriter{Out: d.stderr, TimeFormat: time.Kitchen}},
			Level:  zerolog.ErrorLevel,
		},
	)).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	d.say("recevable demo: everything runs on this machine, in %s.", d.dirs.Root)
	bucket, err := storage.NewFS(d.dirs.Bucket)
	if err != nil {
		return err
	}
	site := DefaultConfig().Sites[0]
	loc, err := site.Location()
	if err != nil {
		return err
	}
	now := time.Now().In(loc)

	// Keys, invitations, letters, samples: made once, then read again.
	keys, err := loadDemoKeys(d.dirs, now)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	reg := validate.NewRegistry(bucket)
	if keys.New {
		if invs, err := reg.List(ctx, demoSite); err != nil {
			return err
		} else if len(invs) > 0 {
			return fmt.Errorf("%s was lost but the bucket still holds invitations signed with the old keys: remove %s to start over",
				d.dirs.Keys, d.dirs.Root)
		}
	}
	site.SigningKeyFile = keys.InvitationsFile
	invs, issued, err := demoInvitationsOf(ctx, bucket, reg, &site, keys.Invitations, now)
	if err != nil {
		return fmt.Errorf("invitations: %w", err)
	}
	if issued {
		d.say("  issued invitations %s (by email), %s (by post) and %s (revoked)",
			invs.Email.Reference, invs.Postal.Reference, invs.Revoked.Reference)
	}
	letters, err := writeDemoLetters(d.dirs, &site, invs.Email, invs.Postal, invs.Revoked)
	if err != nil {
		return err
	}
	made := time.Now()
	samples, fresh, err := demoSampleBytes(ctx, d.dirs, invs, keys, issued || keys.New, now)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	if fresh {
		d.say("  made the sample submissions in %.1f s (kept in %s for the next runs)", time.Since(made).Seconds(), d.dirs.Samples)
	}
	password, err := demoPassword()
	if err != nil {
		return err
	}
	if err := setDemoAccounts(ctx, bucket, password); err != nil {
		return err
	}
	before, err := countDossiers(ctx, bucket)
	if err != nil {
		return err
	}

	// The mailbox, seeded before the workers start: a fresh one at each
	// run, so what arrives twice is the pipeline's to recognise.
	mb, err := startDemoMailbox(log)
	if err != nil {
		return err
	}
	defer mb.Close()
	if err := forgetDemoCursor(ctx, bucket, demoIMAPSource, time.Now()); err != nil {
		return fmt.Errorf("mailbox cursor: %w", err)
	}
	emails := 0
	for _, s := range demoSamples {
		if s.Channel != storage.ChannelEmail {
			continue
		}
		if err := mb.Deliver(samples[s.File], time.Now()); err != nil {
			return err
		}
		emails++
	}
	dropped, err := dropDemoBatch(ctx, d.dirs, bucket, samples[demoBatchFile])
	if err != nil {
		return fmt.Errorf("drop the batch scan: %w", err)
	}
	what := "the batch scan was registered by an earlier run"
	if dropped {
		what = "a batch scan of two letters is in " + d.dirs.Drop
	}
	d.say("  %d emails are in the mailbox (IMAP on 127.0.0.1:%d); %s.", emails, mb.Port, what)

	cfg, err := demoConfig(d.dirs, keys, mb, d.addr)
	if err != nil {
		return err
	}
	hooks := defaultServeHooks()
	// The queue pages of the demo show new dossiers within seconds.
	hooks.Web = webHook(2 * time.Second)
	hooks.Metrics = nil // one port for the demo (cfg.Metrics.Listen is empty too)

	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// serve logs why it failed; the demo reports that it stopped.
		serve(serveCtx, cfg, hooks, log)
	}()
	// However the demo ends, the workers stop in order before it returns.
	defer func() { stopServe(); <-stopped }()

	started := time.Now()
	url := "http://" + d.addr
	d.say("  workers and staff interface started (%s); waiting for the samples to be processed…", url)
	results, err := waitDemo(ctx, demoWait{
		Bucket: bucket, Samples: samples, Mailbox: mb, Dirs: d.dirs, Since: start,
		Stopped: stopped, Timeout: 5 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, d.dirs.Log)
	}
	if err := checkDemoUI(ctx, url, password); err != nil {
		return err
	}
	total, err := countDossiers(ctx, bucket)
	if err != nil {
		return err
	}
	printDemoSummary(d.stdout, demoSummary{
		Results: results, Total: total, NewTotal: total - before, Dirs: d.dirs, Letters: letters,
		URL: url, Password: password, Once: d.once, Elapsed: time.Since(started),
	})
	if d.once {
		return nil
	}
	select {
	case <-ctx.Done():
	case <-stopped:
		return fmt.Errorf("the service stopped (see %s)", d.dirs.Log)
	}
	return nil
}
