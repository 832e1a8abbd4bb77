package monitor

import (
	"fmt"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
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
	Stats() sockbpf.Stats
	Close() error
}

// processes is what the socket monitor asks of the process table
// (procs.Table).
type processes interface {
	// Process returns process pid as known now, nil if unknown.
	Process(pid int) *model.Process
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
	// quiet reports whether conntrack's events of local TCP and UDP
	// flows are silenced (nil: never): then a TCP or UDP socket no
	// process holds is counted here, not left to conntrack.
	quiet func() bool
	// classes tells the class of each socket's remote end, once (nil:
	// no classes), as the conntrack tables do.
	classes flows.Classifier
}

// Budgets of a tick: how many sockets may be looked up by their inode
// holder (a sock_diag request and maybe /proc reads each).
const (
	lookupsPerTick = 512
	// holderChecks is how many ticks a live socket's holder is looked
	// for before its creator is taken for good.
	holderChecks = 3
	// resolveTicks is how many ticks a socket may wait for its owner
	// before its bytes go to unattributed.
	resolveTicks = 3
)

// sockState is what the socket monitor keeps of one live socket.
type sockState struct {
	in, out  uint64 // the counters booked so far
	key      claimKey
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
	owner model.Key
	info  model.Info
}

// socketAccum is what one owner moved during a tick with remote ends of
// one class.
type socketAccum struct {
	info    model.Info
	in, out uint64
}

// accKey is an owner and a class.
type accKey struct {
	owner model.Key
	class model.Class
}

// socketCounter turns the kernel's per-socket counters into bytes per
// owner, tick by tick. It runs on the tick's goroutine only.
type socketCounter struct {
	o       socketOptions
	socks   map[uint64]*sockState
	acc     map[accKey]*socketAccum
	changes []claimChange
	pids    map[int]*model.Process // this tick's answers of procs
	gen     uint32
	budget  int

	last      sockbpf.Stats
	lastFull  time.Time // when MapFull last grew
	lostClose uint64    // sockets whose close record never came
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
	return &socketCounter{o: o, socks: map[uint64]*sockState{}, acc: map[accKey]*socketAccum{}, pids: map[int]*model.Process{}}
}

// collect reads every socket's counters and adds what each owner moved
// since the last call to c.
func (s *socketCounter) collect(c *model.MonitorEntryCollection, now time.Time) error {
	s.gen++
	s.budget = lookupsPerTick
	clear(s.pids)
	err := s.o.src.Read(s.add)
	st := s.o.src.Stats()
	if st.RingLost != s.last.RingLost {
		s.sweep()
	}
	if st.MapFull != s.last.MapFull || err != nil {
		// Sockets the map had no room for, or a Read that failed: the
		// ends not claimed are conntrack's for a while.
		s.lastFull = now
	}
	s.last = st
	// Sure again once no socket found the map full for as long as a
	// claim lasts: every socket alive since has its claim.
	s.o.claims.sure.Store(s.lastFull.IsZero() || now.Sub(s.lastFull) > claimGrace)
	s.o.claims.apply(s.changes, now)
	s.changes = s.changes[:0]
	for k, a := range s.acc {
		c.AddClass(k.owner, a.info, k.class, a.in, a.out, now)
		delete(s.acc, k)
	}
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
	st := s.socks[k.Cookie]
	if st == nil {
		if k.Closed && k.BytesIn == 0 && k.BytesOut == 0 {
			return
		}
		st = &sockState{}
		s.socks[k.Cookie] = st
	}
	st.seen = s.gen
	if st.scope == 0 {
		st.scope = s.scopeOf(k)
		st.home = st.scope == scopeOurs && (s.o.netns != 0 || (k.NetNSCookie != 0 && k.NetNSCookie == s.o.home) ||
			(k.NetNSCookie == 0 && k.Local.IsValid() && s.o.owners.IsLocal(k.Local.Addr())))
	}
	switch st.scope {
	case scopeOther:
		if k.Closed {
			delete(s.socks, k.Cookie)
		}
		return
	case 0:
		if k.Closed {
			delete(s.socks, k.Cookie)
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
			s.forget(k.Cookie, st)
		}
		return
	}
	if k.Local.IsValid() {
		remoteLocal := s.o.owners.IsLocal(k.Remote.Addr())
		st.local = s.o.ignoreLocal && s.o.owners.IsLocal(k.Local.Addr()) && remoteLocal
		st.loop = remoteLocal
		key := keyOf(k.Proto, k.Local, k.Remote)
		if !st.claimed || key != st.key {
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
			ak := accKey{st.owner, st.class}
			a := s.acc[ak]
			if a == nil {
				a = &socketAccum{info: st.info}
				s.acc[ak] = a
			}
			a.in += dIn
			a.out += dOut
			if st.home && !st.loop {
				s.crossIn += dIn
				s.crossOut += dOut
			}
		}
	}
	if k.Closed {
		s.forget(k.Cookie, st)
	}
}

// delta is what a counter moved since it read last.
func delta(cur, last uint64) uint64 {
	if cur < last { // not expected: a counter starting again
		return cur
	}
	return cur - last
}

// forget drops a socket that closed and lets go of its end.
func (s *socketCounter) forget(cookie uint64, st *sockState) {
	if st.claimed {
		s.changes = append(s.changes, claimChange{st.key, -1})
	}
	delete(s.socks, cookie)
}

// sweep forgets the sockets the last Read did not list, as closed: it runs
// when the ring buffer dropped close records, in case one of them was not
// kept for Read (sockbpf keeps them in its map; this is the safety net
// that keeps the claims from growing).
func (s *socketCounter) sweep() {
	for cookie, st := range s.socks {
		if st.seen != s.gen {
			s.lostClose++
			s.forget(cookie, st)
		}
	}
}

// stats returns the kernel side's figures and the sockets counted.
func (s *socketCounter) stats() (sockbpf.Stats, int) {
	return s.o.src.Stats(), len(s.socks)
}
