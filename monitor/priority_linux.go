package monitor

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Nice is the priority bwmon raises itself to (as root) when a conntrack
// monitor starts. A process that connects, sends and exits lives a few
// milliseconds; under CPU load an agent at the default priority is often
// scheduled too late to find that process's socket, and its bytes end up
// unattributed. bwmon's CPU use is small and bounded by its tick, so a
// higher priority costs the host little latency and no throughput.
const Nice = -10

// raisePriority sets every thread of the process to Nice; threads created
// later inherit it from their creator. Linux applies nice per thread,
// hence the walk over /proc/self/task. Without the privilege it does
// nothing and reports false.
func raisePriority() bool {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false
	}
	ok := true
	for _, n := range names {
		tid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-cur <= Nice {
			continue // already at least as high (getpriority returns 20-nice)
		}
		if unix.Setpriority(unix.PRIO_PROCESS, tid, Nice) != nil {
			ok = false
		}
	}
	return ok
}
