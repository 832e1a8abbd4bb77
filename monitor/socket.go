package monitor

import (
	"fmt"
	"net/netip"
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
	netns  uint64
	claims *claims
	// ignoreLocal leaves out sockets whose both ends are local addresses
	// (ignore_local), as the conntrack tables do.
	ignoreLocal bool
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
	// leave: a socket of PID 0 (older than the agent, or the kernel's
	// own: echo replies, resets) that no process holds; its bytes are
	// conntrack's.
	leave bool
	ticks uint8
	seen  uint32 // the last Read that listed it
	owner model.Key
	info  model.Info
}

// socketAccum is what one owner moved during a tick.
type socketAccum struct {
	info    model.Info
	in, out uint64
}

// socketCounter turns the kernel's per-socket counters into bytes per
// owner, tick by tick. It runs on the tick's goroutine only.
type socketCounter struct {
	o       socketOptions
	socks   map[uint64]*sockState
	acc     map[model.Key]*socketAccum
	changes []claimChange
	pids    map[int]*model.Process // this tick's answers of procs
	gen     uint32
	budget  int

	last      sockbpf.Stats
	lastFull  time.Time // when MapFull last grew
	lostClose uint64    // sockets whose close record never came
}

func newSocketCounter(o socketOptions) *socketCounter {
	return &socketCounter{o: o, socks: map[uint64]*sockState{}, acc: map[model.Key]*socketAccum{}, pids: map[int]*model.Process{}}
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
	if st.MapFull != s.last.MapFull {
		s.lastFull = now
	}
	s.last = st
	// Sure again once no socket found the map full for as long as a
	// claim lasts: every socket alive since has its claim.
	s.o.claims.sure.Store(s.lastFull.IsZero() || now.Sub(s.lastFull) > claimGrace)
	s.o.claims.apply(s.changes, now)
	s.changes = s.changes[:0]
	for k, a := range s.acc {
		c.Add(k, a.info, a.in, a.out, now)
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
		st.local = s.o.ignoreLocal && s.o.owners.IsLocal(k.Local.Addr()) && s.o.owners.IsLocal(k.Remote.Addr())
		key := keyOf(k.Proto, k.Local, k.Remote)
		if !st.claimed || key != st.key {
			if st.claimed {
				s.changes = append(s.changes, claimChange{st.key, -1})
			}
			s.changes = append(s.changes, claimChange{key, +1})
			st.key, st.claimed = key, true
		}
	}
	if st.resolved {
		dIn, dOut := delta(k.BytesIn, st.in), delta(k.BytesOut, st.out)
		st.in, st.out = k.BytesIn, k.BytesOut
		if !st.skip && !st.local && dIn+dOut > 0 {
			a := s.acc[st.owner]
			if a == nil {
				a = &socketAccum{info: st.info}
				s.acc[st.owner] = a
			}
			a.in += dIn
			a.out += dOut
		}
	}
	if k.Closed {
		s.forget(k.Cookie, st)
	}
}

const (
	scopeOurs  = 1
	scopeOther = 2
)

// scopeOf tells whether socket k is counted here: a socket of the
// watched namespace (or of any, when every namespace's are counted). One
// whose namespace the kernel did not record is looked up by its ends in
// the watched namespace (0 while it has no ends or the tick's lookups are
// spent).
func (s *socketCounter) scopeOf(k *sockbpf.Socket) uint8 {
	switch {
	case s.o.netns == 0 || k.NetNSCookie == s.o.netns:
		return scopeOurs
	case k.NetNSCookie != 0:
		return scopeOther
	case !k.Local.IsValid() || !s.o.owners.IsLocal(k.Local.Addr()):
		return scopeOther
	case s.budget <= 0:
		return 0
	}
	s.budget--
	if info, ok := s.o.owners.Resolve(k.Proto, k.Local, k.Remote, flows.Tick); ok && info.Process != nil {
		return scopeOurs
	}
	return scopeOther
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

// sweep forgets the sockets the last Read did not list: their close
// record was lost (the ring buffer was full), with what they moved since
// the Read before.
func (s *socketCounter) sweep() {
	for cookie, st := range s.socks {
		if st.seen != s.gen {
			s.lostClose++
			s.forget(cookie, st)
		}
	}
}

// resolve finds the owner of socket k. A live socket's owner is the
// process holding its inode (found as conntrack's sides are: sock_diag,
// then the process table), looked for at its first ticks: that is who
// uses it, also when it was handed over (systemd socket activation,
// inetd, a parent that passed it to the program it started). Otherwise —
// a socket that closed before it was read, or whose holder is not found
// (the tick's lookups spent) — its creator, as the kernel recorded it,
// while that process is still the one (same PID and name). A socket of
// PID 0 or 1 (older than the agent, accepted before its server was known,
// systemd's) has only its holder.
func (s *socketCounter) resolve(k *sockbpf.Socket, st *sockState) {
	if k.PID == 0 && k.Proto != protoTCP && k.Proto != protoUDP {
		// The kernel's own ICMP and raw sockets (echo replies, ...):
		// conntrack tells their flows apart.
		st.resolved, st.leave = true, true
		return
	}
	if !k.Closed && k.Local.IsValid() && !st.verified && s.budget > 0 {
		st.checks++
		if info, ok := s.holder(k, flows.Tick); ok && info.Process != nil {
			// Settled once another process than its creator holds it;
			// its creator is asked again at the next ticks (a parent
			// about to hand it over still holds it).
			st.verified = info.Process.PID != k.PID || st.checks >= holderChecks
			s.settle(st, info)
			return
		}
		st.verified = st.checks >= holderChecks
	}
	if st.resolved {
		return
	}
	var creator *model.Process
	if k.PID > 1 {
		creator = s.process(k.PID)
		if creator != nil && k.Comm != "" && creator.Comm != "" && creator.Comm != k.Comm {
			creator = nil // exec'd since, or the PID was reused
		}
	}
	if creator != nil {
		s.settle(st, model.Info{Process: creator})
		return
	}
	level := flows.Tick
	if k.Closed || st.ticks >= resolveTicks {
		level = flows.Final
	}
	if level == flows.Final && k.Local.IsValid() && s.budget > 0 {
		if info, ok := s.holder(k, level); ok && (info.Process != nil || k.PID == 1) {
			s.settle(st, info)
			return
		}
	}
	if level != flows.Final {
		return // its bytes wait in the kernel's counters
	}
	switch {
	case k.PID == 0:
		st.resolved, st.leave = true, true
	case k.PID > 1 && k.Comm != "":
		// Exited before anyone read it: what the kernel recorded.
		s.settle(st, model.Info{Process: &model.Process{PID: k.PID, Comm: k.Comm}})
	case k.Local.IsValid():
		s.settle(st, model.Info{Unattributed: model.ReasonProcessGone})
	default:
		s.settle(st, model.Info{Unattributed: model.ReasonNoSocket})
	}
}

// holder asks the owners' resolver for the process holding k's inode.
func (s *socketCounter) holder(k *sockbpf.Socket, level flows.Level) (model.Info, bool) {
	s.budget--
	local, remote := k.Local, k.Remote
	if k.Proto == protoICMP || k.Proto == protoICMPv6 {
		remote = netip.AddrPortFrom(remote.Addr(), 0)
	}
	if s.o.netns == 0 && !s.o.owners.IsLocal(local.Addr()) {
		// A socket of another namespace (behind NAT, a container).
		return s.o.owners.ResolveOuter(k.Proto, &flows.Ends{Local: local, Remote: remote, Outer: true, NAT: true}, level)
	}
	return s.o.owners.Resolve(k.Proto, local, remote, level)
}

// process returns the process table's answer for pid, once a tick.
func (s *socketCounter) process(pid int) *model.Process {
	if p, ok := s.pids[pid]; ok {
		return p
	}
	p := s.o.procs.Process(pid)
	s.pids[pid] = p
	return p
}

// settle makes info the owner of st's bytes from now on.
func (s *socketCounter) settle(st *sockState, info model.Info) {
	st.resolved, st.info = true, info
	switch {
	case info.Process != nil:
		st.owner = model.KeyProcess(info.Process)
		st.skip = s.o.keep != nil && !s.o.keep(info.Process.Cmdline)
	case info.Forwarded != nil:
		st.owner = model.KeyForwarded(*info.Forwarded)
	case info.Unattributed == flows.ReasonElsewhere:
		st.owner, st.skip = model.KeyUnattributed(info.Unattributed), true
	default:
		st.owner = model.KeyUnattributed(info.Unattributed)
	}
}

// stats returns the kernel side's figures and the sockets counted.
func (s *socketCounter) stats() (sockbpf.Stats, int) {
	return s.o.src.Stats(), len(s.socks)
}
