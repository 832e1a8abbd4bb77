package netns

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// Peer is a network namespace of this host other than the watched one: a
// container's, a pod's, a service's with a private network, one made by
// `ip netns add`. A flow of the watched namespace's conntrack table that
// was NATed on its way out of (or into) such a namespace has its socket
// there.
type Peer struct {
	ino   uint64
	addrs []netip.Addr // read by scans (under the tracker's scanMu)
	found time.Time    // when bwmon first saw it

	// sk looks up its sockets: by sock_diag when bwmon may enter the
	// namespace (CAP_SYS_ADMIN), else from /proc/PID/net/{tcp,udp}{,6}
	// (CAP_SYS_PTRACE is enough). One lookup at a time: a namespace's
	// traffic is the share of one container.
	sk *sockets.Namespace

	mu    sync.Mutex // guards the fields below once the peer is shared
	label string     // `ip netns` name, else "net:[INODE]"
	path  string     // how to open it: /run/netns/NAME or /proc/PID/ns/net
	pid   int        // a process in it (0: known only by its name)
}

// Label names the namespace for people: its `ip netns` name, else
// "net:[INODE]".
func (p *Peer) Label() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.label
}

// Open opens the namespace, named by its label; ErrGone when what its path
// leads to is another namespace now (the process that led to it exited).
func (p *Peer) Open() (*NS, error) {
	p.mu.Lock()
	path, label := p.path, p.label
	p.mu.Unlock()
	ns, err := Open(path)
	if err != nil {
		return nil, err
	}
	ns.name = label
	if ino, err := ns.Inode(); err != nil || ino != p.ino {
		ns.Close()
		return nil, sockets.ErrGone
	}
	return ns, nil
}

// userOwned reports whether the namespace belongs to a user namespace
// other than the initial one (NS.UserOwned); true when it cannot be told.
func (p *Peer) userOwned() bool {
	p.mu.Lock()
	path := p.path
	p.mu.Unlock()
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return true
	}
	defer h.Close()
	o, err := userOwnedFD(int(h))
	return err != nil || o
}

// close releases the sockets held in the namespace: a socket keeps its
// namespace alive, so a namespace that went away must not keep one.
func (p *Peer) close() { p.sk.Close() }

// DialDiag opens a sock_diag socket in the namespace (sockets.Source).
func (p *Peer) DialDiag() (*sockets.Diag, error) {
	p.mu.Lock()
	path := p.path
	p.mu.Unlock()
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return sockets.DialDiag(int(h))
}

// ReadTable reads /proc/PID/net/NAME of a process of the namespace
// (sockets.Source).
func (p *Peer) ReadTable(name string) ([]sockets.Socket, error) {
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
