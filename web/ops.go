package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"recevable/storage"
)

// The operator endpoints, served on their own listener (metrics.listen),
// apart from the staff interface so that neither the interface's sessions
// nor its reverse proxy stand between Prometheus or the orchestrator and
// the process:
//
//	GET /metrics  the registry, in the Prometheus exposition format
//	GET /healthz  200 while the process serves HTTP at all (liveness)
//	GET /readyz   200 when every readiness check passes, 503 otherwise,
//	              with a JSON body naming the failing checks:
//	              {"ready":false,"failing":{"bucket":"…"}}

// Check is one readiness condition: nil when it holds, otherwise an error
// saying what is wrong (ids and addresses, no personal data: the body of
// /readyz shows it).
type Check func(ctx context.Context) error

// OpsOptions configure NewOps.
type OpsOptions struct {
	// Gatherer is what /metrics exports: the process's registry.
	Gatherer prometheus.Gatherer
	// CheckTimeout bounds each readiness check (default 5 s); a check still
	// running then fails with a timeout.
	CheckTimeout time.Duration
	// CacheFor reuses the last readiness answer for that long (default 1 s)
	// so that many probes at once cost one round of checks.
	CacheFor time.Duration
	// Logger receives a line when readiness changes.
	Logger zerolog.Logger
}

// Ops is the handler of the operator listener. Checks are added by name
// before or while it serves.
type Ops struct {
	o   OpsOptions
	mux *http.ServeMux

	mu     sync.Mutex
	checks map[string]Check
	groups []func(context.Context) map[string]string
	last   ReadyStatus
	lastAt time.Time
	ready  *bool // last state logged; nil before the first answer
}

// ReadyStatus is the body of /readyz.
type ReadyStatus struct {
	Ready   bool              `json:"ready"`
	Failing map[string]string `json:"failing,omitempty"`
}

// NewOps builds the operator handler.
func NewOps(o OpsOptions) *Ops {
	if o.Gatherer == nil {
		o.Gatherer = prometheus.NewRegistry()
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Second
	}
	if o.CacheFor <= 0 {
		o.CacheFor = time.Second
	}
	h := &Ops{o: o, mux: http.NewServeMux(), checks: map[string]Check{}}
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		// A collector that fails does not take the others down.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
	h.mux.HandleFunc("GET /readyz", h.readyz)
	return h
}

// AddCheck registers (or replaces) the readiness check name.
func (h *Ops) AddCheck(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
	h.lastAt = time.Time{} // the next probe runs the new set
}

// AddGroup registers a function running several checks at once: each entry
// of the map it returns is a failing check, by name (an empty map: all
// pass). It runs within CheckTimeout like a Check.
func (h *Ops) AddGroup(g func(ctx context.Context) map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.groups = append(h.groups, g)
	h.lastAt = time.Time{}
}

// ServeHTTP implements http.Handler.
func (h *Ops) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Ops) readyz(w http.ResponseWriter, r *http.Request) {
	res := h.Readiness(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !res.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(res)
}

// Readiness runs every check (at once, each within CheckTimeout), or
// returns the answer of less than CacheFor ago. The checks do not stop when
// ctx is canceled (a probe that hung up must not leave a failed answer in
// the cache); CheckTimeout bounds them.
func (h *Ops) Readiness(ctx context.Context) ReadyStatus {
	ctx = context.WithoutCancel(ctx)
	h.mu.Lock()
	if !h.lastAt.IsZero() && time.Since(h.lastAt) < h.o.CacheFor {
		res := h.last
		h.mu.Unlock()
		return res
	}
	checks := make(map[string]Check, len(h.checks))
	for n, c := range h.checks {
		checks[n] = c
	}
	groups := append([]func(context.Context) map[string]string(nil), h.groups...)
	h.mu.Unlock()

	var (
		mu      sync.Mutex
		failing = map[string]string{}
		wg      sync.WaitGroup
	)
	for name, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runCheck(ctx, c, h.o.CheckTimeout); err != nil {
				mu.Lock()
				failing[name] = err.Error()
				mu.Unlock()
			}
		}()
	}
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out map[string]string
			err := runCheck(ctx, func(ctx context.Context) error { out = g(ctx); return nil }, h.o.CheckTimeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failing[fmt.Sprintf("group%d", i)] = err.Error()
				return
			}
			for n, msg := range out {
				failing[n] = msg
			}
		}()
	}
	wg.Wait()
	res := ReadyStatus{Ready: len(failing) == 0}
	if !res.Ready {
		res.Failing = failing
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.lastAt = res, time.Now()
	if h.ready == nil || *h.ready != res.Ready {
		h.logChange(res)
		h.ready = &res.Ready
	}
	return res
}

// logChange says when the process becomes ready or stops being so.
func (h *Ops) logChange(res ReadyStatus) {
	if res.Ready {
		h.o.Logger.Info().Msg("ready")
		return
	}
	names := make([]string, 0, len(res.Failing))
	for n := range res.Failing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.o.Logger.Warn().Str("check", n).Str("err", res.Failing[n]).Msg("not ready")
	}
}

// runCheck runs c within timeout; a check that does not return in time
// fails (it is left to finish on its own: its context is canceled).
func runCheck(ctx context.Context, c Check, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- c(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", timeout)
	}
}

// BucketCheck is the readiness check of the bucket: one List of a page of
// one key, which needs the bucket to exist, answer and let us list.
func BucketCheck(b storage.Bucket) Check {
	return func(ctx context.Context) error {
		if _, err := b.List(ctx, "state/", storage.ListOptions{Limit: 1}); err != nil {
			return fmt.Errorf("bucket: %w", err)
		}
		return nil
	}
}
