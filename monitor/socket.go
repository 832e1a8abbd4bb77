package monitor

import (
	"fmt"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// SocketMode says whether bytes are counted at the socket by the kernel's
// eBPF programs ([socket] mode).
type SocketMode string

const (
	// SocketAuto counts at the socket where the kernel allows it, else
	// with conntrack alone, saying why once. "" means SocketAuto.
	SocketAuto SocketMode = "auto"
	// SocketOn counts at the socket or fails to start, saying why.
	SocketOn SocketMode = "on"
	// SocketOff counts with conntrack alone.
	SocketOff SocketMode = "off"
)

// Valid reports whether m is a mode bwmon knows ("" is SocketAuto).
func (m SocketMode) Valid() bool {
	switch m {
	case "", SocketAuto, SocketOn, SocketOff:
		return true
	}
	return false
}

// The counting modes a monitor reports in model.MonitorStats.CountMode.
const (
	// CountSocket: bytes of local sockets are counted at the socket
	// (eBPF), the rest by conntrack.
	CountSocket = "socket"
	// CountConntrack: every byte is counted by conntrack.
	CountConntrack = "conntrack"
)

// socketSource is what the socket monitor reads: the kernel's per-socket
// counters (sockbpf.Counter), a fake in tests.
type socketSource interface {
	Read(fn func(*sockbpf.Socket)) error
	// ExeName returns the executable's file name the programs recorded
	// for process pid while it had comm ("" if none).
	ExeName(pid int, comm string) string
	Stats() sockbpf.Stats
	Close() error
}

// processes is what the socket monitor asks of the process table
// (procs.Table).
type processes interface {
	// Process returns process pid as known now, nil if unknown.
	Process(pid int) *model.Process
	// ForkedSince reports whether process pid may have forked at or
	// after since (true when it cannot tell).
	ForkedSince(pid int, since time.Time) bool
	// HolderPID returns the process known to hold socket inode; Refresh
	// brings what is known up to date with /proc.
	HolderPID(inode uint64) (int, bool)
	Refresh() error
}

// socketOptions is what a socket monitor is built from.
type socketOptions struct {
	name string
	src  socketSource
	// procs answers for a socket's creator; owners, the watched
	// namespace's resolver, for the holder of a socket whose creator is
	// not its user (PID 0 or 1, exited, exec'd since, handed over).
	procs  processes
	owners flows.Resolver
	keep   func(cmdline string) bool // nil keeps all
	// netns is the cookie of the namespace whose sockets are counted; 0
	// counts every namespace's. A socket whose namespace the kernel did
	// not record is the watched namespace's when owners finds it there.
	netns uint64
	// home is the watched namespace's cookie (0: not known): the bytes of
	// its sockets that reach a remote address crossed its interfaces, for
	// coverage (takeCrossed).
	home   uint64
	claims *claims
	// ignoreLocal leaves out sockets whose both ends are local addresses
	// (ignore_local), as the conntrack tables do.
	ignoreLocal bool
	// listOlder, if set, lists the watched namespace's TCP and UDP
	// sockets with their ends, cookie and inode (sock_diag): the sockets
	// older than the agent (PID 0) are found there all at once, not by a
	// lookup each.
	listOlder func(f func(sockets.Socket)) error
	// quiet reports whether conntrack's events of local TCP and UDP
	// flows were silenced when a socket first listed by the tick at born
	// was made (nil: never; quietLog.madeUnder): then a TCP or UDP
	// socket no process holds is counted here, not left to conntrack,
	// which was not told of its flow.
	quiet func(born time.Time) bool
	// classes tells the class of each socket's remote end, once (nil:
	// no classes), as the conntrack tables do.
	classes flows.Classifier
	// late looks up the watched namespace's conntrack entries of the
	// late sockets (socketlate.go; nil: not looked up). The counter
	// closes it.
	late lateFlows
}

// Budgets of a tick: how many sockets may be looked up by their inode
// holder (a sock_diag request and maybe /proc reads each).
const (
	// A tick takes on newPerTick new live sockets, and more, up to
	// maxNewPerTick, while it has run less than intakeTime: beyond that
	// the newest wait for the next ticks (their bytes wait in the
	// kernel's counters), so that an agent starting beside 100,000
	// sockets (or a burst of that many) does not hold a tick for a tenth
	// of a second; they cost ~0.5 µs each. Close records are always
	// taken.
	newPerTick     = 4096
	maxNewPerTick  = 65536
	intakeTime     = 20 * time.Millisecond
	lookupsPerTick = 512
	// holderChecks is how many ticks a live socket's holder is looked
	// for before its creator is taken for good.
	holderChecks = 3
	// resolveTicks is how many ticks a socket may wait for its owner
	// before its bytes go to unattributed.
	resolveTicks = 3
)

// sockState is what the socket monitor keeps of one live socket, at its
// slot of the kernel's map (socketCounter.chunks). It holds no pointer:
// 100,000 of them fill 25 chunks the garbage collector does not scan.
type sockState struct {
	cookie   uint64 // 0: a free slot
	in, out  uint64 // the counters booked so far
	key      claimID
	born     int64 // unix nanoseconds of the tick that first listed it
	claimed  bool
	resolved bool
	verified bool  // its holder was found, or looked for holderChecks times
	checks   uint8 // ticks its holder was looked for
	skip     bool  // filtered out by include/exclude
	// scope: 0 not known yet (no namespace recorded, not looked up), 1
	// the watched namespace's (counted), 2 another's (left alone).
	scope uint8
	local bool // both ends local, with ignoreLocal: not booked
	// loop: both ends local (over the loopback, no interface crossed);
	// home: a socket of the watched namespace (its bytes are coverage's).
	loop, home bool
	// leave: a socket of PID 0 (older than the agent, or the kernel's
	// own: echo replies, resets) that no process holds; its bytes are
	// conntrack's.
	leave bool
	ticks uint8
	class model.Class // of its remote end, once known
	seen  uint32      // the last Read that listed it
	own   uint32      // its owner's index in socketCounter.ownerList; 0 until resolved
	// tupleSeq is the sockbpf.Socket.TupleSeq its key was taken at, with
	// tupleRecheck when the key is to be taken again at the next Read.
	tupleSeq uint32
}

// tupleRecheck is the flag bit of sockState.tupleSeq.
const tupleRecheck = 1 << 31

// sockOwner is whom sockets' bytes go to, one per owner, shared by its
// sockets (100,000 sockets of one process hold one key and one Info).
type sockOwner struct {
	id    uint32 // in socketCounter.ownerList
	key   model.Key
	info  model.Info
	socks int // sockets settled on it
	// rows is what its sockets moved this tick, by class of their
	// remote ends; a tick's owners with rows are listed in touched.
	rows []model.ClassRow
}

// socketCounter turns the kernel's per-socket counters into bytes per
// owner, tick by tick. It runs on the tick's goroutine only.
type socketCounter struct {
	o socketOptions
	// chunks hold the state of the socket at each slot of the kernel's
	// map (sockbpf.Socket.Slot), checked by its cookie, slotChunk slots a
	// chunk: as many chunks as the highest slot the kernel handed out
	// needs (it hands out freed slots first). A chunk never moves.
	chunks [][]sockState
	live   int // slots with a socket
	// gone holds, by cookie, the state of sockets whose slot went to
	// another socket before their close record was read (a Read may list
	// the new socket first); each waits there for its record, at most
	// goneTicks Reads.
	gone      map[uint64]sockState
	owners    map[model.Key]*sockOwner
	ownerList []*sockOwner // by sockOwner.id; [0] is nil
	freeIDs   []uint32     // ids of ownerList free again
	touched   []*sockOwner // owners with bytes this tick
	// older maps the cookie of each socket listOlder listed to its inode,
	// as of olderAt; nil when no socket older than the agent waits.
	older     map[uint64]uint64
	olderAt   time.Time
	olderUsed bool // this tick
	refreshed bool // procs refreshed this tick
	// The process settle last made an owner of, its key and whether the
	// include and exclude rules leave it out.
	lastProc *model.Process
	lastKey  model.Key
	lastSkip bool
	changes  []claimChange
	pids     map[int]*model.Process // this tick's answers of procs
	gen      uint32
	budget   int
	fresh    int           // new live sockets this tick may still take on
	perTick  int           // new live sockets a tick takes on (newPerTick; tests change it)
	intake   time.Duration // intakeTime (tests change it)
	extra    int           // new live sockets this tick may take on beyond perTick, time allowing
	started  time.Time     // when the tick's collect began (the real clock: its cost)
	now      time.Time     // the tick's

	last     sockbpf.Stats
	lastMiss time.Time // when NoStorage last grew, or a Read failed
	// over holds what the last Read said of each overflow entry
	// (sockbpf.Socket.Overflow: the bytes of the sockets that found the
	// map full, by namespace and creator), and overRows what they moved
	// this tick.
	over      map[overKey]overSeen
	overRows  []overRow
	lostClose uint64 // sockets whose close record never came
	// late holds the late sockets whose flows are still to be looked
	// at (socketlate.go), lateRows what their looks found this tick.
	late          []lateFlow
	lateKeys      []ctnetlink.Key
	lateDue       []int
	lateRows      []lateRow
	lateUnchecked uint64 // late sockets not looked at: late was full
	// cross is what the watched namespace's sockets booked since the
	// last takeCrossed, as it crossed its interfaces.
	crossIn, crossOut uint64
}

// takeCrossed returns the bytes booked since the last call that crossed
// the watched namespace's interfaces (in, out), and starts again from 0:
// the socket monitor's part of coverage (the conntrack tables book none
// for the ends it counts, flows.ReasonAtSocket).
func (s *socketCounter) takeCrossed() (in, out uint64) {
	in, out = s.crossIn, s.crossOut
	s.crossIn, s.crossOut = 0, 0
	return in, out
}

func newSocketCounter(o socketOptions) *socketCounter {
	return &socketCounter{o: o, perTick: newPerTick, intake: intakeTime, gone: map[uint64]sockState{}, owners: map[model.Key]*sockOwner{}, ownerList: []*sockOwner{nil}, pids: map[int]*model.Process{}}
}

// goneTicks is how many Reads the state of a socket whose slot was taken
// by another waits for its close record before it is taken as lost.
const goneTicks = 3

// collect reads every socket's counters and adds what each owner moved
// since the last call to c.
func (s *socketCounter) collect(c *model.MonitorEntryCollection, now time.Time) error {
	s.gen++
	s.now = now
	s.refreshed = false
	if !s.olderUsed {
		s.older = nil // no socket older than the agent waited last tick
	}
	s.olderUsed = false
	s.budget = lookupsPerTick
	s.fresh, s.extra = s.perTick, maxNewPerTick-s.perTick
	s.started = time.Now()
	clear(s.pids)
	err := s.o.src.Read(s.add)
	st := s.o.src.Stats()
	if st.RingLost != s.last.RingLost {
		s.sweep()
	}
	for cookie, g := range s.gone {
		if s.gen-g.seen >= goneTicks {
			s.lostClose++
			s.forget(&g, false)
			delete(s.gone, cookie)
		}
	}
	if st.NoStorage != s.last.NoStorage || err != nil {
		// Sockets the programs could not follow (the map full is not
		// one: those are counted in overflow), or a Read that failed:
		// the ends not claimed are conntrack's for a while.
		s.lastMiss = now
	}
	s.overflowDone()
	_ = s.checkLate(now) // a failed lookup is tried again at the next tick
	s.last = st
	// Sure again once no socket found the map full for as long as a
	// claim lasts: every socket alive since has its claim.
	s.o.claims.sure.Store(s.lastMiss.IsZero() || now.Sub(s.lastMiss) > claimGrace)
	s.o.claims.apply(s.changes, now)
	s.changes = s.changes[:0]
	for i, o := range s.touched {
		for _, r := range o.rows {
			c.AddClass(o.key, o.info, r.Class, r.In, r.Out, now)
		}
		o.rows = o.rows[:0]
		s.touched[i] = nil
	}
	s.touched = s.touched[:0]
	for _, r := range s.overRows {
		c.AddClass(r.key, r.info, 0, r.in, r.out, now)
	}
	s.overRows = s.overRows[:0]
	for _, r := range s.lateRows {
		c.AddClass(r.key, r.info, r.class, r.in, r.out, now)
	}
	s.lateRows = s.lateRows[:0]
	if err != nil {
		return fmt.Errorf("reading the sockets' counters: %w", err)
	}
	return nil
}

// add takes one socket of a Read.
func (s *socketCounter) add(k *sockbpf.Socket) {
	if s.o.netns != 0 && k.NetNSCookie != 0 && k.NetNSCookie != s.o.netns {
		return // another namespace's: not watched
	}
	if k.Overflow {
		s.overflow(k)
		return
	}
	if k.Slot < 0 {
		return // not expected: every socket the kernel reports has a slot
	}
	st := s.slot(k.Slot)
	inSlot := true
	if st.cookie != k.Cookie {
		if k.Closed {
			// A close record whose slot went to another socket since (or
			// of a socket never read live).
			g, ok := s.gone[k.Cookie]
			if !ok && k.BytesIn == 0 && k.BytesOut == 0 {
				return
			}
			if !ok {
				g = sockState{cookie: k.Cookie, born: s.now.UnixNano()}
			}
			delete(s.gone, k.Cookie)
			if st.cookie != 0 {
				st, inSlot = &g, false
			} else {
				*st = g
				s.live++
			}
		} else {
			if s.fresh <= 0 && !s.more() {
				return // next tick
			}
			s.fresh--
			if st.cookie != 0 {
				// Its socket closed and the slot went to this one before
				// its close record was read: the record finds it in gone.
				s.gone[st.cookie] = *st
				s.live--
			}
			*st = sockState{cookie: k.Cookie, born: s.now.UnixNano()}
			s.live++
		}
	}
	st.seen = s.gen
	if st.scope == 0 && k.PID == 0 && s.mayBeListed(k) {
		st.scope = s.olderScope(k, st)
	}
	if st.scope == 0 {
		st.scope = s.scopeOf(k)
		st.home = st.scope == scopeOurs && (s.o.netns != 0 || (k.NetNSCookie != 0 && k.NetNSCookie == s.o.home) ||
			(k.NetNSCookie == 0 && k.Local.IsValid() && s.o.owners.IsLocal(k.Local.Addr())))
	}
	switch st.scope {
	case scopeOther:
		if k.Closed {
			s.drop(st, inSlot)
		}
		return
	case 0:
		if k.Closed {
			s.drop(st, inSlot)
		}
		return // its bytes wait in the kernel's counters
	}
	if st.ticks < 255 {
		st.ticks++
	}
	if !st.resolved || (!st.verified && !k.Closed) {
		s.resolve(k, st)
	}
	if st.leave || (k.PID == 0 && !st.resolved) {
		// Not (yet) known to be a process's: its bytes are left to
		// conntrack, and its end is not claimed.
		if k.Closed {
			s.forget(st, inSlot)
		}
		return
	}
	if k.Local.IsValid() && (!st.claimed || k.TupleSeq == 0 || k.TupleSeq != st.tupleSeq&^tupleRecheck || st.tupleSeq&tupleRecheck != 0) {
		// Its ends may have changed since the last Read (sockbpf notes
		// them at some packets only): looked at again, and at the next
		// Read too, in case the kernel was noting them as this one read.
		if k.TupleSeq != st.tupleSeq&^tupleRecheck {
			st.tupleSeq = k.TupleSeq | tupleRecheck
		} else {
			st.tupleSeq = k.TupleSeq
		}
		key := idOf(k.Proto, k.Local, k.Remote)
		if !st.claimed || key != st.key {
			// A new end (the first packet's, or an unconnected UDP
			// socket's new peer): claimed, and where it goes.
			remoteLocal := s.o.owners.IsLocal(k.Remote.Addr())
			st.local = s.o.ignoreLocal && s.o.owners.IsLocal(k.Local.Addr()) && remoteLocal
			st.loop = remoteLocal
			if st.claimed {
				s.changes = append(s.changes, claimChange{st.key, -1})
			}
			s.changes = append(s.changes, claimChange{key, +1})
			st.key, st.claimed = key, true
			if s.o.classes != nil {
				st.class = s.o.classes.Lookup(k.Remote.Addr())
				if remoteLocal {
					st.class = s.o.classes.Local()
				}
			}
		}
	}
	if st.resolved {
		dIn, dOut := delta(k.BytesIn, st.in), delta(k.BytesOut, st.out)
		st.in, st.out = k.BytesIn, k.BytesOut
		if !st.skip && !st.local && dIn+dOut > 0 {
			o := s.ownerList[st.own]
			if len(o.rows) == 0 {
				s.touched = append(s.touched, o)
			}
			o.rows = model.AddRow(o.rows, st.class, dIn, dOut)
			if st.home && !st.loop {
				s.crossIn += dIn
				s.crossOut += dOut
			}
		}
	}
	if k.Closed {
		if k.Late {
			s.noteLate(k, st)
		}
		s.forget(st, inSlot)
	}
}

// more reports whether the tick may take on more new sockets beyond
// perTick (it gives fresh another batch): while it has run less than
// intakeTime.
func (s *socketCounter) more() bool {
	const batch = 1024
	if s.extra <= 0 || time.Since(s.started) >= s.intake {
		s.extra = 0
		return false
	}
	n := min(batch, s.extra)
	s.fresh, s.extra = s.fresh+n, s.extra-n
	return true
}

// slotChunk is how many slots' states a chunk holds (96 bytes each).
const slotChunk = 4096

// slot returns the state at slot i, making its chunk if it has none yet.
func (s *socketCounter) slot(i int) *sockState {
	c := i / slotChunk
	for c >= len(s.chunks) {
		s.chunks = append(s.chunks, nil)
	}
	if s.chunks[c] == nil {
		s.chunks[c] = make([]sockState, slotChunk)
	}
	return &s.chunks[c][i%slotChunk]
}

// overKey is an overflow entry's: namespace and creator.
type overKey struct {
	netns uint64
	pid   int
}

// overSeen is an overflow entry's counters as the last Read said, and
// that Read.
type overSeen struct {
	in, out uint64
	seen    uint32
}

// overRow is what an overflow entry moved in a tick, and whose it is.
type overRow struct {
	key     model.Key
	info    model.Info
	in, out uint64
}

// overflow takes an overflow entry of a Read: the bytes of the sockets of
// one creator that found the map full. They go to the creator while it
// is the process the kernel recorded, else, as for a socket that closed
// before it was read, to what the kernel recorded; those of no known
// creator (PID 0 or 1: older than the programs, handed over, the shared
// entry) are unattributed, socket_map_full. Entries of other namespaces
// are left alone, and their bytes are not coverage's (the sockets' ends
// are not known).
func (s *socketCounter) overflow(k *sockbpf.Socket) {
	if s.o.netns != 0 && k.NetNSCookie != s.o.netns {
		return
	}
	if s.over == nil {
		s.over = map[overKey]overSeen{}
	}
	ok := overKey{k.NetNSCookie, k.PID}
	last := s.over[ok]
	s.over[ok] = overSeen{in: k.BytesIn, out: k.BytesOut, seen: s.gen}
	dIn, dOut := delta(k.BytesIn, last.in), delta(k.BytesOut, last.out)
	if dIn+dOut == 0 {
		return
	}
	info := model.Info{Unattributed: model.ReasonSocketMapFull}
	if k.PID > 1 {
		p := s.process(k.PID)
		if p == nil || (k.Comm != "" && p.Comm != "" && p.Comm != k.Comm) {
			p = s.recorded(k)
		}
		info = model.Info{Process: p}
	}
	var key model.Key
	if info.Process != nil {
		if s.o.keep != nil && !s.o.keep(info.Process.Cmdline) {
			return
		}
		key = model.KeyProcess(info.Process)
	} else {
		key = model.KeyUnattributed(info.Unattributed)
	}
	s.overRows = append(s.overRows, overRow{key, info, dIn, dOut})
}

// overflowDone forgets the overflow entries the last Read did not list
// (deleted by the kernel's side once idle).
func (s *socketCounter) overflowDone() {
	for k, v := range s.over {
		if v.seen != s.gen {
			delete(s.over, k)
		}
	}
}

// delta is what a counter moved since it read last.
func delta(cur, last uint64) uint64 {
	if cur < last { // not expected: a counter starting again
		return cur
	}
	return cur - last
}

// forget drops a socket that closed and lets go of its end. inSlot: st
// is its slot's (else a copy, from gone).
func (s *socketCounter) forget(st *sockState, inSlot bool) {
	if st.claimed {
		s.changes = append(s.changes, claimChange{st.key, -1})
	}
	s.release(st)
	s.drop(st, inSlot)
}

// drop forgets the socket of st.
func (s *socketCounter) drop(st *sockState, inSlot bool) {
	if inSlot {
		*st = sockState{}
		s.live--
	}
}

// own makes the owner of key and info st's, sharing it with the other
// sockets of that owner.
func (s *socketCounter) own(st *sockState, key model.Key, info model.Info) {
	o := s.owners[key]
	if o == nil {
		o = &sockOwner{key: key, info: info}
		if n := len(s.freeIDs); n > 0 {
			o.id, s.freeIDs = s.freeIDs[n-1], s.freeIDs[:n-1]
			s.ownerList[o.id] = o
		} else {
			o.id = uint32(len(s.ownerList))
			s.ownerList = append(s.ownerList, o)
		}
		s.owners[key] = o
	}
	if o.id != st.own {
		s.release(st)
		o.socks++
		st.own = o.id
	}
}

// release lets go of st's owner, forgotten once no socket has it.
func (s *socketCounter) release(st *sockState) {
	if st.own == 0 {
		return
	}
	o := s.ownerList[st.own]
	st.own = 0
	if o.socks--; o.socks <= 0 {
		delete(s.owners, o.key)
		s.ownerList[o.id] = nil
		s.freeIDs = append(s.freeIDs, o.id)
	}
}

// sweep forgets the sockets the last Read did not list, as closed: it runs
// when the ring buffer dropped close records, in case one of them was not
// kept for Read (sockbpf keeps them in its map; this is the safety net
// that keeps the claims from growing).
func (s *socketCounter) sweep() {
	for _, c := range s.chunks {
		for i := range c {
			if st := &c[i]; st.cookie != 0 && st.seen != s.gen {
				s.lostClose++
				s.forget(st, true)
			}
		}
	}
}

// stats returns the kernel side's figures and the sockets counted.
func (s *socketCounter) stats() (sockbpf.Stats, int) {
	return s.o.src.Stats(), s.live
}
