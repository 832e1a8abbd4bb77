package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/internal/state"
)

// An interactive run (`make run`, `bwmon` in a shell) and the service share
// the built-in defaults: the state directory and the listen address. A run
// on these defaults (no -config, and no -state-dir or -listen) steps aside
// for the bwmon already running instead of failing; what a file or a flag
// names must work, or fail saying how to fix it.

// openState opens the store of sc. With yield, a directory another agent
// holds means running without state (nil, nil), said in one warning.
func openState(sc state.Config, dayApps int, yield bool, logger *slog.Logger) (*state.Store, error) {
	st, err := state.Open(state.Options{Dir: sc.Dir, Flush: sc.Flush, DayApps: dayApps, Logger: logger})
	switch {
	case err == nil:
		return st, nil
	case yield && errors.Is(err, state.ErrLocked):
		logger.Warn("the state directory is in use by another bwmon (the service?): running without state, totals start at zero; use -state-dir DIR to keep state elsewhere, or `bwmon top` to look at the running one (no root, no second agent)",
			"dir", sc.Dir, "holder", lockHolder(sc.Dir))
		return nil, nil
	default:
		return nil, fmt.Errorf("%w; on the command line: -state-dir DIR, or -state-dir \"\" to keep no state", err)
	}
}

// lockHolder names the process that holds dir's lock file, as far as it
// can tell: "pid 1234, bwmon.service", "pid 1234", or "unknown". The lock
// file holds the holder's PID; it is read without following a symlink or
// blocking on a FIFO, and at most a few bytes of it.
func lockHolder(dir string) string {
	f, err := os.OpenFile(filepath.Join(dir, state.LockName), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if len(b) == 32 || err != nil || pid <= 0 || pid > maxPID {
		return "unknown"
	}
	if unit := unitOf(pid); unit != "" {
		return fmt.Sprintf("pid %d, %s", pid, unit)
	}
	return fmt.Sprintf("pid %d", pid)
}

// unitInCgroup returns the innermost systemd service of a /proc/PID/cgroup
// file ("0::/system.slice/bwmon.service", or a cgroup v1 line
// "1:name=systemd:/system.slice/bwmon.service"), sanitised: a delegated
// cgroup's name is anyone's choice. "" when there is none.
func unitInCgroup(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, path, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		_, path, _ = strings.Cut(path, ":")
		unit := ""
		// "user@0.service/app.slice/x.service" runs in x.service.
		for _, part := range strings.Split(path, "/") {
			if strings.HasSuffix(part, ".service") {
				unit = part
			}
		}
		if unit != "" {
			return safename.Clean(unit)
		}
	}
	return ""
}

// maxPID is the largest PID Linux hands out (pid_max's limit, 2^22).
const maxPID = 1 << 22

// fallbackPorts is how many ports after a busy default one a yielding run
// tries before it takes any free port: the URL stays the same from one run
// to the next while the service holds the default.
const fallbackPorts = 9

// listenYielding listens on addr; when addr is busy, it tries the next
// fallbackPorts ports on the same host, then any free one. It returns the
// listener and whether it is not on addr.
func listenYielding(addr string) (net.Listener, bool, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, false, err
	}
	host, port, serr := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if serr != nil || perr != nil || p == 0 {
		return nil, false, err
	}
	for q := p + 1; q <= min(p+fallbackPorts, 65535); q++ {
		if ln, lerr := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(q))); lerr == nil {
			return ln, true, nil
		}
	}
	ln, lerr := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if lerr != nil {
		return nil, false, err
	}
	return ln, true, nil
}
