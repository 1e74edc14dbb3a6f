package main

import (
	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

// defaultServeHooks are the parts this binary gives serve (and demo): one
// line each, so that adding the metrics endpoints or the staff interface is
// a change here and nowhere else in serve.
func defaultServeHooks() serveHooks {
	return serveHooks{
		Assessor: func(c *Config, b storage.Bucket, log zerolog.Logger) (validate.Assessor, error) {
			return assessorFromConfig(c, b, log, false) // wire_validate.go
		},
		// Web: the staff interface (package web) on web.listen.
		Web: webHook(0), // serve_web.go
		// Metrics: /metrics, /healthz and /readyz on metrics.listen.
		Metrics: opsHandler, // ops.go
	}
}
