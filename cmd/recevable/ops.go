package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/web"
	"recevable/workers"
)

// The operator side of serve: what it exports besides the pipeline's and
// the bucket's series, what /readyz checks besides the pipeline and the
// bucket, and the handler of metrics.listen (package web, ops.go).
//
// Series, all on the one registry of the process (deploy/metrics.txt):
//
//	recevable_build_info{version}                     here (log.go)
//	recevable_imap_*{source}                          intake.IMAPMetrics
//	recevable_queue_dossiers{site,status}             storage.QueueStats
//	recevable_queue_oldest_age_seconds{site,status}   storage.QueueStats
//	recevable_quarantine_items                        workers, and QueueStats
//	recevable_storage_*{op,…}                         storage.Instrument (serve)
//	recevable_intake_*, _dossiers_*, _stage_*,
//	_source_*, _lease_held                            workers.NewMetrics
//
// Readiness, the failing ones named in the body of /readyz:
//
//	pipeline  not started yet, or stopping (serve)
//	bucket    a List of one key fails (serve)
//	sources   an IMAP source of this replica has failed for longer than
//	          sourceBudget without one good poll (a replica polls only the
//	          sources whose lease it holds)
//	config    a file or directory the configuration names, and that is read
//	          while running, is gone (storage.fs.dir, a folder drop, an IMAP
//	          token file, the CCC registry)
//
// A configuration that does not validate never gets this far: serve exits
// naming the field.

// sourceBudget is how long an IMAP source may fail (server down, login
// refused) before the replica polling it says it is not ready: as long as
// the alert RecevableSourcePollFailing waits (deploy/prometheus/alerts.yaml).
const sourceBudget = 10 * time.Minute

// queueStatsEvery is how often the queue markers and the quarantine are
// counted (storage.QueueStats).
const queueStatsEvery = 30 * time.Second

// opsParts are the operator parts serve builds next to the pipeline.
type opsParts struct {
	cfg     *Config
	imap    *intake.IMAPMetrics
	workers *workers.Metrics
}

// newOpsParts registers build info, the workers' and the IMAP metrics and
// the queue statistics of cfg's sites on reg, and reads the statistics from
// bucket until ctx ends. The workers' metrics go to the pipeline
// (pipelineParts.Metrics), the IMAP ones into the sources' options
// (pipelineParts.IMAPMetrics).
func newOpsParts(ctx context.Context, cfg *Config, bucket storage.Bucket, reg prometheus.Registerer, log zerolog.Logger) *opsParts {
	registerBuildInfo(reg, buildVersion())
	o := &opsParts{cfg: cfg, imap: intake.NewIMAPMetrics(reg), workers: workers.NewMetrics(reg)}
	sites := make([]string, 0, len(cfg.Sites))
	for _, s := range cfg.Sites {
		sites = append(sites, s.ID)
	}
	// The workers count the quarantine once a minute; count it with the
	// queues too.
	stats := storage.NewQueueStats(bucket, sites, storage.QueueStatsOptions{Quarantine: o.workers.QuarantineItems})
	reg.MustRegister(stats)
	go stats.Run(ctx, queueStatsEvery, func(err error) {
		log.Warn().Err(err).Msg("queue statistics: cannot read the queues, will try again")
	})
	return o
}

// ready adds the failing operator checks ("sources", "config") to out.
func (o *opsParts) ready(ctx context.Context, out map[string]string) {
	if err := o.imap.Ready(sourceBudget)(ctx); err != nil {
		out["sources"] = err.Error()
	}
	if err := configFilesPresent(o.cfg); err != nil {
		out["config"] = err.Error()
	}
}

// configFilesPresent checks the files and directories of c that are read
// while the service runs (those read only at start were checked then).
func configFilesPresent(c *Config) error {
	var missing []string
	need := func(path, field string, dir bool) {
		if path == "" {
			return
		}
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			missing = append(missing, fmt.Sprintf("%s: %v", field, err))
		case fi.IsDir() != dir:
			missing = append(missing, fmt.Sprintf("%s: %s is not a %s", field, path, map[bool]string{true: "directory", false: "file"}[dir]))
		}
	}
	if c.Storage.Backend == BackendFS {
		need(c.Storage.FS.Dir, "storage.fs.dir", true)
	}
	for i, d := range c.Drops {
		if d.Kind == DropFolder {
			need(d.Path, fmt.Sprintf("drops[%d].path", i), true)
		}
	}
	for i, a := range c.IMAP.Accounts {
		need(a.TokenFile, fmt.Sprintf("imap.accounts[%d].token_file", i), false)
	}
	need(c.CCC.RegistryFile, "ccc.registry_file", false)
	if len(missing) > 0 {
		return fmt.Errorf("%s", strings.Join(missing, "; "))
	}
	return nil
}

// opsHandler is serve's Metrics hook: /metrics from reg, /healthz, and
// /readyz answering from ready.
func opsHandler(reg *prometheus.Registry, ready func(context.Context) map[string]string) http.Handler {
	h := web.NewOps(web.OpsOptions{Gatherer: reg})
	h.AddGroup(ready)
	return h
}
