package owners

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
)

// ResolveOuter finds the owner of a flow with no local end. A NATed flow's
// inside end may be a socket in another namespace of the host (a
// container behind masquerade, or one a port is forwarded to): it is looked
// up in the namespaces that hold the inside address. Anything else was
// routed by the host, and is answered with its pair of hosts.
func (r *Resolver) ResolveOuter(proto uint8, e *flows.Ends, level flows.Level) (model.Info, bool) {
	pair := model.HostPair{Inside: e.Local.Addr().Unmap(), Remote: e.Remote.Addr().Unmap()}
	if r.peers == nil {
		return model.Info{Forwarded: &pair}, true
	}
	if r.elsewhere != nil && (r.elsewhere(pair.Inside) || r.elsewhere(pair.Remote)) {
		return model.Info{Unattributed: flows.ReasonElsewhere}, true
	}
	if !e.NAT {
		if r.elsewhere != nil && level != flows.Final {
			// Maybe a namespace bwmon has not found yet.
			r.peers.Kick()
			return model.Info{}, false
		}
		return model.Info{Forwarded: &pair}, true
	}
	var young func() []int
	if level == flows.Quick {
		young = r.procs.Young
	}
	peers := r.peers.FindSockets(pair.Inside, young) // a container that just started?
	var readErr error
	for _, p := range peers {
		s, found, err := p.Lookup(proto, e.Local, e.Remote, level == flows.Quick)
		if err != nil {
			readErr = err
			continue
		}
		if !found || s.Inode == 0 {
			if level != flows.Quick && proto == unix.IPPROTO_TCP {
				if proc := r.listenerHolder(p.Listener, e.Local); proc != nil {
					return model.Info{Process: proc}, true // see Resolve
				}
			}
			continue
		}
		inode := s.Inode
		if proc := r.holder(inode, level); proc != nil {
			return model.Info{Process: proc}, true
		}
		if level == flows.Quick && proto == unix.IPPROTO_TCP {
			if proc := r.acceptedBy(p.Listener, e.Local, inode); proc != nil {
				return model.Info{Process: proc}, true
			}
		}
		if level == flows.Final {
			return model.Info{Unattributed: model.ReasonNoProcess}, true
		}
		return model.Info{}, false
	}
	switch {
	case level != flows.Final:
		return model.Info{}, false
	case readErr != nil:
		r.warnUnreadable(readErr)
		return model.Info{Unattributed: model.ReasonUnreadableNamespace}, true
	case len(peers) > 0:
		return model.Info{Unattributed: model.ReasonNoSocket}, true
	}
	return model.Info{Forwarded: &pair}, true
}

// warnUnreadable logs a namespace that could not be read, once a minute.
func (r *Resolver) warnUnreadable(err error) {
	r.mu.Lock()
	due := r.now().Sub(r.lastWarn) >= time.Minute
	if due {
		r.lastWarn = r.now()
	}
	r.mu.Unlock()
	if due {
		r.log.Warn("bytes of another network namespace left unattributed", "err", err)
	}
}
