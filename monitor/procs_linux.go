package monitor

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"

	"github.com/bwmon/bwmon/model"
)

// procTable knows the processes of the host and which socket inodes each
// holds. It is built by one full scan of /proc/PID/fd at start and then kept
// up to date incrementally: the proc connector names new and exited
// processes, and a process's open-file count (the size of /proc/PID/fd, one
// stat) tells which processes opened or closed files since they were last
// read. No tick rescans every fd of every process.
//
// It is safe for concurrent use. File reads happen outside its lock, so the
// conntrack event workers can search for owners in parallel.
type procTable struct {
	root string // "/proc"; a field so tests can use a fixture tree
	fs   procfs.FS
	now  func() time.Time
	ids  *identityResolver // where processes run (identity_linux.go); closed by wait
	// netnsLabel names a network namespace by inode ("" for the host's);
	// nil leaves Process.NetNS empty. Set before the table is shared.
	netnsLabel func(ino uint64) string

	mu    sync.Mutex
	procs map[int]*procEntry
	// inodes maps a socket inode to the process that held it. A mapping
	// outlives the socket by up to inodeKeep: the flow of a socket that
	// was closed a moment ago may not be resolved yet.
	inodes map[uint64]inodeRef
	// young lists processes created (fork or exec) recently, newest last;
	// a socket of a short-lived process is looked for there first.
	young []int
	// eventsLost is set when proc connector events were lost; the next
	// refresh then lists /proc again.
	eventsLost bool
	// lastSync is when ownerRefresh last synced with /proc.
	lastSync time.Time

	// newScan serialises listings of /proc for PIDs the proc connector
	// has not told of yet; listedUpTo is the kernel's last allocated PID
	// at the last listing: another is useful only once it changed.
	newScan    sync.Mutex
	listedUpTo int
	listings   atomic.Uint64

	bg sync.WaitGroup // scans still running for scanConcurrently

	wake chan struct{} // an exec happened: watchNewborns has work

	// recent holds the processes that owned the last flows resolved,
	// newest last: a process that opens connections one after another
	// (a daemon making requests) keeps the same open-file count, so only
	// reading it again finds its next socket.
	recent []int
}

const (
	// recentOwners is how many recent owners a miss reads again.
	recentOwners = 16
	// smallFDTable bounds the fd tables read on the event path regardless
	// of their count: a large one waits for the tick's sync.
	smallFDTable = 1024
)

// noteOwner records pid as the owner of a flow just resolved. Called with
// mu held.
func (t *procTable) noteOwner(pid int) {
	if i := slices.Index(t.recent, pid); i >= 0 {
		t.recent = slices.Delete(t.recent, i, i+1)
	}
	t.recent = append(t.recent, pid)
	if len(t.recent) > recentOwners {
		t.recent = t.recent[1:]
	}
}

type inodeRef struct {
	pid  int
	e    *procEntry // the very process, so a reused PID does not inherit
	seen time.Time  // last time the socket was seen in its fd table
}

// inodeKeep is how long a socket's owner is remembered after the socket
// left its fd table.
const inodeKeep = 10 * time.Second

type procEntry struct {
	proc    *model.Process // nil until needed (read lazily)
	fdCount int64          // size of /proc/PID/fd when last read; -1: never
	sockets []uint64       // socket inodes held when last read
	lastFD  string         // fd number of the last socket found for a flow
	scanned time.Time      // when the sockets were last read
	born    time.Time      // when bwmon learned of it
	// exited is when the process was seen to exit (zero: alive). Its
	// entry and sockets are kept for exitGrace: the conntrack event of
	// its last flow may be handled after its exit event.
	exited time.Time
}

// exitGrace is how long an exited process still answers for its sockets.
const exitGrace = 5 * time.Second

const (
	// youngFor is how long a new process is searched first.
	youngFor = 2 * time.Second
	// syncEvery bounds how often ownerRefresh syncs with /proc: once a
	// tick serves every flow of that tick.
	syncEvery = 500 * time.Millisecond
)

func newProcTable(root string, now func() time.Time, ids *identityResolver) (*procTable, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		ids.Close()
		return nil, err
	}
	return &procTable{root: root, fs: fs, now: now, ids: ids, procs: map[int]*procEntry{}, inodes: map[uint64]inodeRef{}, wake: make(chan struct{}, 1)}, nil
}

// readProcess reads what bwmon shows of a process. It returns nil when the
// process is gone.
func (t *procTable) readProcess(pid int) *model.Process {
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
	t.identify(pid, mp)
	return mp
}

func (t *procTable) pidPath(pid int, leaf string) string {
	return t.root + "/" + strconv.Itoa(pid) + "/" + leaf
}

// fdCount returns the number of open files of pid, or -1 when it is gone.
func (t *procTable) fdCount(pid int) int64 {
	st, err := os.Stat(t.pidPath(pid, "fd"))
	if err != nil {
		return -1
	}
	return st.Size()
}

// readSockets returns the socket inodes pid holds and its open-file count,
// reading /proc/PID/fd without holding the lock.
func (t *procTable) readSockets(pid int) ([]uint64, int64) {
	inodes, _, n := t.readSocketFDs(pid)
	return inodes, n
}

// readSocketFDs is readSockets with the fd number of each socket.
func (t *procTable) readSocketFDs(pid int) ([]uint64, []string, int64) {
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
	if err != nil || !strings.HasPrefix(s, "socket:[") {
		return 0, false
	}
	ino, err := strconv.ParseUint(s[8:len(s)-1], 10, 64)
	return ino, err == nil
}

// probeRecent reads, for each recent owner, the one fd its last matched
// socket was on: a process that connects again and again most often gets
// the same (lowest free) fd number. One readlink each; a socket found is
// recorded, so that a flow living a fraction of a millisecond can still be
// tied to its process.
func (t *procTable) probeRecent() {
	t.mu.Lock()
	type probe struct {
		pid int
		e   *procEntry
		fd  string
	}
	var ps []probe
	for _, pid := range t.recent {
		if e := t.procs[pid]; e != nil && e.exited.IsZero() && e.lastFD != "" {
			ps = append(ps, probe{pid, e, e.lastFD})
		}
	}
	t.mu.Unlock()
	for _, p := range ps {
		ino, ok := socketInode(t.pidPath(p.pid, "fd/"+p.fd))
		if !ok {
			continue
		}
		t.mu.Lock()
		if t.procs[p.pid] == p.e {
			t.inodes[ino] = inodeRef{pid: p.pid, e: p.e, seen: t.now()}
		}
		t.mu.Unlock()
	}
}

// setSockets records what readSockets found. Sockets no longer open keep
// their owner until sync expires them. Called with mu held.
func (t *procTable) setSockets(pid int, e *procEntry, inodes []uint64, n int64) {
	now := t.now()
	e.sockets = inodes
	e.fdCount = n
	e.scanned = now
	for _, ino := range inodes {
		t.inodes[ino] = inodeRef{pid: pid, e: e, seen: now}
	}
}

// holder returns the process entry that holds (or held) inode. Called with
// mu held.
func (t *procTable) holder(inode uint64) (int, bool) {
	r, ok := t.inodes[inode]
	if !ok || t.procs[r.pid] != r.e {
		return 0, false // unknown, or its PID now names another process
	}
	return r.pid, true
}

// scan re-reads pid's sockets and records them; it reports whether pid
// holds inode (0: any).
func (t *procTable) scan(pid int, inode uint64) bool {
	inodes, fds, n := t.readSocketFDs(pid)
	var info *model.Process
	lastFD := ""
	if i := slices.Index(inodes, inode); inode != 0 && i >= 0 {
		// Read it now, while it surely lived a moment ago.
		info = t.readProcess(pid)
		lastFD = fds[i]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.procs[pid]
	if e == nil || (!e.exited.IsZero() && n < 0) {
		return false // gone: keep the sockets it was last seen with
	}
	if info != nil && (e.proc == nil || e.proc.Exe != info.Exe || e.proc.StartTime != info.StartTime) {
		e.proc = info
	}
	if lastFD != "" {
		e.lastFD = lastFD
	}
	t.setSockets(pid, e, inodes, n)
	got, ok := t.holder(inode)
	return inode != 0 && ok && got == pid
}

// info returns pid's process, reading it (again) when it was never read or
// when the process has called exec since: one readlink of /proc/PID/exe
// tells.
func (t *procTable) info(pid int) *model.Process {
	t.mu.Lock()
	t.noteOwner(pid)
	e := t.procs[pid]
	var cur *model.Process
	if e != nil {
		cur = e.proc
	}
	t.mu.Unlock()
	if e == nil {
		return nil
	}
	if cur != nil {
		exe, err := os.Readlink(t.pidPath(pid, "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") == cur.Exe {
			return cur // gone (keep what we knew) or unchanged
		}
	}
	p := t.readProcess(pid)
	if p == nil {
		return cur
	}
	t.mu.Lock()
	if e := t.procs[pid]; e != nil {
		e.proc = p
	}
	t.mu.Unlock()
	return p
}

// add starts tracking pid (info may be nil: read lazily). Called with mu
// held.
func (t *procTable) add(pid int, info *model.Process, young bool) *procEntry {
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
	delete(t.procs, pid) // its inodes expire in sync; holder ignores them

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

// sync lists /proc: unknown PIDs are added, vanished ones removed, and the
// sockets of every process whose open-file count changed (all, with full)
// are read again.
func (t *procTable) sync(full bool) error {
	pids, err := t.listPIDs()
	if err != nil {
		return err
	}
	alive := make(map[int]bool, len(pids))
	var stale []int
	t.mu.Lock()
	for _, pid := range pids {
		alive[pid] = true
		e := t.procs[pid]
		if e == nil {
			e = t.add(pid, nil, false)
		}
		if full || t.fdCount(pid) != e.fdCount {
			stale = append(stale, pid)
		}
	}
	now := t.now()
	for pid, e := range t.procs {
		switch {
		case alive[pid]:
		case e.exited.IsZero():
			e.exited = now // gone without an exit event
		case now.Sub(e.exited) > exitGrace:
			t.remove(pid)
		}
	}
	for ino, r := range t.inodes {
		stale := t.procs[r.pid] != r.e // its process is gone
		closed := r.seen.Before(r.e.scanned)
		if (stale || closed) && now.Sub(r.seen) > inodeKeep {
			delete(t.inodes, ino)
		}
	}
	if full {
		t.eventsLost = false
	}
	t.mu.Unlock()
	for _, pid := range stale {
		t.scan(pid, 0)
	}
	return nil
}

// fullScan reads every process's fds: once at start, and after lost proc
// connector events.
func (t *procTable) fullScan() error { return t.sync(true) }

// handle applies one proc connector event. It reads nothing from /proc:
// events must be taken as fast as the kernel sends them, and a process is
// read when one of its sockets is found (see scan).
func (t *procTable) handle(ev procEvent) {
	if ev.tid != ev.pid { // a thread, not a process
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.what {
	case procEventFork, procEventExec:
		if e := t.procs[ev.pid]; e != nil && !e.exited.IsZero() {
			t.remove(ev.pid) // the PID was reused
		}
		if e := t.procs[ev.pid]; e != nil {
			// exec: same PID, new identity; fds are kept (less
			// close-on-exec ones), so read them again when needed.
			e.proc, e.fdCount, e.born = nil, -1, t.now()
		} else {
			t.add(ev.pid, nil, false)
		}
		t.young = append(t.young, ev.pid)
		if ev.what == procEventExec {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
	case procEventExit:
		if e := t.procs[ev.pid]; e != nil {
			e.exited = t.now()
		}
	}
}

// lostEvents records that proc connector events were lost.
func (t *procTable) lostEvents() {
	t.mu.Lock()
	t.eventsLost = true
	t.mu.Unlock()
}

// youngPIDs returns the young processes, newest first, with the
// open-file count each had when last read, and drops those no longer
// young. Called with mu held.
// youngList returns the processes created recently, newest first.
func (t *procTable) youngList() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	pids, _ := t.youngPIDs()
	return pids
}

func (t *procTable) youngPIDs() ([]int, []int64) {
	cut := t.now().Add(-youngFor)
	keep := t.young[:0]
	for _, pid := range t.young {
		if e := t.procs[pid]; e != nil && e.exited.IsZero() && e.born.After(cut) && !slices.Contains(keep, pid) {
			keep = append(keep, pid)
		}
	}
	t.young = keep
	pids := make([]int, 0, len(keep))
	fds := make([]int64, 0, len(keep))
	for i := len(keep) - 1; i >= 0; i-- {
		pids = append(pids, keep[i])
		fds = append(fds, t.procs[keep[i]].fdCount)
	}
	return pids, fds
}

// newborn is the age below which a young process is read even when its
// open-file count looks unchanged: a process that just called exec may
// have the count it had before, with other files.
const newborn = 250 * time.Millisecond

// ownerQuick finds the process holding inode among the known sockets, the
// young processes and PIDs not known yet. It is meant for the conntrack
// event path, where the owner must be found before it exits.
func (t *procTable) ownerQuick(inode uint64) *model.Process {
	gen := t.listings.Load()
	if p := t.ownerYoung(inode); p != nil {
		return p
	}
	// The process may be so new that its fork and exec events are still
	// queued: register PIDs not known yet as young, then look again if
	// this or another worker's listing came after the first look.
	t.addNewPIDs()
	if t.listings.Load() != gen {
		if p := t.ownerYoung(inode); p != nil {
			return p
		}
	}
	return nil
}

// ownerYoung looks for inode among the known sockets, then in the young
// processes, newest first.
func (t *procTable) ownerYoung(inode uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(inode)
	var young []int
	var fds []int64
	var born []time.Time
	var recent []int
	if !ok {
		young, fds = t.youngPIDs()
		for _, p := range young {
			born = append(born, t.procs[p].born)
		}
		for i := len(t.recent) - 1; i >= 0; i-- {
			if e := t.procs[t.recent[i]]; e != nil && e.exited.IsZero() {
				recent = append(recent, t.recent[i])
			}
		}
	}
	t.mu.Unlock()
	if ok {
		return t.info(pid)
	}
	now := t.now()
	var cand []int
	for i, p := range young {
		if now.Sub(born[i]) > newborn && t.fdCount(p) == fds[i] {
			continue // no file opened or closed since it was read
		}
		cand = append(cand, p)
	}
	for _, p := range recent {
		if !slices.Contains(cand, p) && t.fdCount(p) <= smallFDTable {
			cand = append(cand, p)
		}
	}
	if p := t.scanConcurrently(cand, inode); p != 0 {
		return t.info(p)
	}
	// The newborn watcher may have seen the socket meanwhile.
	return t.knownOwner(inode)
}

// scanParallelism bounds the concurrent reads of /proc/PID/fd.
const scanParallelism = 8

// scanConcurrently reads the fds of pids concurrently and returns the first
// that holds inode (0: none). Reading /proc/PID/fd of a process in the
// middle of exec or exit can block for milliseconds; the others must not
// wait behind it. Scans still running when it returns finish on their own
// goroutines, which wait() waits for.
func (t *procTable) scanConcurrently(pids []int, inode uint64) int {
	switch len(pids) {
	case 0:
		return 0
	case 1:
		if t.scan(pids[0], inode) {
			return pids[0]
		}
		return 0
	}
	found := make(chan int, len(pids))
	sem := make(chan struct{}, scanParallelism)
	var wg sync.WaitGroup
	for _, p := range pids {
		wg.Add(1)
		t.bg.Add(1)
		go func() {
			defer t.bg.Done()
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if t.scan(p, inode) {
				found <- p
			}
		}()
	}
	t.bg.Add(1)
	go func() {
		defer t.bg.Done()
		wg.Wait()
		close(found)
	}()
	return <-found // the first holder, or 0 once all are done
}

// wait blocks until background scans have finished, and stops the identity
// resolver's worker.
func (t *procTable) wait() { t.bg.Wait(); t.ids.Close() }

// addNewPIDs lists /proc, when the kernel allocated a PID since the last
// listing, and registers the PIDs not known yet as young; each listing
// bumps t.listings. Concurrent callers wait for one listing.
func (t *procTable) addNewPIDs() {
	t.newScan.Lock()
	defer t.newScan.Unlock()
	last := t.lastPID()
	if last != 0 && last == t.listedUpTo {
		return
	}
	t.listedUpTo = last
	pids, err := t.listPIDs()
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range pids {
		if _, known := t.procs[p]; !known {
			t.add(p, nil, true)
		}
	}
	t.listings.Add(1)
}

// lastPID returns the PID the kernel allocated last (the last field of
// /proc/loadavg), or 0 when it cannot be read.
func (t *procTable) lastPID() int {
	b, err := os.ReadFile(t.root + "/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 5 {
		return 0
	}
	n, _ := strconv.Atoi(f[4])
	return n
}

// ownerRefresh finds the process holding inode after bringing the table up
// to date (see sync). It costs one stat per process and is meant for the
// tick, not for events.
func (t *procTable) ownerRefresh(inode uint64) *model.Process {
	if p := t.ownerQuick(inode); p != nil {
		return p
	}
	t.mu.Lock()
	lost := t.eventsLost
	due := lost || t.now().Sub(t.lastSync) >= syncEvery
	if due {
		t.lastSync = t.now()
	}
	t.mu.Unlock()
	if due {
		if err := t.sync(lost); err != nil {
			return nil
		}
	}
	return t.knownOwner(inode)
}

// count returns the number of known processes.
func (t *procTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.procs {
		if e.exited.IsZero() {
			n++
		}
	}
	return n
}

const (
	// newbornWatch is how long after its exec a process's fd table is
	// polled, and newbornPoll how often.
	newbornWatch = 20 * time.Millisecond
	newbornPoll  = 500 * time.Microsecond
)

// scanNewborns reads the fd tables of the processes that called exec less
// than newbornWatch ago and whose open-file count changed since they were
// read. It returns how many newborns there are.
func (t *procTable) scanNewborns() int {
	t.mu.Lock()
	var pids []int
	var fds []int64
	cut := t.now().Add(-newbornWatch)
	for _, pid := range t.young {
		if e := t.procs[pid]; e != nil && e.exited.IsZero() && e.born.After(cut) && !slices.Contains(pids, pid) {
			pids = append(pids, pid)
			fds = append(fds, e.fdCount)
		}
	}
	t.mu.Unlock()
	for i, pid := range pids {
		if t.fdCount(pid) != fds[i] {
			t.scan(pid, 0)
		}
	}
	return len(pids)
}

// watchNewborns polls, every newbornPoll, the fd tables of processes that
// called exec less than newbornWatch ago, until stop is closed. A process
// that connects, sends and exits within a few milliseconds may be gone
// before the conntrack event of its flow is handled; seen here first, its
// socket is already in the inode map then. A poll is one stat per newborn,
// with a read of /proc/PID/fd only when its open-file count changed; with
// no newborn the watcher sleeps until the next exec.
func (t *procTable) watchNewborns(stop <-chan struct{}) {
	tick := time.NewTicker(newbornPoll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.wake:
		}
		for {
			if t.scanNewborns() == 0 {
				break
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}
}

// listenerFDTable bounds the fd table a listener's holder may have to be
// read on the event path: a server's accepted socket is worth a larger
// read than a guess, since the listener names the process.
const listenerFDTable = 4 * smallFDTable

// ownerByListener looks for inode in the fd table of the process that
// holds the listening socket listener. A server's accepted socket is held
// by the process that accepted it, which is neither young nor a recent
// owner when it is a long-running server's first connection for a while;
// a short reply is sent and closed well within a tick, after which the
// socket has no inode left to look for.
func (t *procTable) ownerByListener(inode, listener uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(listener)
	t.mu.Unlock()
	if !ok || t.fdCount(pid) > listenerFDTable {
		return nil
	}
	if t.scan(pid, inode) {
		return t.info(pid)
	}
	return nil
}

// known reports whether the owner of inode is known.
func (t *procTable) known(inode uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.holder(inode)
	return ok
}

// knownOwner returns the process known to hold inode, reading nothing
// but its executable's link (see info); nil when none is known.
func (t *procTable) knownOwner(inode uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(inode)
	t.mu.Unlock()
	if !ok {
		return nil
	}
	return t.info(pid)
}
