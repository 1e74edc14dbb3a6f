package storage

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bucket's series, named and labelled as in the metric
// catalogue (deploy/metrics.txt). Build them with NewMetrics on the
// process's registry (or a fresh one in a test) and wrap the bucket with
// Instrument.
type Metrics struct {
	// Operations counts bucket calls by operation and result.
	// op: put | get | head | list | delete | copy
	// result: ok | not_found | conflict | error
	// (conflict is a lost conditional write, ErrExists or
	// ErrPreconditionFailed: the normal answer when two replicas race, not a
	// fault; error is anything else, cancellations included.)
	Operations *prometheus.CounterVec
	// Duration times bucket calls by operation, whatever their result.
	// op: put | get | head | list | delete | copy
	// A Get is timed until the object is open (first byte), not read: the
	// caller reads at its own pace.
	Duration *prometheus.HistogramVec
}

// Operation labels of Metrics.
const (
	OpPut    = "put"
	OpGet    = "get"
	OpHead   = "head"
	OpList   = "list"
	OpDelete = "delete"
	OpCopy   = "copy"
)

// Result labels of Metrics.Operations.
const (
	ResultOK       = "ok"
	ResultNotFound = "not_found"
	ResultConflict = "conflict"
	ResultError    = "error"
)

// durationBuckets span a local directory (tens of microseconds) to a slow S3
// multipart upload of a 50 MB message (a minute).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics creates the bucket's metrics and registers them on reg (nil:
// not registered). Every op × result series exists from the start at 0, so
// that a rate of errors is 0 rather than absent before the first failure.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recevable_storage_operations_total",
			Help: "Bucket operations by operation (put, get, head, list, delete, copy) and result (ok, not_found, conflict, error).",
		}, []string{"op", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "recevable_storage_operation_duration_seconds",
			Help:    "Latency of bucket operations (a get until the object is open).",
			Buckets: durationBuckets,
		}, []string{"op"}),
	}
	for _, op := range []string{OpPut, OpGet, OpHead, OpList, OpDelete, OpCopy} {
		for _, res := range []string{ResultOK, ResultNotFound, ResultConflict, ResultError} {
			m.Operations.WithLabelValues(op, res)
		}
		m.Duration.WithLabelValues(op)
	}
	if reg != nil {
		reg.MustRegister(m.Operations, m.Duration)
	}
	return m
}

// Instrument returns b with every call counted and timed in m. The result is
// a Bucket like any other: it adds no behaviour, and errors pass through
// unchanged (errors.Is still sees ErrNotFound and the conflicts).
func Instrument(b Bucket, m *Metrics) Bucket {
	if m == nil {
		return b
	}
	return &instrumented{b: b, m: m}
}

// instrumented is the decorator built by Instrument.
type instrumented struct {
	b Bucket
	m *Metrics
}

// done records one call of op that started at start and ended with err.
func (i *instrumented) done(op string, start time.Time, err error) {
	i.m.Duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	i.m.Operations.WithLabelValues(op, resultOf(err)).Inc()
}

// resultOf classifies an error for the result label.
func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case IsConflict(err):
		return ResultConflict
	}
	return ResultError
}

func (i *instrumented) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	start := time.Now()
	etag, err := i.b.Put(ctx, key, r, o)
	i.done(OpPut, start, err)
	return etag, err
}

func (i *instrumented) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	start := time.Now()
	rc, info, err := i.b.Get(ctx, key)
	i.done(OpGet, start, err)
	return rc, info, err
}

func (i *instrumented) Head(ctx context.Context, key string) (Info, error) {
	start := time.Now()
	info, err := i.b.Head(ctx, key)
	i.done(OpHead, start, err)
	return info, err
}

func (i *instrumented) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	start := time.Now()
	page, err := i.b.List(ctx, prefix, o)
	i.done(OpList, start, err)
	return page, err
}

func (i *instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := i.b.Delete(ctx, key)
	i.done(OpDelete, start, err)
	return err
}

func (i *instrumented) Copy(ctx context.Context, src, dst string, o PutOptions) (ETag, error) {
	start := time.Now()
	etag, err := i.b.Copy(ctx, src, dst, o)
	i.done(OpCopy, start, err)
	return etag, err
}
