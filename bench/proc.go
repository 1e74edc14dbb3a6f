package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What the harness reads from Linux's /proc: the peak memory of the process
// under measure, the CPU time of the servers and the pipeline during a
// phase, and the machine's load (the machine is shared, so every figure
// goes out with the load it was measured under).

// PeakRSS returns the peak resident set size of process pid in bytes
// (VmHWM of /proc/<pid>/status): the most physical memory it has held since
// it started.
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak rss of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss of %d: %q: %w", pid, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("peak rss of %d: no VmHWM", pid)
}

// LoadAvg returns the one-minute load average and the first three fields
// of /proc/loadavg as written ("11.88 11.72 10.18").
func LoadAvg() (float64, string) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1, "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return -1, "unknown"
	}
	one, _ := strconv.ParseFloat(f[0], 64)
	return one, strings.Join(f[:3], " ")
}

// clockTick is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTick = 100

// procStat is what the harness reads of /proc/<pid>/stat.
type procStat struct {
	pid, ppid int
	comm      string
	cpu       time.Duration // utime+stime+cutime+cstime
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// comm is in parentheses and may hold spaces: split after the last ')'.
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(string(data[end+1:]))
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	s := procStat{pid: pid, comm: string(data[open+1 : end])}
	s.ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	s.cpu = time.Duration(ticks) * time.Second / clockTick
	return s, nil
}

// allStats reads every process of the machine it can see.
func allStats() []procStat {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]procStat, 0, len(dirs))
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// TreeCPU returns the CPU time used so far by process root and all its
// descendants, the dead ones included once their parent has waited for them
// (cutime, cstime): Dovecot's master forks a process per IMAP session.
func TreeCPU(root int) time.Duration {
	stats := allStats()
	children := map[int][]procStat{}
	var top *procStat
	for i, s := range stats {
		children[s.ppid] = append(children[s.ppid], s)
		if s.pid == root {
			top = &stats[i]
		}
	}
	if top == nil {
		return 0
	}
	var total time.Duration
	var walk func(s procStat)
	walk = func(s procStat) {
		total += s.cpu
		for _, c := range children[s.pid] {
			walk(c)
		}
	}
	walk(*top)
	return total
}

// ChildPID returns the pid of a direct child of this process whose command
// name is comm (as in /proc/<pid>/comm, at most 15 characters), or 0.
func ChildPID(comm string) int {
	self := os.Getpid()
	for _, s := range allStats() {
		if s.ppid == self && s.comm == comm {
			return s.pid
		}
	}
	return 0
}
