package procs

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/identity"
	"github.com/bwmon/bwmon/model"
)

// Options configure a Table.
type Options struct {
	// Root is where procfs is mounted (default /proc).
	Root string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives the table's warnings (default: discarded).
	Log *slog.Logger
	// NetNS names the network namespace of process pid for people ("" for
	// the host's); nil leaves model.Process.NetNS empty.
	NetNS func(pid int) string
	// Exited, when set, is told of each process seen to exit, by its
	// exit event or by its absence from /proc, once.
	Exited func(pid int)
}

// Table knows the processes of the host and which socket inodes each
// holds (see the package's doc). It is safe for concurrent use.
type Table struct {
	root   string // "/proc"; a field so tests can use a fixture tree
	fs     procfs.FS
	now    func() time.Time
	log    *slog.Logger
	ids    *identity.Resolver // where processes run; closed by Close
	netNS  func(pid int) string
	exited func(pid int)
	pc     *connector // nil without process events

	mu    sync.Mutex // guards the fields below
	procs map[int]*entry
	// inodes maps a socket inode to the process that held it. A mapping
	// outlives the socket by up to inodeKeep: the flow of a socket that
	// was closed a moment ago may not be resolved yet.
	inodes map[uint64]inodeRef
	// young lists processes created (fork or exec) recently, newest last;
	// a socket of a short-lived process is looked for there first.
	young []int
	// recent holds the processes that owned the last flows resolved,
	// newest last: a process that opens connections one after another
	// (a daemon making requests) keeps the same open-file count, so only
	// reading it again finds its next socket.
	recent []int
	// eventsLost is set when proc connector events were lost; the next
	// refresh then lists /proc again.
	eventsLost bool
	// lastSync is when OwnerRefresh last synced with /proc.
	lastSync time.Time
	// forked maps a process that forked to when it last did (proc
	// connector events; an entry goes with its exit), for ForkedSince;
	// forksLost is when events were last lost.
	forked    map[int]time.Time
	forksLost time.Time
	// gen counts the processes added and the execs: a listing of /proc
	// knows nothing of the entries of a later generation (see applyList).
	gen uint64

	// newScan serialises listings of /proc for PIDs the proc connector
	// has not told of yet; listedUpTo is the kernel's last allocated PID
	// at the last listing: another is useful only once it changed.
	newScan    sync.Mutex
	listedUpTo int
	listings   atomic.Uint64

	bg sync.WaitGroup // scans still running for scanConcurrently

	// acceptWait waits acceptSettle (OwnerByListener); tests replace it.
	acceptWait func()

	wake      chan struct{} // an exec happened: watchNewborns has work
	stop      chan struct{} // closed by Close: stops watchNewborns
	closeOnce sync.Once
}

type inodeRef struct {
	pid  int
	e    *entry    // the very process, so a reused PID does not inherit
	seen time.Time // last time the socket was seen in its fd table
}

type entry struct {
	proc *model.Process // nil until needed (read lazily)
	// execs counts the exec events of the process: a read begun before
	// one (the exec'ing shell or `ip netns exec`, not yet the program it
	// became) is not kept (see readAt).
	execs   uint32
	fdCount int64     // size of /proc/PID/fd when last read; -1: never
	sockets []uint64  // socket inodes held when last read
	lastFD  string    // fd number of the last socket found for a flow
	scanned time.Time // when the sockets were last read
	born    time.Time // when bwmon learned of it
	gen     uint64    // the table's generation when added or last exec'd
	// parent is the process that forked it, as the fork event named it
	// (nil: not seen forking), and forkedAt when: a socket it holds may
	// be its parent's, inherited (see eldest).
	parent   *entry
	ppid     int
	forkedAt time.Time
	// exited is when the process was seen to exit (zero: alive). Its
	// entry and sockets are kept for exitGrace: the conntrack event of
	// its last flow may be handled after its exit event.
	exited time.Time
}

const (
	// inodeKeep is how long a socket's owner is remembered after the
	// socket left its fd table.
	inodeKeep = 10 * time.Second
	// exitGrace is how long an exited process still answers for its
	// sockets.
	exitGrace = 5 * time.Second
	// youngFor is how long a new process is searched first.
	youngFor = 2 * time.Second
	// newborn is the age below which a young process is read even when
	// its open-file count looks unchanged: a process that just called
	// exec may have the count it had before, with other files.
	newborn = 250 * time.Millisecond
	// syncEvery bounds how often OwnerRefresh syncs with /proc: once a
	// tick serves every flow of that tick.
	syncEvery = 500 * time.Millisecond
	// recentOwners is how many recent owners a miss reads again.
	recentOwners = 16
	// inheritFor is how long after its fork a process found holding a
	// socket is asked whether its parent holds it too (see eldest): a
	// child inherits only the sockets made before it was forked, and a
	// socket's owner is looked for in its first seconds.
	inheritFor = 30 * time.Second
	// inheritLevels bounds how many forebears eldest asks.
	inheritLevels = 4
	// smallFDTable bounds the fd tables read on the event path regardless
	// of their count: a large one waits for the tick's sync.
	smallFDTable = 1024
)

// newTable makes an empty table: no scan, no goroutine.
func newTable(o Options) (*Table, error) {
	if o.Root == "" {
		o.Root = "/proc"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	fs, err := procfs.NewFS(o.Root)
	if err != nil {
		return nil, err
	}
	return &Table{root: o.Root, fs: fs, now: o.Now, log: o.Log, netNS: o.NetNS, exited: o.Exited,
		ids:   identity.NewResolver(identity.Options{Logger: o.Log}),
		procs: map[int]*entry{}, inodes: map[uint64]inodeRef{}, forked: map[int]time.Time{}, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		acceptWait: func() { time.Sleep(acceptSettle) }}, nil
}

// Open makes the table of the processes under o.Root: it subscribes to
// process events (without them, short-lived processes may be missed: a
// warning says so), starts the watcher of newborn processes and reads
// every process's fds once. Close releases it.
func Open(o Options) (_ *Table, err error) {
	t, err := newTable(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	t.pc, err = dialConnector(t.handle, func(err error) {
		t.lostEvents()
		if errors.Is(err, unix.ENOBUFS) {
			t.log.Warn("proc connector events lost; rescanning processes", "err", err)
		}
	}, t.log, t.now)
	if err != nil {
		t.log.Warn("no process events: short-lived processes may be missed", "err", err)
	}
	t.bg.Add(1)
	go func() {
		defer t.bg.Done()
		t.watchNewborns(t.stop)
	}()
	return t, t.FullScan()
}

// Close stops the process events and the goroutines of the table, and
// blocks until they have exited. It is safe to call more than once.
func (t *Table) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if t.pc != nil {
			err = t.pc.Close()
		}
		close(t.stop)
		t.bg.Wait()
		t.ids.Close()
	})
	return err
}

// Failures counts the failures of the process events' subscription.
func (t *Table) Failures() uint64 {
	if t.pc == nil {
		return 0
	}
	return t.pc.failures()
}

// Count returns the number of live processes known.
func (t *Table) Count() int {
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

// add starts tracking pid (info may be nil: read lazily). Called with mu
// held.
func (t *Table) add(pid int, info *model.Process, young bool) *entry {
	t.gen++
	e := &entry{proc: info, fdCount: -1, born: t.now(), gen: t.gen}
	t.procs[pid] = e
	if young {
		t.young = append(t.young, pid)
	}
	return e
}

// remove forgets pid; its inodes expire in sync, and holder ignores them
// meanwhile. Called with mu held.
func (t *Table) remove(pid int) { delete(t.procs, pid) }

// handle applies one proc connector event. It reads nothing from /proc:
// events must be taken as fast as the kernel sends them, and a process is
// read when one of its sockets is found (see scan).
func (t *Table) handle(ev event) {
	if ev.tid != ev.pid { // a thread, not a process
		return
	}
	t.mu.Lock()
	exited := false
	if ev.what == eventFork && ev.ppid > 0 {
		t.forked[ev.ppid] = t.now()
	}
	switch ev.what {
	case eventFork, eventExec:
		if e := t.procs[ev.pid]; e != nil && !e.exited.IsZero() {
			t.remove(ev.pid) // the PID was reused
		}
		if e := t.procs[ev.pid]; e != nil {
			// exec: same PID, new identity; fds are kept (less
			// close-on-exec ones), so read them again when needed.
			t.gen++
			e.proc, e.fdCount, e.born, e.gen = nil, -1, t.now(), t.gen
			e.execs++
		} else {
			t.add(ev.pid, nil, false)
		}
		if e := t.procs[ev.pid]; ev.what == eventFork && ev.ppid > 0 {
			// (A listing may have added it before its fork event.)
			e.parent, e.ppid, e.forkedAt = t.procs[ev.ppid], ev.ppid, t.now()
		}
		t.young = append(t.young, ev.pid)
		if ev.what == eventExec {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
	case eventExit:
		delete(t.forked, ev.pid)
		if e := t.procs[ev.pid]; e != nil {
			exited = e.exited.IsZero() // else its absence from /proc told
			e.exited = t.now()
		}
	}
	t.mu.Unlock()
	if exited && t.exited != nil {
		t.exited(ev.pid)
	}
}

// lostEvents records that proc connector events were lost.
func (t *Table) lostEvents() {
	t.mu.Lock()
	t.eventsLost = true
	t.forksLost = t.now()
	t.mu.Unlock()
}

// ForkedSince reports whether process pid may have forked at or after
// since: it did, by the proc connector's events, or they cannot tell
// (none subscribed, or some lost since). A socket can change hands only
// through a child (or fd passing, which this does not see): a process
// that has not forked since it made a socket is still its only holder.
func (t *Table) ForkedSince(pid int, since time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pc == nil || !t.forksLost.Before(since) {
		return true
	}
	at, ok := t.forked[pid]
	return ok && !at.Before(since)
}
