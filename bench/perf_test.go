package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Profiling the pipeline phase: with RECEVABLE_BENCH_PERF=FILE, the harness
// records CPU samples of recevable serve and versitygw with Linux perf
// (both are Go binaries built with frame pointers, so call graphs are
// exact) into FILE, for `perf report -i FILE --no-children --sort dso,sym`.
// Sampling at 199 Hz costs well under 1 % of a core.

// startPerf starts perf record on pids when RECEVABLE_BENCH_PERF is set;
// the returned function stops it. Without the variable it does nothing.
func startPerf(t testing.TB, pids ...int) (stop func()) {
	t.Helper()
	out := os.Getenv("RECEVABLE_BENCH_PERF")
	if out == "" {
		return func() {}
	}
	var list []string
	for _, p := range pids {
		if p > 0 {
			list = append(list, strconv.Itoa(p))
		}
	}
	cmd := exec.Command("perf", "record", "-F", "199", "-g", "-o", out, "-p", strings.Join(list, ","))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("perf record: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(200 * time.Millisecond) // perf attaches
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(os.Stderr, "perf record: %v\n", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}
