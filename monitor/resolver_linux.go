package monitor

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// resolver ties the local end of a flow to a process: socket (package
// sockets), then inode, then process (procTable).
type resolver struct {
	ns    *netns.NS
	procs *procs.Table
	now   func() time.Time

	local     atomic.Pointer[map[netip.Addr]bool]
	localRead time.Time // when local was last read (tick goroutine only)

	// sk looks up the watched namespace's sockets.
	sk *sockets.Namespace

	// peers knows the host's other network namespaces (nil: flows with
	// no local end are forwarded ones); elsewhere, when set, reports the
	// addresses whose namespace's own table counts their flows.
	peers     peerSockets
	elsewhere func(netip.Addr) bool
	log       *slog.Logger

	// early holds the inodes of sockets noteEarly found the moment their
	// connection's NEW event was read, for the event path to use when the
	// socket has closed since.
	earlyMu sync.Mutex
	early   map[[2]netip.AddrPort]uint64

	mu       sync.Mutex // guards lastFull and lastWarn
	lastFull time.Time
	lastWarn time.Time
}

// peerSockets are the socket lookups of the host's other namespaces.
type peerSockets interface {
	// FindSockets returns the lookups of the namespaces holding address
	// a; with young, on the event path, looking only at the namespaces of
	// the processes it lists when a is not known.
	FindSockets(a netip.Addr, young func() []int) []*sockets.Namespace
	// Kick asks for the namespaces to be listed again soon.
	Kick()
}

// newResolver looks sockets up in ns with up to n sock_diag sockets for n
// concurrent lookups, and its /proc/net tables through cache.
func newResolver(ns *netns.NS, pt *procs.Table, now func() time.Time, n int, cache *sockets.Cache) (*resolver, error) {
	ino, err := ns.Inode()
	if err != nil {
		return nil, fmt.Errorf("reading the inode of network namespace %q: %w", ns.Name(), err)
	}
	r := &resolver{ns: ns, procs: pt, now: now, sk: sockets.NewNamespace(ino, ns, n, cache)}
	return r, r.refreshLocal()
}

// Close closes the sock_diag sockets; no lookup may be running.
func (r *resolver) Close() error { return r.sk.Close() }

// fullScanEvery bounds how often a socket that nothing else explains
// triggers a scan of every process's fds (milliseconds on most hosts).
const fullScanEvery = 2 * time.Second

// IsLocal reports whether a is an address of the watched namespace.
func (r *resolver) IsLocal(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	m := r.local.Load()
	return m != nil && (*m)[a]
}

// localEvery is how often the namespace's addresses are read again.
const localEvery = 5 * time.Second

// refreshLocal re-reads the namespace's addresses, at most every
// localEvery (opening rtnetlink in another namespace costs milliseconds).
func (r *resolver) refreshLocal() error {
	now := r.now()
	if now.Sub(r.localRead) < localEvery {
		return nil
	}
	r.localRead = now
	addrs, err := r.ns.Addresses()
	if err != nil {
		return err
	}
	m := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		m[a.Unmap()] = true
	}
	r.local.Store(&m)
	return nil
}

func (r *resolver) Resolve(proto uint8, local, remote netip.AddrPort, level flows.Level) (model.Info, bool) {
	var early uint64
	if level == flows.Quick && proto == unix.IPPROTO_TCP {
		// The event reader found the socket already, most often with its
		// owner: no second lookup, no reads of /proc.
		if early = r.takeEarly(local, remote); early != 0 {
			if p := r.procs.Holder(early); p != nil {
				return model.Info{Process: p}, true
			}
		}
	}
	var prefetched chan struct{}
	if level == flows.Quick {
		// While the kernel looks up the socket, read the newborns' fds:
		// the owner of a brand-new flow is most often one of them, and
		// it may live for less than a millisecond more.
		prefetched = make(chan struct{})
		go func() {
			defer close(prefetched)
			r.procs.ProbeRecent()
			r.procs.ScanNewborns()
		}()
	}
	inode, reason, ok := r.socket(proto, local, remote, level)
	if early != 0 && !ok && reason == "" {
		inode, ok = early, true // closed since its event was read
	}
	if prefetched != nil {
		<-prefetched
	}
	if !ok {
		return model.Info{}, false
	}
	if reason != "" {
		return model.Info{Unattributed: reason}, true
	}
	if p := r.holder(inode, level); p != nil {
		return model.Info{Process: p}, true
	}
	if level == flows.Quick && proto == unix.IPPROTO_TCP {
		if p := r.acceptedBy(r.sk.Listener, local, inode); p != nil {
			return model.Info{Process: p}, true
		}
	}
	if level != flows.Final {
		return model.Info{}, false
	}
	// The socket was found but no process holds it now: if it is gone
	// too, its process most likely exited.
	if in, rs, _ := r.socket(proto, local, remote, flows.Final); rs == "" && in == inode {
		return model.Info{Unattributed: model.ReasonNoProcess}, true
	}
	return model.Info{Unattributed: model.ReasonProcessGone}, true
}

// holder returns the process that holds socket inode, or nil.
func (r *resolver) holder(inode uint64, level flows.Level) *model.Process {
	if level == flows.Quick {
		return r.procs.OwnerQuick(inode)
	}
	p := r.procs.OwnerRefresh(inode)
	// The socket is open and no process we know of holds it: read every
	// process's fds (rate-limited). It is the one search that does not
	// rely on open-file counts having changed.
	if p == nil && r.fullScanDue() {
		_ = r.procs.FullScan()
		p = r.procs.OwnerQuick(inode)
	}
	return p
}

// resolveOuter finds the owner of a flow with no local end. A NATed flow's
// inside end may be a socket in another namespace of the host (a
// container behind masquerade, or one a port is forwarded to): it is looked
// up in the namespaces that hold the inside address. Anything else was
// routed by the host, and is answered with its pair of hosts.
func (r *resolver) ResolveOuter(proto uint8, e *flows.Ends, level flows.Level) (model.Info, bool) {
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
func (r *resolver) warnUnreadable(err error) {
	r.mu.Lock()
	due := r.now().Sub(r.lastWarn) >= time.Minute
	if due {
		r.lastWarn = r.now()
	}
	r.mu.Unlock()
	if due && r.log != nil {
		r.log.Warn("bytes of another network namespace left unattributed", "err", err)
	}
}

func (r *resolver) fullScanDue() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.now().Sub(r.lastFull) < fullScanEvery {
		return false
	}
	r.lastFull = r.now()
	return true
}

// socket finds the inode of the socket at the local end. It returns a
// reason instead when the flow's end is known to have no socket, and ok
// false when it is worth asking again later.
func (r *resolver) socket(proto uint8, local, remote netip.AddrPort, level flows.Level) (inode uint64, reason model.Reason, ok bool) {
	s, found, _ := r.sk.Lookup(proto, local, remote, level == flows.Quick)
	switch {
	case found && s.Inode != 0:
		return s.Inode, "", true
	case level != flows.Final:
		return 0, "", false
	case found:
		// Time-wait, orphaned, or accepted by no process yet.
		return 0, model.ReasonNoProcess, true
	case proto == unix.IPPROTO_ICMP || proto == unix.IPPROTO_ICMPV6:
		// Echo requests to this host are answered by the kernel.
		return 0, model.ReasonKernel, true
	}
	return 0, model.ReasonNoSocket, true
}

// earlyMax bounds the inodes noteEarly keeps; those the event path never
// takes (a flow a dump resolved first) are dropped all at once.
const earlyMax = 4096

// noteEarly looks up, with d, the socket local -> remote of a TCP
// connection this namespace opened, on the event reader's thread as soon
// as its NEW event is read, and reads the recent owners' fds (probeRecent)
// while the socket is surely open. A client that connects, sends a few
// kilobytes and closes within a fraction of a millisecond has its socket in
// time-wait, with no inode, by the time an event worker looks: the inode
// found here, with the owner the probe recorded, still names the process.
// It costs one sock_diag round trip per new outgoing TCP connection, and
// the probe's readlinks when the socket is not known yet.
//
// It reports whether the socket's owner is known.
func (r *resolver) noteEarly(d *sockets.Diag, local, remote netip.AddrPort) bool {
	s, found, err := d.Lookup(unix.IPPROTO_TCP, local, remote)
	if err != nil || !found || s.Inode == 0 || s.State == sockets.TCPListen {
		return false
	}
	known := r.procs.Known(s.Inode)
	if !known {
		r.procs.ProbeRecent()
		known = r.procs.Known(s.Inode)
	}
	r.earlyMu.Lock()
	if r.early == nil || len(r.early) >= earlyMax {
		r.early = make(map[[2]netip.AddrPort]uint64)
	}
	r.early[[2]netip.AddrPort{local, remote}] = s.Inode
	r.earlyMu.Unlock()
	return known
}

// takeEarly returns and forgets the inode noteEarly found for local ->
// remote (0: none).
func (r *resolver) takeEarly(local, remote netip.AddrPort) uint64 {
	k := [2]netip.AddrPort{local, remote}
	r.earlyMu.Lock()
	defer r.earlyMu.Unlock()
	ino := r.early[k]
	if ino != 0 {
		delete(r.early, k)
	}
	return ino
}

// acceptedBy finds the holder of a server's socket inode whose holder is
// not known yet, by reading the fds of the process holding the listener
// (found by listener) on its local port; nil when that does not tell.
func (r *resolver) acceptedBy(listener func(netip.AddrPort) (uint64, bool), local netip.AddrPort, inode uint64) *model.Process {
	l, ok := listener(local)
	if !ok || l == inode {
		return nil
	}
	return r.procs.OwnerByListener(inode, l)
}
