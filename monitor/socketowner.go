package monitor

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// Whose a socket's bytes are, and whether it is the watched namespace's:
// the socket monitor's side of the owners (conntrack's is package owners,
// which it asks too).

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
	if !st.verified && k.PID > 1 && !s.mayHandOver(k, st) {
		st.verified = true // its creator is its only holder
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
	case k.PID == 0 && s.o.quiet != nil && s.o.quiet(time.Unix(0, st.born)) && k.Type != unix.SOCK_RAW:
		// Older than the agent, or a kernel socket (NFS's, accepted by a
		// kernel listener), held by no process: conntrack announces no
		// flow of a TCP or UDP socket here, so its bytes are counted
		// here. Not the kernel's raw control sockets (resets, echo
		// replies): their flows are announced and conntrack's.
		s.settle(st, model.Info{Unattributed: model.ReasonNoProcess})
	case k.PID == 0:
		st.resolved, st.leave = true, true
	case k.PID > 1 && k.Comm != "":
		// Exited before anyone read it: what the kernel recorded.
		s.settle(st, model.Info{Process: s.recorded(k)})
	case k.Local.IsValid():
		s.settle(st, model.Info{Unattributed: model.ReasonProcessGone})
	default:
		s.settle(st, model.Info{Unattributed: model.ReasonNoSocket})
	}
}

// mayBeListed reports whether socket k (of PID 0) may be in the list of
// the watched namespace's sockets (listOlder): a TCP or UDP socket that
// neither the kernel nor its local address says is another namespace's.
// Any other is not in it and would only have it made again (such as a
// peer namespace's server older than the agent, whose packets pass the
// programs too, or the kernel's ICMPv6 socket sending a router
// solicitation).
func (s *socketCounter) mayBeListed(k *sockbpf.Socket) bool {
	switch {
	case s.o.listOlder == nil || (k.Proto != protoTCP && k.Proto != protoUDP):
		return false
	case s.o.netns == 0:
		return true
	case k.NetNSCookie != 0:
		return k.NetNSCookie == s.o.netns
	default:
		return !k.Local.IsValid() || s.o.owners.IsLocal(k.Local.Addr())
	}
}

// olderEvery bounds how often the namespace's sockets are listed again
// for sockets of PID 0 the last list did not have.
const olderEvery = 5 * time.Second

// olderScope places a socket of PID 0 (older than the agent, or made by
// the kernel) by the list of the watched namespace's sockets (listOlder):
// listed, it is the namespace's, and its holder, if the process table
// knows its inode, owns it; not listed while the list is younger than the
// socket, another namespace's. 0: not known yet.
func (s *socketCounter) olderScope(k *sockbpf.Socket, st *sockState) uint8 {
	s.olderUsed = true
	born := time.Unix(0, st.born)
	ino, ok := s.older[k.Cookie]
	if !ok && (s.older == nil || (s.olderAt.Before(born) && s.now.Sub(s.olderAt) >= olderEvery)) {
		// Not in the list, which may be older than the socket: listed
		// again. (A socket taken on ticks after the list, the tick's
		// intake spent, is found in it.)
		if s.listOlder(s.now) != nil {
			return 0
		}
		ino, ok = s.older[k.Cookie]
	}
	switch {
	case !ok && k.Closed:
		// Closed, maybe before the list was made (an accepted
		// connection of a server older than the agent, over in a
		// moment): the list cannot tell; its ends do (scopeOf).
		return 0
	case !ok && s.olderAt.Before(born):
		return 0 // newer than the list: the next one tells
	case !ok && s.o.netns != 0:
		return scopeOther
	case !ok:
		return 0
	}
	if ino != 0 {
		pid, found := s.o.procs.HolderPID(ino)
		if !found && !s.refreshed {
			_ = s.o.procs.Refresh() // what it could read is used
			s.refreshed = true
			pid, found = s.o.procs.HolderPID(ino)
		}
		if found {
			if p := s.process(pid); p != nil {
				s.settle(st, model.Info{Process: p})
				st.verified = true
			}
		}
	}
	return scopeOurs
}

// listOlder lists the watched namespace's sockets (listOlder) into
// s.older, as of now, and claims the end of each one whose holder the
// process table knows: the socket monitor counts it from the Read that
// first lists it (its bytes since the programs first saw it wait in its
// counters), and the conntrack tables, which would otherwise look up each
// of those flows' sockets (at 100,000 sockets older than the agent, most
// of its work in its first ticks), settle them as counted here. Those
// claims last claimGrace, or as long as the socket once it is taken on. A
// listening or unconnected socket's end (an unspecified address) is not a
// flow's, and is not claimed.
func (s *socketCounter) listOlder(now time.Time) error {
	l, err := listOlderSockets(s.o.listOlder, s.o.procs, len(s.older))
	if err != nil {
		return err
	}
	s.takeOlder(l, now)
	return nil
}

// olderList is one list of the sockets older than the agent: each one's
// inode by cookie, and the claim IDs of the ends of those a process holds.
type olderList struct {
	idx  map[uint64]uint64
	held []claimID
}

// listOlderSockets makes an olderList from list (sock_diag) and procs'
// map of inodes; size is a hint of its length.
func listOlderSockets(list func(func(sockets.Socket)) error, procs interface {
	HolderPID(inode uint64) (int, bool)
}, size int) (olderList, error) {
	l := olderList{idx: make(map[uint64]uint64, max(size, 64))}
	err := list(func(so sockets.Socket) {
		l.idx[so.Cookie] = so.Inode
		if so.Inode == 0 || so.Local.Addr().IsUnspecified() || (so.Proto == protoTCP && so.Remote.Addr().IsUnspecified()) {
			return
		}
		if _, ok := procs.HolderPID(so.Inode); ok {
			l.held = append(l.held, idOf(so.Proto, so.Local, so.Remote))
		}
	})
	return l, err
}

// takeOlder takes l, listed at now, as the sockets older than the agent,
// and claims the ends it holds (again: a claim held already stays).
func (s *socketCounter) takeOlder(l olderList, now time.Time) {
	s.older, s.olderAt, s.olderUsed = l.idx, now, true
	s.o.claims.hold(l.held, now)
}

// handOverSlack is how long before the tick that first listed a socket it
// may have been made: a fork after that may have handed it over.
const handOverSlack = 2 * time.Second

// mayHandOver reports whether socket k may have changed hands since its
// creator made it: only through a child, so only if the creator forked
// since (procs.Table.ForkedSince; fd passing over a unix socket is not
// seen). The holder of a socket of a process that has not forked is not
// looked for: with 100,000 sockets those lookups (sock_diag, and reading
// each holder's open files) were most of the agent's work.
func (s *socketCounter) mayHandOver(k *sockbpf.Socket, st *sockState) bool {
	return s.o.procs.ForkedSince(k.PID, time.Unix(0, st.born).Add(-handOverSlack))
}

// recorded is the creator of socket k as the kernel recorded it, for a
// process that exited (or exec'd) before it was read: its PID, comm and,
// when the programs recorded it, its executable's file name, which names
// it as the process table would have (the comm is cut at 15 bytes).
func (s *socketCounter) recorded(k *sockbpf.Socket) *model.Process {
	return &model.Process{PID: k.PID, Comm: k.Comm, Exe: s.o.src.ExeName(k.PID, k.Comm)}
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
	st.resolved = true
	var key model.Key
	switch {
	case info.Process != nil:
		if info.Process != s.lastProc {
			// Consecutive sockets are mostly one process's: its key
			// (and the include and exclude rules) once.
			s.lastProc, s.lastKey = info.Process, model.KeyProcess(info.Process)
			s.lastSkip = s.o.keep != nil && !s.o.keep(info.Process.Cmdline)
		}
		key, st.skip = s.lastKey, s.lastSkip
	case info.Forwarded != nil:
		key = model.KeyForwarded(*info.Forwarded)
	case info.Unattributed == flows.ReasonElsewhere:
		key, st.skip = model.KeyUnattributed(info.Unattributed), true
	default:
		key = model.KeyUnattributed(info.Unattributed)
	}
	s.own(st, key, info)
}
