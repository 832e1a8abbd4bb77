package procs

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
)

// readProcess reads what bwmon shows of a process. It returns nil when the
// process is gone.
func (t *Table) readProcess(pid int) *model.Process {
	p, err := t.fs.Proc(pid)
	if err != nil {
		return nil
	}
	// Cheapest and most needed first: the executable names the app, and
	// a process that lives a few milliseconds may be gone a moment later;
	// whatever was read by then is kept.
	mp := &model.Process{PID: pid}
	if exe, err := p.Executable(); err == nil {
		mp.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	if args, err := p.CmdLine(); err == nil && len(args) > 0 {
		mp.Arg0 = args[0]
		mp.Cmdline = strings.Join(args, " ")
	}
	if st, err := p.Stat(); err == nil {
		mp.StartTime, mp.Comm = st.Starttime, st.Comm
	} else if mp.Exe == "" && mp.Cmdline == "" {
		return nil // gone before anything could be read
	}
	// Where it runs: its user, cgroup, systemd unit and container
	// (internal/identity: two small reads, user accounts cached,
	// container names read by the resolver's worker, never here), and
	// its network namespace.
	mp.Identity = t.ids.Process(t.pidPath(pid, ""))
	if t.netNS != nil {
		mp.NetNS = t.netNS(pid)
	}
	return mp
}

func (t *Table) pidPath(pid int, leaf string) string {
	return t.root + "/" + strconv.Itoa(pid) + "/" + leaf
}

// fdCount returns the number of open files of pid, or -1 when it is gone.
func (t *Table) fdCount(pid int) int64 {
	var st unix.Stat_t
	if unix.Stat(t.pidPath(pid, "fd"), &st) != nil {
		return -1
	}
	return st.Size
}

// readSocketFDs returns the socket inodes pid holds, the fd number of
// each, and its open-file count, reading /proc/PID/fd without holding the
// lock.
func (t *Table) readSocketFDs(pid int) ([]uint64, []string, int64) {
	n := t.fdCount(pid)
	dir := t.pidPath(pid, "fd")
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, -1
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, nil, -1
	}
	var out []uint64
	var fds []string
	for _, name := range names {
		if ino, ok := socketInode(dir + "/" + name); ok {
			out = append(out, ino)
			fds = append(fds, name)
		}
	}
	return out, fds, n
}

// socketInode reads the fd link at path: the inode when it is a socket.
func socketInode(path string) (uint64, bool) {
	s, err := os.Readlink(path)
	if err != nil {
		return 0, false
	}
	return parseSocketLink(s)
}

// parseSocketLink reads the inode of an fd link's target "socket:[INODE]".
func parseSocketLink(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, "socket:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, false
	}
	ino, err := strconv.ParseUint(rest[:len(rest)-1], 10, 64)
	if err != nil {
		return 0, false // not the largest value ParseUint gives on overflow
	}
	return ino, true
}

func (t *Table) listPIDs() ([]int, error) {
	d, err := os.Open(t.root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// lastPID returns the PID the kernel allocated last (the last field of
// /proc/loadavg), or 0 when it cannot be read.
func (t *Table) lastPID() int {
	b, err := os.ReadFile(t.root + "/loadavg")
	if err != nil {
		return 0
	}
	return parseLastPID(string(b))
}

// parseLastPID returns the fifth field of a /proc/loadavg line (0: none).
func parseLastPID(s string) int {
	f := strings.Fields(s)
	if len(f) < 5 {
		return 0
	}
	n, _ := strconv.Atoi(f[4])
	return n
}
