package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Phase is the measure of one phase of a run: how much went through, how
// long it took, and what the machine was doing meanwhile.
type Phase struct {
	Name     string
	Messages int
	Bytes    int64
	Elapsed  time.Duration
	// Load1 is the one-minute load average at the start and at the end.
	LoadStart, LoadEnd float64
	// CPU is the CPU time used during the phase, by process group ("dovecot",
	// "versitygw", "recevable", "harness").
	CPU map[string]time.Duration
	// PeakRSS of the process under measure, 0 when not measured.
	PeakRSS int64
}

// MsgsPerSec is messages per second.
func (p Phase) MsgsPerSec() float64 { return float64(p.Messages) / p.Elapsed.Seconds() }

// MBPerSec is megabytes (10⁶ bytes) per second.
func (p Phase) MBPerSec() float64 { return float64(p.Bytes) / 1e6 / p.Elapsed.Seconds() }

// Ratio is pipeline's time over the slower of the two limits: 1 means the
// pipeline goes as fast as the slower of its source and its sink alone.
func Ratio(pipeline Phase, limits ...Phase) float64 {
	var slowest time.Duration
	for _, l := range limits {
		slowest = max(slowest, l.Elapsed)
	}
	return pipeline.Elapsed.Seconds() / slowest.Seconds()
}

// WriteTable prints the phases as a Markdown table.
func WriteTable(w io.Writer, phases ...Phase) {
	fmt.Fprintln(w, "| phase | messages | MB | time | msgs/s | MB/s | peak RSS | CPU (s) | load 1 min start→end |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|---|")
	for _, p := range phases {
		rss := "—"
		if p.PeakRSS > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(p.PeakRSS)/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.1f s | %.1f | %.1f | %s | %s | %.2f→%.2f |\n",
			p.Name, p.Messages, float64(p.Bytes)/1e6, p.Elapsed.Seconds(), p.MsgsPerSec(), p.MBPerSec(),
			rss, cpuSummary(p.CPU), p.LoadStart, p.LoadEnd)
	}
}

// cpuSummary lists the CPU seconds of each group in a fixed order.
func cpuSummary(cpu map[string]time.Duration) string {
	var out string
	for _, k := range []string{"harness", "dovecot", "versitygw", "recevable"} {
		if d, ok := cpu[k]; ok {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%s %.1f", k, d.Seconds())
		}
	}
	if out == "" {
		return "—"
	}
	return out
}

// Percentile returns the p-th percentile (0..100) of ds by the nearest-rank
// method: the smallest value at or above which p % of the samples lie.
// ds is not modified; an empty ds gives 0.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
