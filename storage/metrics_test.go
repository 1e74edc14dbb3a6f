package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The instrumented bucket is still a Bucket: the whole conformance suite
// passes through it.
func TestInstrumentConformance(t *testing.T) {
	runConformance(t, backendLimits{}, func(t *testing.T) Bucket {
		return Instrument(newTestFS(t), NewMetrics(prometheus.NewRegistry()))
	})
}

// TestInstrumentCounts runs a script of calls on an instrumented FS bucket,
// each with the result it must be counted under, then compares every
// op × result counter and every histogram count with what the script did.
func TestInstrumentCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	b := Instrument(newTestFS(t), m)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	var etag ETag
	steps := []struct {
		name   string
		op     string
		result string
		call   func() error
	}{
		{"create", OpPut, ResultOK, func() (err error) {
			etag, err = b.Put(ctx, "a/one", strings.NewReader("1"), PutOptions{IfAbsent: true})
			return err
		}},
		{"create again", OpPut, ResultConflict, func() error {
			_, err := b.Put(ctx, "a/one", strings.NewReader("1"), PutOptions{IfAbsent: true})
			return wantIs(err, ErrExists)
		}},
		{"replace", OpPut, ResultOK, func() error {
			_, err := b.Put(ctx, "a/one", strings.NewReader("2"), PutOptions{IfMatch: etag})
			return err
		}},
		{"replace stale", OpPut, ResultConflict, func() error {
			_, err := b.Put(ctx, "a/one", strings.NewReader("3"), PutOptions{IfMatch: etag})
			return wantIs(err, ErrPreconditionFailed)
		}},
		{"invalid key", OpPut, ResultError, func() error {
			_, err := b.Put(ctx, "/abs", strings.NewReader("x"), PutOptions{})
			return wantIs(err, ErrInvalidKey)
		}},
		{"get", OpGet, ResultOK, func() error {
			rc, _, err := b.Get(ctx, "a/one")
			if err != nil {
				return err
			}
			body, err := io.ReadAll(rc)
			rc.Close()
			if err == nil && string(body) != "2" {
				err = errors.New("read back " + string(body))
			}
			return err
		}},
		{"get missing", OpGet, ResultNotFound, func() error {
			_, _, err := b.Get(ctx, "a/none")
			return wantIs(err, ErrNotFound)
		}},
		{"head", OpHead, ResultOK, func() error { _, err := b.Head(ctx, "a/one"); return err }},
		{"head missing", OpHead, ResultNotFound, func() error {
			_, err := b.Head(ctx, "a/none")
			return wantIs(err, ErrNotFound)
		}},
		{"list", OpList, ResultOK, func() error {
			p, err := b.List(ctx, "a/", ListOptions{})
			if err == nil && len(p.Objects) != 1 {
				err = errors.New("listing does not hold the one object")
			}
			return err
		}},
		{"list canceled", OpList, ResultError, func() error {
			_, err := b.List(canceled, "a/", ListOptions{})
			return wantIs(err, context.Canceled)
		}},
		{"copy", OpCopy, ResultOK, func() error { _, err := b.Copy(ctx, "a/one", "a/two", PutOptions{}); return err }},
		{"copy onto", OpCopy, ResultConflict, func() error {
			_, err := b.Copy(ctx, "a/one", "a/two", PutOptions{IfAbsent: true})
			return wantIs(err, ErrExists)
		}},
		{"copy missing", OpCopy, ResultNotFound, func() error {
			_, err := b.Copy(ctx, "a/none", "a/three", PutOptions{})
			return wantIs(err, ErrNotFound)
		}},
		{"delete", OpDelete, ResultOK, func() error { return b.Delete(ctx, "a/two") }},
		{"delete missing", OpDelete, ResultOK, func() error { return b.Delete(ctx, "a/two") }},
	}
	want := map[[2]string]float64{}
	calls := map[string]uint64{}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want[[2]string{s.op, s.result}]++
		calls[s.op]++
	}

	for _, op := range []string{OpPut, OpGet, OpHead, OpList, OpDelete, OpCopy} {
		for _, res := range []string{ResultOK, ResultNotFound, ResultConflict, ResultError} {
			got := testutil.ToFloat64(m.Operations.WithLabelValues(op, res))
			if w := want[[2]string{op, res}]; got != w {
				t.Errorf("recevable_storage_operations_total{op=%q,result=%q} = %v, want %v", op, res, got, w)
			}
		}
		if got := histogramCount(t, reg, "recevable_storage_operation_duration_seconds", "op", op); got != calls[op] {
			t.Errorf("recevable_storage_operation_duration_seconds_count{op=%q} = %d, want %d", op, got, calls[op])
		}
	}
	// Every op × result series is exported before it first happens.
	if n := testutil.CollectAndCount(m.Operations); n != 24 {
		t.Errorf("%d operation series, want 24", n)
	}
}

func TestInstrumentNil(t *testing.T) {
	b := newTestFS(t)
	if got := Instrument(b, nil); got != Bucket(b) {
		t.Errorf("Instrument(b, nil) = %T, want b itself", got)
	}
}

// wantIs turns "err is not target" into an error for the script above.
func wantIs(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	if err == nil {
		return errors.New("no error, want " + target.Error())
	}
	return errors.New("error " + err.Error() + ", want " + target.Error())
}

// histogramCount reads the sample count of the histogram name whose label
// has value, from what reg exports.
func histogramCount(t *testing.T, reg prometheus.Gatherer, name, label, value string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return mt.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	t.Fatalf("%s{%s=%q} not exported", name, label, value)
	return 0
}

// BenchmarkInstrumentOverhead: the cost the decorator adds to one call
// (a Head of a missing key on the FS bucket, the cheapest there is).
func BenchmarkInstrumentOverhead(b *testing.B) {
	fs, err := NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		b    Bucket
	}{
		{"plain", fs},
		{"instrumented", Instrument(fs, NewMetrics(prometheus.NewRegistry()))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.b.Head(ctx, "state/none"); !errors.Is(err, ErrNotFound) {
					b.Fatal(err)
				}
			}
		})
	}
}
