package monitor

import (
	"net/netip"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
)

// claimResolver is the resolver a conntrack table asks while the socket
// monitor counts: a side whose end the socket monitor claims is settled
// as counted at the socket (flows.ReasonAtSocket: booked for no owner,
// its coverage booked by the socket monitor), and so is a side whose socket the inner resolver found
// (it has a socket, so the kernel's programs counted it, in its slot or,
// when their map was full, in their overflow counters) while the programs
// followed every socket lately (claims.sure: the kernel had memory for
// each socket's state). The rest — no socket (the kernel answered),
// forwarded, or a socket the programs could not follow — keeps
// conntrack's answer.
type claimResolver struct {
	flows.Resolver
	claims *claims
	// outer: the socket monitor counts the sockets of every namespace,
	// so an outer side (a socket behind NAT in another namespace) is
	// claimed too; else only this namespace's ends are.
	outer bool
}

// Resolve implements flows.Resolver.
func (r claimResolver) Resolve(proto uint8, local, remote netip.AddrPort, level flows.Level) (model.Info, bool) {
	if r.claims.has(proto, local, remote) {
		return model.Info{Unattributed: flows.ReasonAtSocket}, true
	}
	if level != flows.Final && r.claims.sure.Load() {
		// A new flow, or one first read by a dump a moment after the
		// socket monitor's last read: if its end has a socket, the
		// socket monitor claims it by the next tick (its last attempt,
		// Final); no lookup now.
		return model.Info{}, false
	}
	info, ok := r.Resolver.Resolve(proto, local, remote, level)
	return r.settle(info, ok, proto, local, remote, level)
}

// CountedAtSocket implements flows.Counted: the end is claimed.
func (r claimResolver) CountedAtSocket(proto uint8, local, remote netip.AddrPort) bool {
	return r.claims.has(proto, local, remote)
}

// ResolveOuter implements flows.Resolver.
func (r claimResolver) ResolveOuter(proto uint8, e *flows.Ends, level flows.Level) (model.Info, bool) {
	if r.outer && e.NAT && r.claims.has(proto, e.Local, e.Remote) {
		return model.Info{Unattributed: flows.ReasonAtSocket}, true
	}
	local, remote := e.Local, e.Remote
	info, ok := r.Resolver.ResolveOuter(proto, e, level)
	if !r.outer || info.Process == nil {
		return info, ok
	}
	return r.settle(info, ok, proto, local, remote, level)
}

// settle turns the inner resolver's answer for a socket into "counted
// elsewhere" when the socket monitor surely counts that socket. When it
// cannot be sure (a socket it could not follow lately) a side with a socket waits for
// the claims of the next ticks, and at the last attempt keeps conntrack's
// answer: counted by conntrack rather than by nobody.
func (r claimResolver) settle(info model.Info, ok bool, proto uint8, local, remote netip.AddrPort, level flows.Level) (model.Info, bool) {
	if !ok || info.Process == nil {
		return info, ok
	}
	if r.claims.sure.Load() {
		return model.Info{Unattributed: flows.ReasonAtSocket}, true
	}
	if level != flows.Final {
		return model.Info{}, false
	}
	if r.claims.has(proto, local, remote) {
		return model.Info{Unattributed: flows.ReasonAtSocket}, true
	}
	return info, ok
}
