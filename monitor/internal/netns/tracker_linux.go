package netns

import (
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// Tracker knows the host's other network namespaces and their
// addresses. It learns them from /run/netns and from every process's
// /proc/PID/ns/net, again every ScanEvery (Run) and on request (a flow
// from an address it does not know: most likely a container that just
// started), and forgets a namespace once no process and no name holds it.
// It is safe for concurrent use.
type Tracker struct {
	procRoot string
	self     uint64 // the watched namespace
	host     Host   // the host's namespace (0: unknown)
	log      *slog.Logger
	now      func() time.Time
	cache    *sockets.Cache // the /proc/net tables the peers read

	scanMu   sync.Mutex // serialises scans
	lastScan time.Time
	kicks    chan struct{} // asks the scanning goroutine for a scan

	mu     sync.RWMutex // guards the fields below
	peers  map[uint64]*Peer
	byAddr map[netip.Addr][]*Peer
	names  map[uint64]string
	// unknown holds addresses no namespace had when last looked for, so
	// that a NAT gateway's LAN hosts do not trigger a scan per flow; a
	// scan that finds one in a namespace removes it.
	unknown map[netip.Addr]bool
}

const (
	// ScanEvery is how often Run lists the namespaces again.
	ScanEvery = 5 * time.Second
	// peerRescanMin bounds the rescans asked for by unknown addresses.
	peerRescanMin = 100 * time.Millisecond
	// maxUnknown bounds the addresses remembered as no namespace's.
	maxUnknown = 1 << 16
	// peerYoung is how long a namespace's addresses are read again at
	// every scan: a container's are set a moment after it is made.
	peerYoung = 30 * time.Second
)

// Options configure a Tracker.
type Options struct {
	// ProcRoot is where procfs is mounted (default /proc).
	ProcRoot string
	// Self is the inode of the watched namespace, which is no peer.
	Self uint64
	// Log receives the tracker's logs (default: discarded).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Cache keeps the /proc/net tables the peers' socket lookups read
	// (default: one of the tracker's own).
	Cache *sockets.Cache
}

// NewTracker makes the tracker of the namespaces other than o.Self, and
// lists them a first time; it logs once when the host's namespace cannot
// be read (FindHost).
func NewTracker(o Options) *Tracker {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Cache == nil {
		o.Cache = sockets.NewCache(o.Now)
	}
	host := FindHost(o.ProcRoot, Inode)
	host.Report(o.Log)
	t := &Tracker{procRoot: o.ProcRoot, self: o.Self, host: host, log: o.Log, now: o.Now, cache: o.Cache, kicks: make(chan struct{}, 1), unknown: map[netip.Addr]bool{},
		peers: map[uint64]*Peer{}, byAddr: map[netip.Addr][]*Peer{}, names: map[uint64]string{}}
	t.scan(0, true)
	return t
}

// Run lists the namespaces again every ScanEvery, and soon after Kick,
// until stop is closed; after each listing it calls then (nil: nothing).
func (t *Tracker) Run(stop <-chan struct{}, then func()) {
	tk := time.NewTicker(ScanEvery)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			t.scan(ScanEvery/2, true)
		case <-t.kicks:
			t.scan(peerRescanMin, false)
		}
		if then != nil {
			then()
		}
	}
}

// Kick asks Run for a scan soon, without waiting for it.
func (t *Tracker) Kick() {
	select {
	case t.kicks <- struct{}{}:
	default:
	}
}

// Lookup returns the namespaces that hold address a.
func (t *Tracker) Lookup(a netip.Addr) []*Peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byAddr[a.Unmap()]
}

// FindSockets returns the socket lookups of the namespaces that hold
// address a. An address not seen before makes it list the namespaces again
// first (quickly: the addresses of the namespaces that are not young are
// not read again); on the event path, with young (the processes created
// recently), it looks only at their namespaces.
func (t *Tracker) FindSockets(a netip.Addr, young func() []int) []*sockets.Namespace {
	return socketsOf(t.find(a, young))
}

func socketsOf(peers []*Peer) []*sockets.Namespace {
	if len(peers) == 0 {
		return nil
	}
	out := make([]*sockets.Namespace, len(peers))
	for i, p := range peers {
		out[i] = p.sk
	}
	return out
}

func (t *Tracker) find(a netip.Addr, young func() []int) []*Peer {
	a = a.Unmap()
	t.mu.RLock()
	peers, unknown := t.byAddr[a], t.unknown[a]
	t.mu.RUnlock()
	if len(peers) > 0 || unknown {
		return peers
	}
	if young != nil {
		// The socket may live for a millisecond more: look only at the
		// namespaces of new processes, and leave the full listing to the
		// scanning goroutine.
		t.addYoung(young)
		t.Kick()
		return t.Lookup(a)
	}
	t.scan(peerRescanMin, false)
	t.mu.Lock()
	defer t.mu.Unlock()
	peers = t.byAddr[a]
	if len(peers) == 0 {
		t.unknown[a] = true
	}
	return peers
}

// addYoung adds the namespaces of the processes young lists not known
// yet. It gives way to a scan under way, which finds them too.
func (t *Tracker) addYoung(young func() []int) {
	if !t.scanMu.TryLock() {
		return
	}
	defer t.scanMu.Unlock()
	for _, pid := range young() {
		path := t.procRoot + "/" + strconv.Itoa(pid) + "/ns/net"
		ino, err := Inode(path)
		if err != nil || ino == t.self {
			continue
		}
		t.mu.RLock()
		known := t.peers[ino] != nil
		t.mu.RUnlock()
		if known {
			continue
		}
		p := t.adopt(&Peer{ino: ino, path: path, pid: pid, found: t.now(), label: "net:[" + strconv.FormatUint(ino, 10) + "]"})
		name := netnsName(ino)
		if name != "" {
			p.label = name
		}
		p.addrs, _ = namespaceAddrs(path, pid)
		t.mu.Lock()
		t.peers[ino] = p
		for _, a := range p.addrs {
			t.byAddr[a] = append(t.byAddr[a], p)
		}
		if name != "" {
			t.names[ino] = name
		}
		t.mu.Unlock()
	}
}

// adopt gives p, a namespace just found, its socket lookups.
func (t *Tracker) adopt(p *Peer) *Peer {
	p.sk = sockets.NewNamespace(p.ino, p, 1, t.cache)
	return p
}

// netnsName returns the name under /run/netns of namespace ino, or "".
func netnsName(ino uint64) string {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if i, err := Inode("/run/netns/" + e.Name()); err == nil && i == ino {
			return e.Name()
		}
	}
	return ""
}

// Label names namespace ino for people: its `ip netns` name when it has
// one, "" for the host's, else "net:[INODE]". When the host's namespace is
// not known every answer is "": a process's namespace cannot be told from
// the host's then.
func (t *Tracker) Label(ino uint64) string {
	if ino == 0 || t.host.ino == 0 || ino == t.host.ino {
		return ""
	}
	t.mu.RLock()
	name, ok := t.names[ino]
	t.mu.RUnlock()
	if ok {
		return name
	}
	return "net:[" + strconv.FormatUint(ino, 10) + "]"
}

// LabelPID is Label for the namespace of process pid.
func (t *Tracker) LabelPID(pid int) string {
	ino, err := Inode(t.procRoot + "/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return ""
	}
	return t.Label(ino)
}

// scan lists the namespaces again, unless one did less than min ago, and
// reads their addresses: all of them when full, else only those of new and
// young namespaces.
func (t *Tracker) scan(min time.Duration, full bool) {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	if now := t.now(); now.Sub(t.lastScan) < min {
		return
	} else {
		t.lastScan = now
	}
	found := map[uint64]*Peer{} // by inode: a way to open each
	names := map[uint64]string{}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			path := "/run/netns/" + e.Name()
			ino, err := Inode(path)
			if err != nil {
				continue
			}
			names[ino] = e.Name()
			found[ino] = &Peer{ino: ino, label: e.Name(), path: path}
		}
	}
	if ents, err := os.ReadDir(t.procRoot); err == nil {
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			path := t.procRoot + "/" + e.Name() + "/ns/net"
			ino, err := Inode(path)
			if err != nil {
				continue
			}
			if p := found[ino]; p != nil {
				if p.pid == 0 {
					p.pid = pid
				}
				continue
			}
			found[ino] = &Peer{ino: ino, path: path, pid: pid}
		}
	}
	delete(found, t.self)

	t.mu.RLock()
	old := t.peers
	t.mu.RUnlock()
	peers := make(map[uint64]*Peer, len(found))
	byAddr := map[netip.Addr][]*Peer{}
	for ino, f := range found {
		p := old[ino]
		if p == nil {
			p = t.adopt(f)
			if p.label == "" {
				p.label = "net:[" + strconv.FormatUint(ino, 10) + "]"
			}
		} else {
			p.mu.Lock()
			p.pid, p.path = f.pid, f.path
			if name, ok := names[ino]; ok {
				p.label = name
			}
			p.mu.Unlock()
		}
		if p.found.IsZero() {
			p.found = t.now()
		}
		if full || old[ino] == nil || t.now().Sub(p.found) < peerYoung {
			addrs, err := namespaceAddrs(p.path, p.pid)
			if err != nil {
				if old[ino] == nil {
					t.log.Debug("reading the addresses of a network namespace", "netns", p.label, "err", err)
				}
				addrs = p.addrs
			}
			p.addrs = addrs
		}
		peers[ino] = p
		for _, a := range p.addrs {
			byAddr[a] = append(byAddr[a], p)
		}
	}
	t.mu.Lock()
	t.peers, t.byAddr, t.names = peers, byAddr, names
	if len(t.unknown) > maxUnknown {
		t.unknown = map[netip.Addr]bool{}
	}
	for a := range byAddr {
		delete(t.unknown, a) // held by a namespace now
	}
	t.mu.Unlock()
	for ino, p := range old {
		if peers[ino] == nil {
			p.close()
		}
	}
}

// Close releases every namespace's sockets. It does not block.
func (t *Tracker) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		p.close()
	}
	t.peers, t.byAddr = map[uint64]*Peer{}, map[netip.Addr][]*Peer{}
}

// List returns the namespaces known.
func (t *Tracker) List() []*Peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Peer, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p)
	}
	return out
}
