package owners

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// Resolver ties the local end of a flow to its owner (flows.Resolver):
// its socket (package sockets), then the process holding the socket's
// inode (Processes). It is safe for concurrent use, but RefreshLocal,
// which the tick calls.
type Resolver struct {
	addresses func() ([]netip.Addr, error)
	procs     Processes
	now       func() time.Time

	local     atomic.Pointer[map[netip.Addr]bool]
	localRead time.Time // when local was last read (tick goroutine only)

	// sk looks up the watched namespace's sockets.
	sk *sockets.Namespace

	// peers knows the host's other network namespaces (nil: flows with
	// no local end are forwarded ones); elsewhere, when set, reports the
	// addresses whose namespace's own table counts their flows.
	peers     Peers
	elsewhere func(netip.Addr) bool
	log       *slog.Logger

	// early holds the inodes of sockets NoteEarly found the moment their
	// connection's NEW event was read, for the event path to use when the
	// socket has closed since.
	earlyMu sync.Mutex
	early   map[[2]netip.AddrPort]uint64

	mu       sync.Mutex // guards lastFull and lastWarn
	lastFull time.Time
	lastWarn time.Time
}

// Peers are the socket lookups of the host's other namespaces
// (netns.Tracker).
type Peers interface {
	// FindSockets returns the lookups of the namespaces holding address
	// a; with young, on the event path, looking only at the namespaces of
	// the processes it lists when a is not known.
	FindSockets(a netip.Addr, young func() []int) []*sockets.Namespace
	// Kick asks for the namespaces to be listed again soon.
	Kick()
}

// Processes is what a Resolver asks of the process table (procs.Table).
type Processes interface {
	// Known reports whether the holder of socket inode is known.
	Known(inode uint64) bool
	// Holder returns the process known to hold socket inode, or nil.
	Holder(inode uint64) *model.Process
	// OwnerQuick looks for the holder where a brand-new socket's is
	// (event path); OwnerRefresh also brings the table up to date
	// (tick); OwnerByListener reads the fds of the holder of listener.
	OwnerQuick(inode uint64) *model.Process
	OwnerRefresh(inode uint64) *model.Process
	OwnerByListener(inode, listener uint64) *model.Process
	// FullScan reads every process's fds.
	FullScan() error
	// ProbeRecent and ScanNewborns read the fds of the processes most
	// likely to have opened a socket just now.
	ProbeRecent()
	ScanNewborns() int
	// FindYoung reads the fds of the young processes that may have
	// opened a file since last read, and reports whether one holds
	// inode (or its holder was known).
	FindYoung(inode uint64) bool
	// Young lists the processes created recently, newest first.
	Young() []int
}

// Options configure a Resolver.
type Options struct {
	// Sockets looks up the watched namespace's sockets; Addresses lists
	// its addresses (those of its interfaces).
	Sockets   *sockets.Namespace
	Addresses func() ([]netip.Addr, error)
	// Procs is the process table.
	Procs Processes
	// Peers, when set, finds sockets in the host's other namespaces for
	// NATed flows; nil: flows with no local end are forwarded ones.
	Peers Peers
	// Elsewhere, when set, reports the addresses whose namespace's own
	// table counts their flows (namespaces = "all").
	Elsewhere func(netip.Addr) bool
	// Log receives a warning, once a minute, when another namespace
	// cannot be read (default: discarded).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New makes a resolver and reads the watched namespace's addresses.
func New(o Options) (*Resolver, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Resolver{addresses: o.Addresses, procs: o.Procs, now: o.Now, sk: o.Sockets, peers: o.Peers, elsewhere: o.Elsewhere, log: o.Log}
	return r, r.RefreshLocal()
}

// fullScanEvery bounds how often a socket that nothing else explains
// triggers a scan of every process's fds (milliseconds on most hosts).
const fullScanEvery = 2 * time.Second

// IsLocal reports whether a is an address of the watched namespace.
func (r *Resolver) IsLocal(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	m := r.local.Load()
	return m != nil && (*m)[a]
}

// localEvery is how often the namespace's addresses are read again.
const localEvery = 5 * time.Second

// RefreshLocal re-reads the namespace's addresses, at most every
// localEvery (opening rtnetlink in another namespace costs milliseconds).
// It is called from one goroutine (the tick's).
func (r *Resolver) RefreshLocal() error {
	now := r.now()
	if now.Sub(r.localRead) < localEvery {
		return nil
	}
	r.localRead = now
	addrs, err := r.addresses()
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

// Resolve implements flows.Resolver.
func (r *Resolver) Resolve(proto uint8, local, remote netip.AddrPort, level flows.Level) (model.Info, bool) {
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
	if (!ok || reason == model.ReasonNoProcess || reason == model.ReasonNoSocket) && level != flows.Quick && proto == unix.IPPROTO_TCP {
		// No inode a tick on (on the event path the socket may not be
		// accepted yet): if a server listens where the flow ends, it
		// accepted the connection and has closed it since.
		if p := r.listenerHolder(r.sk.Listener, local); p != nil {
			return model.Info{Process: p}, true
		}
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
func (r *Resolver) holder(inode uint64, level flows.Level) *model.Process {
	if level == flows.Quick {
		return r.procs.OwnerQuick(inode)
	}
	p := r.procs.OwnerRefresh(inode)
	// The socket is open and no process we know of holds it: read every
	// process's fds (rate-limited). It is the one search that does not
	// rely on open-file counts having changed.
	// OwnerRefresh again, not a plain lookup: of a parent and the child
	// it forked, both holding the socket, the scan may have read either
	// last (see procs.Table.OwnerRefresh).
	if p == nil && r.fullScanDue() {
		_ = r.procs.FullScan()
		p = r.procs.OwnerRefresh(inode)
	}
	return p
}

func (r *Resolver) fullScanDue() bool {
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
func (r *Resolver) socket(proto uint8, local, remote netip.AddrPort, level flows.Level) (inode uint64, reason model.Reason, ok bool) {
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
