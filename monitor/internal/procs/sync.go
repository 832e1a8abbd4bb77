package procs

import (
	"slices"
	"time"
)

// setSockets records what readSocketFDs found. Sockets no longer open keep
// their owner until sync expires them. Called with mu held.
func (t *Table) setSockets(pid int, e *entry, inodes []uint64, n int64) {
	now := t.now()
	e.sockets = inodes
	e.fdCount = n
	e.scanned = now
	for _, ino := range inodes {
		t.inodes[ino] = inodeRef{pid: pid, e: e, seen: now}
	}
}

// sync lists /proc: unknown PIDs are added, vanished ones marked exited
// and, past exitGrace, removed, expired inodes forgotten, and the sockets
// of every process whose open-file count changed (all, with full) read
// again.
func (t *Table) sync(full bool) error {
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	pids, err := t.listPIDs()
	if err != nil {
		return err
	}
	t.applyList(pids, gen, full)
	return nil
}

// applyList brings the table up to date with pids, a listing of /proc
// begun when the table's generation was gen: a process forked or exec'd
// since may be missing from it, and is not taken for gone (it was taken
// for gone, and forgotten after exitGrace, while it lived: what it held
// was then another process's, or nobody's).
func (t *Table) applyList(pids []int, gen uint64, full bool) {
	alive := make(map[int]bool, len(pids))
	var stale, exited []int
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
		case alive[pid], e.gen > gen:
		case e.exited.IsZero():
			e.exited = now // gone without an exit event
			exited = append(exited, pid)
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
	if t.exited != nil {
		for _, pid := range exited {
			t.exited(pid)
		}
	}
	for _, pid := range stale {
		t.scan(pid, 0)
	}
}

// FullScan reads every process's fds: once at start, after lost process
// events, and when a socket is open that no process known holds.
func (t *Table) FullScan() error { return t.sync(true) }

// Young returns the processes created recently, newest first.
func (t *Table) Young() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	pids, _ := t.youngPIDs()
	return pids
}

// youngPIDs returns the young processes, newest first, with the open-file
// count each had when last read, and drops those no longer young. Called
// with mu held.
func (t *Table) youngPIDs() ([]int, []int64) {
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

const (
	// newbornWatch is how long after its exec a process's fd table is
	// polled, and newbornPoll how often.
	newbornWatch = 20 * time.Millisecond
	newbornPoll  = 500 * time.Microsecond
)

// ScanNewborns reads the fd tables of the processes that called exec less
// than newbornWatch ago and whose open-file count changed since they were
// read. It returns how many newborns there are.
func (t *Table) ScanNewborns() int {
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
func (t *Table) watchNewborns(stop <-chan struct{}) {
	tick := time.NewTicker(newbornPoll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.wake:
		}
		for {
			if t.ScanNewborns() == 0 {
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
