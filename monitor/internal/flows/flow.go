package flows

import (
	"net/netip"

	"github.com/bwmon/bwmon/model"
)

// Resolver finds who owns one local end of a flow.
type Resolver interface {
	// IsLocal reports whether a is an address of the watched host.
	IsLocal(a netip.Addr) bool
	// Resolve returns the owner of the local end local (peer remote) of a
	// flow of protocol proto. Below Final it may return ok false:
	// "not yet known, ask again later"; at Final it always answers,
	// with an Unattributed reason when it must.
	Resolve(proto uint8, local, remote netip.AddrPort, level Level) (info model.Info, ok bool)
	// ResolveOuter is Resolve for a flow with no local end: its socket
	// may be in another network namespace of the host (e.NAT), else the
	// host forwarded it and the answer is the pair of hosts.
	ResolveOuter(proto uint8, e *Ends, level Level) (info model.Info, ok bool)
}

// Counted is implemented by a Resolver that knows, from memory alone,
// the local ends a socket counter counts (those Resolve settles as
// ReasonAtSocket at once).
type Counted interface {
	CountedAtSocket(proto uint8, local, remote netip.AddrPort) bool
}

// resolveEnds asks r for the owner of the end e. It takes e by value, so
// that a local end's lookup allocates nothing (an outer end's copy does).
func resolveEnds(r Resolver, proto uint8, e Ends, level Level) (model.Info, bool) {
	if e.Outer {
		ec := e
		return r.ResolveOuter(proto, &ec, level)
	}
	return r.Resolve(proto, e.Local, e.Remote, level)
}

// Level says how hard to look for an owner.
type Level int

const (
	// Quick is for the event path: known sockets and young processes.
	Quick Level = iota
	// Tick also refreshes the process table (once per tick).
	Tick
	// Final must answer: an owner or a reason.
	Final
)

// tickAttempts is how many ticks a side may stay unresolved (a server's
// socket is accepted a moment after the flow's NEW event) before it is
// settled with a reason.
const tickAttempts = 2

// ReasonElsewhere marks a side whose bytes another namespace's table
// counts ([conntrack] namespaces = "all"): the table skips it.
const ReasonElsewhere model.Reason = "counted_elsewhere"

// ReasonAtSocket marks a side whose local end a socket counter counts (the
// socket monitor's claims): the table skips it, and books no coverage for
// it unless it is an outer side (a socket behind NAT in another
// namespace), since the socket counter books what crossed the watched
// namespace's interfaces itself. A flow whose every side is counted at
// the socket needs no counters (Keys leaves it out).
const ReasonAtSocket model.Reason = "counted_at_socket"

// Ends is where a side's socket is looked for. An outer side's local end is
// not an address of the watched namespace: it is the inside host of a
// forwarded flow, or, when the flow was NATed, maybe a socket in another
// namespace of this host.
type Ends struct {
	Local, Remote netip.AddrPort
	Outer, NAT    bool
}

// side is one local end of a flow. The initiator's end (orig) sent the
// original-direction bytes; the responder's end (reply) sent the reply ones.
//
// A side is kept small (100,000 flows each hold one or two): its socket
// endpoints are dropped once it is resolved, and its owner is shared with
// every other side of the same process.
type side struct {
	ctr      model.FlowCounter // counters already accounted for this side
	owner    *owner
	ep       *Ends // the local end and its peer, while unresolved
	isOrig   bool
	resolved bool
	skip     bool // filtered out by include/exclude or ignore_local
	attempts int8 // ticks spent unresolved
	// outer is a side of a flow with no local end (routed through the
	// namespace); filtered, one whose bytes nobody counts (include,
	// exclude, ignore_forwarded): see crossing.go.
	outer, filtered bool
	// atSocket: settled as ReasonAtSocket.
	atSocket bool
	// class is the destination class of the side's remote end, found
	// when the flow was first seen.
	class model.Class
}

// owner is whom a resolved side's bytes go to; one per process or reason.
type owner struct {
	info model.Info
	key  model.Key
}

// flow is the table's record of a conntrack entry, stored by value in the
// table's slab (about 100 bytes). A flow has two ends, so at most two
// sides, held inline: sides[:n].
type flow struct {
	orig, reply uint64 // latest counters seen
	sides       [2]side
	seenGen     uint32 // last dump that listed it
	proto       uint8
	n           uint8 // sides in use
	missing     uint8 // dumps in a row that did not list it
	// announced: a NEW event announced it (else a dump listed it first).
	announced bool
	// done: a TCP connection in TIME_WAIT or CLOSE when last read; it
	// moves no more bytes (its DESTROY event brings its last counters).
	done bool
}

// list returns the sides in use, to read or update in place.
func (fl *flow) list() []side { return fl.sides[:fl.n] }

// add appends a side; a flow has at most two.
func (fl *flow) add(s side) {
	fl.sides[fl.n] = s
	fl.n++
}

// hasUnresolved reports whether a side of fl is still to resolve.
func hasUnresolved(fl *flow) bool {
	for i := range fl.list() {
		if !fl.sides[i].resolved {
			return true
		}
	}
	return false
}
