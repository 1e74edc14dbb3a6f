// Package bench is the throughput and latency harness of recevable: it
// generates submissions, loads them into a real Dovecot, and measures in
// one run the physical limits of the source and of the sink against the
// whole pipeline, as `recevable serve` runs it.
//
// It owns the message generator (generate.go) and the measuring helpers
// (rss.go, loadavg.go); the harness itself is a test (harness_test.go,
// idle_test.go) because it starts its servers with intake/imaptest and
// storage/s3test, which take a testing.TB. It does not run in CI: it skips
// unless RECEVABLE_BENCH=1 (the issue "Email channel" asks for a harness
// not run in CI; performance targets are never asserted in tests).
//
//	RECEVABLE_BENCH=1 go test ./bench/ -run TestThroughput -v -timeout 2h
//	RECEVABLE_BENCH=1 go test ./bench/ -run TestIdleLatency -v -timeout 30m
//	RECEVABLE_BENCH=1 go test ./bench/ -run TestPipelineBreakdown -v -timeout 1h
//
// TestPipelineBreakdown is diagnostic: where the pipeline's time goes
// (stages, bucket requests per item by key family, the IMAP connection).
//
// Knobs (environment): RECEVABLE_BENCH_N (messages, default 2000),
// RECEVABLE_BENCH_POOL (workers.pool_size of the pipeline and parallel
// puts of the raw S3 phase, default 4 like serve), RECEVABLE_BENCH_SEED
// (default 1), RECEVABLE_BENCH_CONTENT (filler or decodable, see Content),
// RECEVABLE_BENCH_SAMPLES (IDLE samples, default 50), RECEVABLE_BENCH_BINARY
// (a prebuilt recevable binary; default: go build ./cmd/recevable),
// RECEVABLE_BENCH_PERF (perf record of the pipeline phase into that file),
// RECEVABLE_BENCH_PPROF (CPU profile of TestPipelineBreakdown).
//
// BENCHMARKS.md at the repository root records the figures.
package bench
