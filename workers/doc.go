// Package workers supervises the pipeline: the pollers of each source, the
// bounded processing pool, retries with capped backoff, leases that let one
// replica at a time poll a source, quarantine of permanent failures, and the
// shutdown order (stop polling, finish in-flight items, flush acks, close).
package workers
