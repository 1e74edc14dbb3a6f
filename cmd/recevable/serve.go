package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
	"recevable/workers"
)

// serveHooks are the parts of serve that other files of this package
// provide; defaultServeHooks (serve_hooks.go) lists the ones built in. Tests
// pass their own.
type serveHooks struct {
	// Assessor builds the evidence search. Required: a service without it
	// would register every dossier unverified.
	Assessor func(c *Config, b storage.Bucket, log zerolog.Logger) (validate.Assessor, error)
	// Web builds the staff interface served on web.listen, with what it
	// needs of the running service; nil: no interface on this node.
	Web func(ctx context.Context, c *Config, env serveEnv) (serveComponent, error)
	// Metrics builds the handler of metrics.listen: /metrics from reg,
	// /healthz, and /readyz answering from ready (what is not ready, by
	// name; empty when all is). nil: no metrics listener.
	Metrics func(reg *prometheus.Registry, ready func(context.Context) map[string]string) http.Handler
}

// serveEnv is what serve hands to the Web hook.
type serveEnv struct {
	Bucket   storage.Bucket
	Pipeline *workers.Pipeline
	Registry *prometheus.Registry
	Holder   string
	Logger   zerolog.Logger
}

// serveComponent is an HTTP handler with, optionally, a background loop
// that runs until its context ends (web.Server.Run refreshes its index).
type serveComponent struct {
	Handler http.Handler
	Run     func(ctx context.Context) error
}

// runServe is `recevable serve -config FILE [--log-format json|console]`:
// the service, until SIGTERM or SIGINT. The first signal starts the orderly
// shutdown (workers.Pipeline.Run: stop polling, finish items, acknowledge,
// release leases, capped by workers.shutdown_timeout); a second one exits
// at once.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration file (YAML); 'recevable config describe' prints an example")
	format := fs.String("log-format", "", "json or console (default: log.format of the configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: recevable serve -config FILE [--log-format json|console]")
		return 2
	}
	cfg, err := LoadConfig(*file)
	var ce *ConfigError
	switch {
	case errors.As(err, &ce):
		for _, is := range ce.Issues {
			fmt.Fprintln(stderr, formatIssue(*file, is))
		}
		fmt.Fprintf(stderr, "recevable serve: %s: %d error(s)\n", *file, len(ce.Issues))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "recevable serve: %v\n", err)
		return 1
	}
	log, err := newLogger(cfg.Log, *format, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "recevable serve: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings() {
		log.Warn().Str("field", w.Path).Int("line", w.Line).Msg("configuration: " + w.Msg)
	}

	ctx, stop := stopOnSignal(func(s os.Signal) {
		log.Info().Str("signal", s.String()).Msg("stopping (a second signal exits at once)")
	}, func(s os.Signal) {
		log.Warn().Str("signal", s.String()).Msg("second signal: exiting now; items in flight stay at their sources")
	})
	defer stop()
	return serve(ctx, cfg, defaultServeHooks(), log)
}

// stopOnSignal returns a context that the first SIGTERM or SIGINT cancels,
// after calling first; a second one calls second and exits at once with
// status 1. stop releases the signals; the caller defers it.
func stopOnSignal(first, second func(os.Signal)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			first(s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			second(s)
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// serve runs the service described by cfg until ctx ends and returns the
// exit status.
func serve(ctx context.Context, cfg *Config, hooks serveHooks, log zerolog.Logger) int {
	fail := func(what string, err error) int {
		log.Error().Err(err).Msg("serve: " + what)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	raw, err := buildBucket(ctx, cfg)
	if err != nil {
		return fail("bucket", err)
	}
	bucket := storage.Instrument(raw, storage.NewMetrics(reg))
	ops := newOpsParts(ctx, cfg, bucket, reg, log) // ops.go: build info, IMAP and queue metrics, readiness
	if hooks.Assessor == nil {
		return fail("evidence search", errors.New("no Assessor hook: this binary cannot verify evidence"))
	}
	assessor, err := hooks.Assessor(cfg, bucket, log)
	if err != nil {
		return fail("evidence search", err)
	}
	holder := workers.NewHolderID()
	p, err := buildPipeline(ctx, cfg, pipelineParts{
		Bucket: bucket, Assessor: assessor, Metrics: ops.workers, Holder: holder, Logger: log,
		IMAPMetrics: ops.imap,
	})
	if err != nil {
		return fail("pipeline", err)
	}

	var running atomic.Bool // readiness: false before the start and during the shutdown
	ready := func(ctx context.Context) map[string]string {
		out := map[string]string{}
		if !running.Load() {
			out["pipeline"] = "not running"
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := bucket.List(hctx, "state/", storage.ListOptions{Limit: 1}); err != nil {
			out["bucket"] = err.Error()
		}
		ops.ready(hctx, out)
		return out
	}

	var servers []*listening
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	if hooks.Metrics != nil && cfg.Metrics.Listen != "" {
		s, err := listen("metrics", cfg.Metrics.Listen, hooks.Metrics(reg, ready), log)
		if err != nil {
			return fail("metrics listener", err)
		}
		servers = append(servers, s)
	}
	var web *listening
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	if hooks.Web != nil && cfg.Web.Listen != "" {
		comp, err := hooks.Web(ctx, cfg, serveEnv{Bucket: bucket, Pipeline: p, Registry: reg, Holder: holder, Logger: log})
		if err != nil {
			return fail("web interface", err)
		}
		if web, err = listen("web", cfg.Web.Listen, comp.Handler, log); err != nil {
			return fail("web listener", err)
		}
		servers = append(servers, web)
		if comp.Run != nil {
			bg.Add(1)
			go func() {
				defer bg.Done()
				if err := comp.Run(bgCtx); err != nil {
					log.Warn().Err(err).Msg("web background loop")
				}
			}()
		}
	}

	log.Info().Str("holder", holder).Str("backend", cfg.Storage.Backend).Int("sites", len(cfg.Sites)).Msg("recevable serving")
	running.Store(true)
	go func() {
		<-ctx.Done()
		running.Store(false)
		if web != nil {
			// No new uploads or staff actions while the items in flight finish.
			web.shutdown(cfg.Workers.ShutdownTimeout)
		}
	}()
	err = p.Run(ctx)
	running.Store(false)
	// The metrics listener goes last, so that the shutdown can be watched.
	for i := len(servers) - 1; i >= 0; i-- {
		servers[i].shutdown(5 * time.Second)
	}
	if err != nil {
		log.Error().Err(err).Msg("serve: stopped")
		return 1
	}
	log.Info().Msg("serve: stopped")
	return 0
}

// listening is an HTTP server started by serve.
type listening struct {
	name string
	srv  *http.Server
	done chan struct{}
	once sync.Once
}

// listen binds addr at once (a port already taken fails the start, not a
// goroutine later) and serves h on it.
func listen(name, addr string, h http.Handler, log zerolog.Logger) (*listening, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	l := &listening{name: name, done: make(chan struct{}), srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
	}}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Str("listener", name).Msg("http server stopped")
		}
	}()
	log.Info().Str("listener", name).Str("addr", ln.Addr().String()).Msg("listening")
	return l, nil
}

// shutdown stops accepting and waits for the requests in progress, at most
// timeout.
func (l *listening) shutdown(timeout time.Duration) {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
		}
		<-l.done
	})
}

func (l *listening) close() { l.shutdown(time.Second) }
