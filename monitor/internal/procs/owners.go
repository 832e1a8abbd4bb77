package procs

import (
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// holder returns the process that holds (or held) inode. Called with mu
// held.
func (t *Table) holder(inode uint64) (int, bool) {
	r, ok := t.inodes[inode]
	if !ok || t.procs[r.pid] != r.e {
		return 0, false // unknown, or its PID now names another process
	}
	return r.pid, true
}

// Known reports whether the holder of socket inode is known.
func (t *Table) Known(inode uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.holder(inode)
	return ok
}

// HolderPID returns the PID of the process known to hold socket inode,
// reading nothing.
func (t *Table) HolderPID(inode uint64) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.holder(inode)
}

// Refresh brings the table up to date with /proc (a stat of each
// process's fd directory, and a read of those that changed), at most every
// syncEvery: for a pass over many sockets whose holders were not known.
func (t *Table) Refresh() error {
	t.mu.Lock()
	lost := t.eventsLost
	due := lost || t.now().Sub(t.lastSync) >= syncEvery
	if due {
		t.lastSync = t.now()
	}
	t.mu.Unlock()
	if !due {
		return nil
	}
	return t.sync(lost)
}

// Holder returns the process known to hold socket inode, reading nothing
// but its executable's link (see Process); nil when none is known.
func (t *Table) Holder(inode uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(inode)
	t.mu.Unlock()
	if !ok {
		return nil
	}
	return t.Process(pid)
}

// Process returns process pid, reading it (again) when it was never read
// or when it has called exec since: one readlink of /proc/PID/exe tells.
// A process asked for is an owner: it joins the recent owners, read again
// on a miss. nil when the table does not know pid.
func (t *Table) Process(pid int) *model.Process {
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
	// Twice at most: a read that straddled an exec is not the process
	// it became.
	for range 2 {
		at := t.readAt(pid)
		p := t.readProcess(pid)
		if p == nil {
			return cur
		}
		t.mu.Lock()
		e := t.procs[pid]
		kept := e != nil && t.keep(e, at, p)
		t.mu.Unlock()
		if kept || e == nil {
			return p
		}
	}
	return cur
}

// noteOwner records pid as the owner of a flow just resolved. Called with
// mu held.
func (t *Table) noteOwner(pid int) {
	if i := slices.Index(t.recent, pid); i >= 0 {
		t.recent = slices.Delete(t.recent, i, i+1)
	}
	t.recent = append(t.recent, pid)
	if len(t.recent) > recentOwners {
		t.recent = t.recent[1:]
	}
}

// scan re-reads pid's sockets and records them; it reports whether pid
// holds inode (0: any).
func (t *Table) scan(pid int, inode uint64) bool {
	at := t.readAt(pid)
	inodes, fds, n := t.readSocketFDs(pid)
	var info *model.Process
	lastFD := ""
	if i := slices.Index(inodes, inode); inode != 0 && i >= 0 {
		// Read it now, while it surely lived a moment ago.
		info = t.readProcess(pid)
		lastFD = fds[i]
	} else if len(inodes) > 0 && t.unread(pid) {
		// A process with sockets, never read: read it while it lives,
		// for whoever asks for it after it exits (the socket monitor
		// reads its sockets' owners a tick later; a flow's owner may be
		// asked for after a look for another socket found its own).
		info = t.readProcess(pid)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.procs[pid]
	if e == nil || (!e.exited.IsZero() && n < 0) {
		return false // gone: keep the sockets it was last seen with
	}
	if info != nil && (e.proc == nil || e.proc.Exe != info.Exe || e.proc.StartTime != info.StartTime) {
		t.keep(e, at, info)
	}
	if lastFD != "" {
		e.lastFD = lastFD
	}
	t.setSockets(pid, e, inodes, n)
	got, ok := t.holder(inode)
	return inode != 0 && ok && got == pid
}

// readMark is which process a read of /proc/PID was begun for: the entry
// and its exec count then.
type readMark struct {
	e     *entry
	execs uint32
}

// readAt marks the start of a read of pid.
func (t *Table) readAt(pid int) readMark {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.procs[pid]
	if e == nil {
		return readMark{}
	}
	return readMark{e, e.execs}
}

// keep makes p, read since at, e's process, unless e is not the process
// the read was begun for or has called exec since (what was read may be
// the program before the exec); it reports whether it did. Called with mu
// held.
func (t *Table) keep(e *entry, at readMark, p *model.Process) bool {
	if at.e != e || at.execs != e.execs {
		return false
	}
	e.proc = p
	return true
}

// unread reports whether pid is known but was never read.
func (t *Table) unread(pid int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.procs[pid]
	return e != nil && e.proc == nil
}

// ProbeRecent reads, for each recent owner, the one fd its last matched
// socket was on: a process that connects again and again most often gets
// the same (lowest free) fd number. One readlink each; a socket found is
// recorded, so that a flow living a fraction of a millisecond can still be
// tied to its process.
func (t *Table) ProbeRecent() {
	t.mu.Lock()
	type probe struct {
		pid int
		e   *entry
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

// OwnerQuick finds the process holding inode among the known sockets, the
// young processes, the recent owners and PIDs not known yet. It is meant
// for the conntrack event path, where the owner must be found before it
// exits.
func (t *Table) OwnerQuick(inode uint64) *model.Process {
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
// processes, newest first, then in the recent owners.
func (t *Table) ownerYoung(inode uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(inode)
	var young youngList
	var recent []int
	if !ok {
		young = t.youngList()
		for i := len(t.recent) - 1; i >= 0; i-- {
			if e := t.procs[t.recent[i]]; e != nil && e.exited.IsZero() {
				recent = append(recent, t.recent[i])
			}
		}
	}
	t.mu.Unlock()
	if ok {
		return t.Process(pid)
	}
	cand := t.changed(young, len(young.pids))
	for _, p := range recent {
		if !slices.Contains(cand, p) && t.fdCount(p) <= smallFDTable {
			cand = append(cand, p)
		}
	}
	if p := t.scanConcurrently(cand, inode); p != 0 {
		return t.Process(p)
	}
	// The newborn watcher may have seen the socket meanwhile.
	return t.Holder(inode)
}

// earlyScanMax bounds the fd tables FindYoung reads.
const earlyScanMax = 32

// FindYoung reads the fd tables of the young processes that may have
// opened a file since they were read (the earlyScanMax newest of them) and
// reports whether one holds socket inode; it also reports true when its
// holder was known already. It is for the conntrack event reader, at the
// moment a new connection's NEW event is read: the socket is surely open
// then, and a process that connects, sends and exits may be gone by the
// time an event worker looks (under CPU load, many milliseconds later).
// It reads the process too, for whoever asks for it after it exits.
func (t *Table) FindYoung(inode uint64) bool {
	t.mu.Lock()
	_, ok := t.holder(inode)
	var young youngList
	if !ok {
		young = t.youngList()
	}
	t.mu.Unlock()
	if ok {
		return true
	}
	return t.scanConcurrently(t.changed(young, earlyScanMax), inode) != 0
}

// youngList is the young processes, newest first, with the open-file count
// each had when last read and when each was born (or called exec).
type youngList struct {
	pids []int
	fds  []int64
	born []time.Time
}

// youngList lists the young processes. Called with mu held.
func (t *Table) youngList() youngList {
	var l youngList
	l.pids, l.fds = t.youngPIDs()
	for _, p := range l.pids {
		l.born = append(l.born, t.procs[p].born)
	}
	return l
}

// changed returns, of l, at most max processes, newest first, that may
// have opened a file since they were read: newborns, and those whose
// open-file count changed (one stat each).
func (t *Table) changed(l youngList, max int) []int {
	now := t.now()
	var cand []int
	for i, p := range l.pids {
		if len(cand) >= max {
			break
		}
		if now.Sub(l.born[i]) > newborn && t.fdCount(p) == l.fds[i] {
			continue // no file opened or closed since it was read
		}
		cand = append(cand, p)
	}
	return cand
}

// scanParallelism bounds the concurrent reads of /proc/PID/fd.
const scanParallelism = 8

// scanConcurrently reads the fds of pids concurrently and returns the first
// that holds inode (0: none). Reading /proc/PID/fd of a process in the
// middle of exec or exit can block for milliseconds; the others must not
// wait behind it. Scans still running when it returns finish on their own
// goroutines, which Close waits for.
func (t *Table) scanConcurrently(pids []int, inode uint64) int {
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

// addNewPIDs lists /proc, when the kernel allocated a PID since the last
// listing, and registers the PIDs not known yet as young; each listing
// bumps t.listings. Concurrent callers wait for one listing.
func (t *Table) addNewPIDs() {
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

// OwnerRefresh finds the process holding inode after bringing the table
// up to date (see sync) at most every syncEvery. It costs one stat per
// process and is meant for the tick, not for events.
func (t *Table) OwnerRefresh(inode uint64) *model.Process {
	p := t.OwnerQuick(inode)
	if p == nil {
		if t.Refresh() != nil {
			return nil
		}
		p = t.Holder(inode)
	}
	return t.eldest(p, inode)
}

// eldest returns, for process p found holding socket inode, its eldest
// forebear that holds inode too, p if none does. A child forked with the
// socket among its fds (a shell's command substitution, a helper a daemon
// runs without close-on-exec) holds it as long as it lives without using
// it; a parent that handed the socket over (inetd, a shell starting the
// program that uses it) closes its copy, which a fresh read of its fds
// shows. So the table's answer does not depend on which holder was read
// last. Only a process forked less than inheritFor ago, with the parent
// its fork event named still alive, is asked about; a parent's fd table
// is read afresh, and not when larger than listenerFDTable. The table's
// mapping of inode is left as it was: the next lookup asks the parent
// again, once it may have closed its copy.
func (t *Table) eldest(p *model.Process, inode uint64) *model.Process {
	if p == nil {
		return nil
	}
	for range inheritLevels {
		t.mu.Lock()
		e, ppid := t.procs[p.PID], 0
		if e != nil && e.parent != nil && t.procs[e.ppid] == e.parent && e.parent.exited.IsZero() &&
			t.now().Sub(e.forkedAt) < inheritFor {
			ppid = e.ppid
		}
		t.mu.Unlock()
		if ppid == 0 || t.fdCount(ppid) > listenerFDTable {
			return p
		}
		if inodes, _, _ := t.readSocketFDs(ppid); !slices.Contains(inodes, inode) {
			return p
		}
		pp := t.Process(ppid)
		if pp == nil {
			return p
		}
		p = pp
	}
	return p
}

// listenerFDTable bounds the fd table a listener's holder may have to be
// read on the event path: a server's accepted socket is worth a larger
// read than a guess, since the listener names the process.
const listenerFDTable = 4 * smallFDTable

// OwnerByListener looks for inode in the fd table of the process that
// holds the listening socket listener. A server's accepted socket is held
// by the process that accepted it, which is neither young nor a recent
// owner when it is a long-running server's first connection for a while;
// a short reply is sent and closed well within a tick, after which the
// socket has no inode left to look for.
func (t *Table) OwnerByListener(inode, listener uint64) *model.Process {
	t.mu.Lock()
	pid, ok := t.holder(listener)
	t.mu.Unlock()
	if !ok || t.fdCount(pid) > listenerFDTable {
		return nil
	}
	if t.scan(pid, inode) {
		return t.Process(pid)
	}
	// accept(2) gives the socket its inode (what sock_diag reports)
	// before it puts its fd in the fd table: a read in between misses it,
	// and a server that answers and closes at once leaves nothing for the
	// tick. A moment later, once more if a file was opened meanwhile.
	t.mu.Lock()
	n := int64(-1)
	if e := t.procs[pid]; e != nil {
		n = e.fdCount
	}
	t.mu.Unlock()
	t.acceptWait()
	if c := t.fdCount(pid); c != n && c >= 0 && c <= listenerFDTable && t.scan(pid, inode) {
		return t.Process(pid)
	}
	return nil
}

// acceptSettle is how long OwnerByListener waits, when the fds of the
// listener's holder do not have the socket, before it looks again.
const acceptSettle = 200 * time.Microsecond
