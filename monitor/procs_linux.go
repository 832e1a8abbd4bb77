package monitor

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/bwmon/bwmon/model"
)

// procTable knows the processes of the host and which socket inodes each
// holds. It is built by one full scan of /proc/PID/fd at start and then kept
// up to date incrementally: the proc connector names new and exited
// processes, and a process's open-file count (the size of /proc/PID/fd,
// one stat) tells which old processes opened or closed files since they
// were last read. No tick rescans every fd of every process.
type procTable struct {
	root string // "/proc"; a field so tests can use a fixture tree
	fs   procfs.FS
	now  func() time.Time

	mu     sync.Mutex
	procs  map[int]*procEntry
	inodes map[uint64]int // socket inode -> pid
	// young lists processes created (fork or exec) recently, newest last;
	// a socket of a short-lived process is looked for there first.
	young []int
	// eventsLost is set when proc connector events were lost; the next
	// refresh then lists /proc again.
	eventsLost bool
}

type procEntry struct {
	proc    *model.Process
	fdCount int64     // size of /proc/PID/fd when last read; -1: never
	sockets []uint64  // socket inodes held when last read
	born    time.Time // when bwmon learned of it
}

// youngFor is how long a new process is searched first.
const youngFor = 2 * time.Second

func newProcTable(root string, now func() time.Time) (*procTable, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, err
	}
	return &procTable{root: root, fs: fs, now: now, procs: map[int]*procEntry{}, inodes: map[uint64]int{}}, nil
}

// readProcess reads what bwmon shows of a process. It returns nil when the
// process is gone.
func (t *procTable) readProcess(pid int) *model.Process {
	p, err := t.fs.Proc(pid)
	if err != nil {
		return nil
	}
	st, err := p.Stat()
	if err != nil {
		return nil
	}
	mp := &model.Process{PID: pid, StartTime: st.Starttime, Comm: st.Comm}
	if args, err := p.CmdLine(); err == nil && len(args) > 0 {
		mp.Arg0 = args[0]
		mp.Cmdline = strings.Join(args, " ")
	}
	if exe, err := p.Executable(); err == nil {
		mp.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	return mp
}

// fdCount returns the number of open files of pid, or -1 when it is gone.
func (t *procTable) fdCount(pid int) int64 {
	st, err := os.Stat(t.root + "/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return st.Size()
}

// scanFDs re-reads the socket inodes pid holds. Called with mu held.
func (t *procTable) scanFDs(pid int, e *procEntry) {
	for _, ino := range e.sockets {
		if t.inodes[ino] == pid {
			delete(t.inodes, ino)
		}
	}
	e.sockets = e.sockets[:0]
	e.fdCount = t.fdCount(pid)
	p, err := t.fs.Proc(pid)
	if err != nil {
		return
	}
	targets, err := p.FileDescriptorTargets()
	if err != nil {
		return
	}
	for _, s := range targets {
		if !strings.HasPrefix(s, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(s[8:len(s)-1], 10, 64)
		if err != nil {
			continue
		}
		e.sockets = append(e.sockets, ino)
		t.inodes[ino] = pid
	}
}

// add starts tracking pid; with info nil the process is read. Called with mu
// held. It returns nil when the process is gone.
func (t *procTable) add(pid int, info *model.Process, young bool) *procEntry {
	if info == nil {
		info = t.readProcess(pid)
		if info == nil {
			return nil
		}
	}
	e := &procEntry{proc: info, fdCount: -1, born: t.now()}
	t.procs[pid] = e
	if young {
		t.young = append(t.young, pid)
	}
	return e
}

func (t *procTable) remove(pid int) {
	e := t.procs[pid]
	if e == nil {
		return
	}
	for _, ino := range e.sockets {
		if t.inodes[ino] == pid {
			delete(t.inodes, ino)
		}
	}
	delete(t.procs, pid)
}

// fullScan reads every process and every fd: once at start, and after lost
// proc connector events.
func (t *procTable) fullScan() error {
	pids, err := t.listPIDs()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	alive := make(map[int]bool, len(pids))
	for _, pid := range pids {
		alive[pid] = true
		e := t.procs[pid]
		if e == nil {
			if e = t.add(pid, nil, false); e == nil {
				continue
			}
		}
		t.scanFDs(pid, e)
	}
	for pid := range t.procs {
		if !alive[pid] {
			t.remove(pid)
		}
	}
	t.eventsLost = false
	return nil
}

func (t *procTable) listPIDs() ([]int, error) {
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

// handle applies one proc connector event.
func (t *procTable) handle(ev procEvent) {
	if ev.tid != ev.pid { // a thread, not a process
		return
	}
	switch ev.what {
	case procEventFork, procEventExec:
		var info *model.Process
		if ev.what == procEventExec {
			info = t.readProcess(ev.pid) // read while it surely lives
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if ev.what == procEventFork {
			if parent := t.procs[ev.ppid]; parent != nil {
				c := *parent.proc
				c.PID = ev.pid
				info = &c
				if st := t.readProcess(ev.pid); st != nil {
					info = st
				}
			}
		}
		old := t.procs[ev.pid]
		if old != nil && info != nil {
			old.proc = info // exec keeps the fds (minus close-on-exec)
			old.fdCount = -1
			t.young = append(t.young, ev.pid)
			return
		}
		t.add(ev.pid, info, true)
	case procEventExit:
		t.mu.Lock()
		t.remove(ev.pid)
		t.mu.Unlock()
	}
}

// lostEvents records that proc connector events were lost.
func (t *procTable) lostEvents() {
	t.mu.Lock()
	t.eventsLost = true
	t.mu.Unlock()
}

// ownerQuick finds the process holding inode among the known sockets and
// the young processes. It is cheap enough for the conntrack event path.
func (t *procTable) ownerQuick(inode uint64) *model.Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.lookupLocked(inode); p != nil {
		return p
	}
	// Young processes, newest first; drop those no longer young.
	cut := t.now().Add(-youngFor)
	keep := t.young[:0]
	for _, pid := range t.young {
		if e := t.procs[pid]; e != nil && e.born.After(cut) && !slices.Contains(keep, pid) {
			keep = append(keep, pid)
		}
	}
	t.young = keep
	for i := len(t.young) - 1; i >= 0; i-- {
		pid := t.young[i]
		e := t.procs[pid]
		if n := t.fdCount(pid); n != e.fdCount {
			t.scanFDs(pid, e)
			if t.inodes[inode] == pid {
				return e.proc
			}
		}
	}
	return nil
}

// ownerRefresh finds the process holding inode after bringing the table up
// to date: new PIDs are read, and processes whose open-file count changed
// are rescanned. It costs one stat per process and is meant for once per
// tick, not per event.
func (t *procTable) ownerRefresh(inode uint64) *model.Process {
	if p := t.ownerQuick(inode); p != nil {
		return p
	}
	t.refresh()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookupLocked(inode)
}

// refresh brings the table up to date cheaply (see ownerRefresh).
func (t *procTable) refresh() {
	t.mu.Lock()
	lost := t.eventsLost
	t.mu.Unlock()
	if lost {
		_ = t.fullScan()
		return
	}
	pids, err := t.listPIDs()
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	alive := make(map[int]bool, len(pids))
	for _, pid := range pids {
		alive[pid] = true
		e := t.procs[pid]
		if e == nil {
			if e = t.add(pid, nil, false); e == nil {
				continue
			}
		}
		if n := t.fdCount(pid); n != e.fdCount {
			t.scanFDs(pid, e)
		}
	}
	for pid := range t.procs {
		if !alive[pid] {
			t.remove(pid)
		}
	}
}

func (t *procTable) lookupLocked(inode uint64) *model.Process {
	if pid, ok := t.inodes[inode]; ok {
		if e := t.procs[pid]; e != nil {
			return e.proc
		}
	}
	return nil
}

// count returns the number of known processes.
func (t *procTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.procs)
}
