package monitor

import (
	"errors"
	"fmt"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/links"
	"github.com/bwmon/bwmon/monitor/internal/netns"
)

// Links reads the network interfaces of one network namespace: what each
// moved between two reads, at the link and the IP layer, and its role for
// coverage (see package links). It serves one goroutine at a time.
type Links struct {
	netns string
	id    uint64
	r     *links.Reader
}

// OpenLinks opens a reader of the interfaces of the network namespace
// spec names: "" for bwmon's own, a name from `ip netns list`, or a path
// such as /proc/PID/ns/net (another namespace needs CAP_SYS_ADMIN).
func OpenLinks(spec string) (*Links, error) {
	ns, err := netns.Open(spec)
	if err != nil {
		return nil, err
	}
	defer ns.Close() // the sockets stay in the namespace
	return openLinks(ns, spec)
}

func openLinks(ns *netns.NS, spec string) (*Links, error) {
	id, err := ns.Inode()
	if err != nil {
		return nil, fmt.Errorf("reading the inode of network namespace %q: %w", spec, err)
	}
	r, err := links.Open(ns.FD())
	if err != nil {
		return nil, fmt.Errorf("reading the interfaces of network namespace %q: %w", spec, err)
	}
	return &Links{netns: spec, id: id, r: r}, nil
}

// Read returns what each interface moved since the last Read (the first
// sets the baselines), with no accounted bytes: a LinkedConntrack adds
// those. The interfaces are valid until the next Read.
func (l *Links) Read() (model.LinkTick, error) {
	ifs, err := l.r.Read()
	if err != nil {
		return model.LinkTick{}, err
	}
	return model.LinkTick{NetNS: l.netns, NetNSID: l.id, Interfaces: ifs}, nil
}

// Close closes the reader's sockets. It does not block and is safe to
// call more than once.
func (l *Links) Close() error { return l.r.Close() }

// LinkedConntrack is a conntrack monitor that also reads the network
// interfaces of the namespace it watches, each tick after its Collect,
// and says which of the bytes it counted crossed them: an
// aggregator.LinkMonitor, for the interfaces' figures and coverage.
type LinkedConntrack struct {
	*Conntrack
	// The tick's goroutine only: the reader, and the bytes taken at a
	// tick whose interfaces could not be read, handed on with the next
	// read (whose counters cover that tick too).
	links           *Links
	pendIn, pendOut uint64
}

// WithLinks opens the reader of the interfaces of the namespace m
// watches. Closing the LinkedConntrack closes m too; when WithLinks
// fails, m is left running, for the caller to use alone or close.
func WithLinks(m *Conntrack) (*LinkedConntrack, error) {
	l, err := openLinks(m.main.ns, m.cfg.NetNS)
	if err != nil {
		return nil, err
	}
	return &LinkedConntrack{Conntrack: m, links: l}, nil
}

// Links reads what each interface of the watched namespace moved since
// the last call, and takes the bytes the watched table and the socket
// monitor counted since then as they crossed those interfaces
// (model.LinkTick). The aggregator calls
// it after Collect, from the same goroutine. When the interfaces cannot be
// read it returns the error, and the bytes taken wait for the next read,
// whose counters cover this tick too.
func (l *LinkedConntrack) Links(time.Time) (model.LinkTick, error) {
	r := l.main
	r.mu.Lock()
	in, out := r.table.TakeCrossed()
	r.mu.Unlock()
	if l.sock != nil {
		si, so := l.sock.ctr.takeCrossed()
		in, out = in+si, out+so
	}
	l.pendIn, l.pendOut = l.pendIn+in, l.pendOut+out
	t, err := l.links.Read()
	if err != nil {
		return model.LinkTick{}, err
	}
	t.AccountedIn, t.AccountedOut = l.pendIn, l.pendOut
	l.pendIn, l.pendOut = 0, 0
	return t, nil
}

// Close closes the interfaces' reader, then the monitor (see
// Conntrack.Close); it blocks until the monitor's goroutines have exited
// and is safe to call more than once.
func (l *LinkedConntrack) Close() error {
	return errors.Join(l.links.Close(), l.Conntrack.Close())
}
