package monitor

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// peerNS is a network namespace of this host other than the watched one:
// a container's, a pod's, a service's with a private network, one made by
// `ip netns add`. A flow of the watched namespace's conntrack table that
// was NATed on its way out of (or into) such a namespace has its socket
// there.
type peerNS struct {
	ino   uint64
	label string // `ip netns` name, else "net:[INODE]"
	path  string // how to open it: /run/netns/NAME or /proc/PID/ns/net
	pid   int    // a process in it (0: known only by its name)
	addrs []netip.Addr
	found time.Time // when bwmon first saw it

	// sk looks up its sockets: by sock_diag when bwmon may enter the
	// namespace (CAP_SYS_ADMIN), else from /proc/PID/net/{tcp,udp}{,6}
	// (CAP_SYS_PTRACE is enough). One lookup at a time: a namespace's
	// traffic is the share of one container.
	sk *sockets.Namespace

	mu sync.Mutex // guards label, path and pid once the peer is shared
}

// close releases the sockets held in the namespace: a socket keeps its
// namespace alive, so a namespace that went away must not keep one.
func (p *peerNS) close() { p.sk.Close() }

// DialDiag opens a sock_diag socket in the namespace (sockets.Source).
func (p *peerNS) DialDiag() (*sockets.Diag, error) {
	p.mu.Lock()
	path := p.path
	p.mu.Unlock()
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return sockets.DialDiag(int(h))
}

// ReadTable reads /proc/PID/net/NAME of a process of the namespace
// (sockets.Source).
func (p *peerNS) ReadTable(name string) ([]sockets.Socket, error) {
	p.mu.Lock()
	pid, label := p.pid, p.label
	p.mu.Unlock()
	if pid == 0 {
		return nil, fmt.Errorf("reading sockets of network namespace %s: no process of it to read /proc/PID/net from, and sock_diag there failed", label)
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/" + name)
	if err != nil {
		return nil, fmt.Errorf("reading sockets of network namespace %s: %w (bwmon needs CAP_SYS_ADMIN or CAP_SYS_PTRACE)", label, err)
	}
	defer f.Close()
	rows, err := sockets.ParseProcNet(f)
	if err != nil {
		return nil, fmt.Errorf("reading sockets of network namespace %s: %w", label, err)
	}
	return rows, nil
}

// peerTracker knows the host's other network namespaces and their
// addresses. It learns them from /run/netns and from every process's
// /proc/PID/ns/net, again every peerScanEvery and on request (a flow from
// an address it does not know: most likely a container that just
// started), and forgets a namespace once no process and no name holds it.
type peerTracker struct {
	procRoot string
	self     uint64    // the watched namespace
	host     hostNetNS // the host's namespace (0: unknown)
	log      *slog.Logger
	now      func() time.Time
	cache    *sockets.Cache // the /proc/net tables the peers read

	scanMu   sync.Mutex // serialises scans
	lastScan time.Time
	kicks    chan struct{} // asks the scanning goroutine for a scan

	mu     sync.RWMutex
	peers  map[uint64]*peerNS
	byAddr map[netip.Addr][]*peerNS
	names  map[uint64]string
	// unknown holds addresses no namespace had when last looked for, so
	// that a NAT gateway's LAN hosts do not trigger a scan per flow; a
	// scan that finds one in a namespace removes it.
	unknown map[netip.Addr]bool
}

const (
	// peerScanEvery is how often the namespaces are listed again.
	peerScanEvery = 5 * time.Second
	// peerRescanMin bounds the rescans asked for by unknown addresses.
	peerRescanMin = 100 * time.Millisecond
	// maxUnknown bounds the addresses remembered as no namespace's.
	maxUnknown = 1 << 16
	// peerYoung is how long a namespace's addresses are read again at
	// every scan: a container's are set a moment after it is made.
	peerYoung = 30 * time.Second
)

// newPeerTracker makes the tracker of the namespaces other than self; it
// logs once when the host's namespace cannot be read (findHostNetNS).
func newPeerTracker(procRoot string, self uint64, log *slog.Logger, now func() time.Time, cache *sockets.Cache) *peerTracker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := findHostNetNS(procRoot, nsInode)
	host.report(log)
	return &peerTracker{procRoot: procRoot, self: self, host: host, log: log, now: now, cache: cache, kicks: make(chan struct{}, 1), unknown: map[netip.Addr]bool{},
		peers: map[uint64]*peerNS{}, byAddr: map[netip.Addr][]*peerNS{}, names: map[uint64]string{}}
}

// nsInode returns the inode of the namespace file at path.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// kick asks for a scan soon, without waiting for it.
func (t *peerTracker) kick() {
	select {
	case t.kicks <- struct{}{}:
	default:
	}
}

// lookup returns the namespaces that hold address a.
func (t *peerTracker) lookup(a netip.Addr) []*peerNS {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byAddr[a.Unmap()]
}

// find is lookup, but an address not seen before makes it list the
// namespaces again first (quickly: the addresses of the namespaces that
// are not young are not read again); on the event path, with young (the
// processes created recently), it looks only at their namespaces.
func (t *peerTracker) find(a netip.Addr, young func() []int) []*peerNS {
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
		t.kick()
		return t.lookup(a)
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
func (t *peerTracker) addYoung(young func() []int) {
	if !t.scanMu.TryLock() {
		return
	}
	defer t.scanMu.Unlock()
	for _, pid := range young() {
		path := t.procRoot + "/" + strconv.Itoa(pid) + "/ns/net"
		ino, err := nsInode(path)
		if err != nil || ino == t.self {
			continue
		}
		t.mu.RLock()
		known := t.peers[ino] != nil
		t.mu.RUnlock()
		if known {
			continue
		}
		p := t.adopt(&peerNS{ino: ino, path: path, pid: pid, found: t.now(), label: "net:[" + strconv.FormatUint(ino, 10) + "]"})
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
func (t *peerTracker) adopt(p *peerNS) *peerNS {
	p.sk = sockets.NewNamespace(p.ino, p, 1, t.cache)
	return p
}

// netnsName returns the name under /run/netns of namespace ino, or "".
func netnsName(ino uint64) string {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if i, err := nsInode("/run/netns/" + e.Name()); err == nil && i == ino {
			return e.Name()
		}
	}
	return ""
}

// label names namespace ino for people: its `ip netns` name when it has
// one, "" for the host's, else "net:[INODE]". When the host's namespace is
// not known every answer is "": a process's namespace cannot be told from
// the host's then.
func (t *peerTracker) label(ino uint64) string {
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

// labelPID is label for the namespace of process pid.
func (t *peerTracker) labelPID(pid int) string {
	ino, err := nsInode(t.procRoot + "/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return ""
	}
	return t.label(ino)
}

// scan lists the namespaces again, unless one did less than min ago, and
// reads their addresses: all of them when full, else only those of new and
// young namespaces.
func (t *peerTracker) scan(min time.Duration, full bool) {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	if now := t.now(); now.Sub(t.lastScan) < min {
		return
	} else {
		t.lastScan = now
	}
	found := map[uint64]*peerNS{} // by inode: a way to open each
	names := map[uint64]string{}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			path := "/run/netns/" + e.Name()
			ino, err := nsInode(path)
			if err != nil {
				continue
			}
			names[ino] = e.Name()
			found[ino] = &peerNS{ino: ino, label: e.Name(), path: path}
		}
	}
	if ents, err := os.ReadDir(t.procRoot); err == nil {
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			path := t.procRoot + "/" + e.Name() + "/ns/net"
			ino, err := nsInode(path)
			if err != nil {
				continue
			}
			if p := found[ino]; p != nil {
				if p.pid == 0 {
					p.pid = pid
				}
				continue
			}
			found[ino] = &peerNS{ino: ino, path: path, pid: pid}
		}
	}
	delete(found, t.self)

	t.mu.RLock()
	old := t.peers
	t.mu.RUnlock()
	peers := make(map[uint64]*peerNS, len(found))
	byAddr := map[netip.Addr][]*peerNS{}
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

// close releases every namespace's sockets.
func (t *peerTracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		p.close()
	}
	t.peers, t.byAddr = map[uint64]*peerNS{}, map[netip.Addr][]*peerNS{}
}

// list returns the namespaces known.
func (t *peerTracker) list() []*peerNS {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*peerNS, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p)
	}
	return out
}

// namespaceAddrs lists the addresses a namespace's sockets can be bound to,
// but loopback and link-local ones, which every namespace has and which
// never leave it: by rtnetlink in the namespace, else from
// /proc/PID/net/fib_trie and if_inet6.
func namespaceAddrs(path string, pid int) ([]netip.Addr, error) {
	addrs, err := rtnlAddrs(path)
	if err != nil && pid > 0 {
		addrs, err = procNetAddrs(pid)
	}
	if err != nil {
		return nil, err
	}
	out := addrs[:0]
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || !a.IsValid() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func rtnlAddrs(path string) ([]netip.Addr, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	list, err := nl.AddrList(nil, unix.AF_UNSPEC)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// procNetAddrs reads a namespace's local addresses from the files of one
// of its processes: IPv4 ones are the "/32 host LOCAL" leaves of
// /proc/PID/net/fib_trie, IPv6 ones the rows of /proc/PID/net/if_inet6.
func procNetAddrs(pid int) ([]netip.Addr, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/net/"
	b, err := os.ReadFile(dir + "fib_trie")
	if err != nil {
		return nil, err
	}
	out := parseFibTrieLocal(string(b))
	if b, err := os.ReadFile(dir + "if_inet6"); err == nil {
		out = append(out, parseIfInet6(string(b))...)
	}
	return out, nil
}

// parseFibTrieLocal returns the addresses that fib_trie lists as local:
// a "|-- ADDR" line followed by a "/32 host LOCAL" one.
func parseFibTrieLocal(s string) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	var last netip.Addr
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && strings.HasSuffix(f[len(f)-2], "|--"):
			last, _ = netip.ParseAddr(f[len(f)-1])
		case len(f) == 3 && f[0] == "/32" && f[1] == "host" && f[2] == "LOCAL":
			if last.IsValid() && !seen[last] {
				seen[last] = true
				out = append(out, last)
			}
		}
	}
	return out
}

// parseIfInet6 returns the addresses of /proc/net/if_inet6 rows (32 hex
// digits first).
func parseIfInet6(s string) []netip.Addr {
	var out []netip.Addr
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || len(f[0]) != 32 {
			continue
		}
		var b [16]byte
		ok := true
		for i := range 16 {
			v, err := strconv.ParseUint(f[0][2*i:2*i+2], 16, 8)
			if err != nil {
				ok = false
				break
			}
			b[i] = byte(v)
		}
		if ok {
			out = append(out, netip.AddrFrom16(b))
		}
	}
	return out
}
