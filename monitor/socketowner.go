package monitor

import (
	"net/netip"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
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
	case k.PID == 0 && s.o.quiet != nil && s.o.quiet():
		// Older than the agent, or a kernel socket (NFS's, accepted by a
		// kernel listener), held by no process: conntrack announces no
		// flow of a TCP or UDP socket here, so its bytes are counted
		// here.
		s.settle(st, model.Info{Unattributed: model.ReasonNoProcess})
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
