package bench

import (
	"testing"
	"time"
)

// TestPercentile checks the nearest-rank percentiles the IDLE benchmark
// reports, on samples whose answer is known by hand.
func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	twenty := ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 95, 7 * time.Millisecond},
		{"median of 1..20", twenty, 50, 10 * time.Millisecond},
		{"p95 of 1..20", twenty, 95, 19 * time.Millisecond},
		{"max of 1..20", twenty, 100, 20 * time.Millisecond},
		{"p0 is the minimum", twenty, 0, 1 * time.Millisecond},
		{"median of 5", ms(50, 10, 40, 20, 30), 50, 30 * time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%s, %v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
	if twenty[0] != 20*time.Millisecond {
		t.Errorf("Percentile sorted its input in place")
	}
}

// TestRatio checks that the ratio is taken against the slower limit.
func TestRatio(t *testing.T) {
	fetch := Phase{Elapsed: 10 * time.Second}
	put := Phase{Elapsed: 20 * time.Second}
	pipe := Phase{Elapsed: 30 * time.Second}
	if got := Ratio(pipe, fetch, put); got != 1.5 {
		t.Errorf("Ratio(30 s; 10 s, 20 s) = %v, want 1.5", got)
	}
}
