package monitor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// children are the conntrack tables of the host's other network namespaces,
// read with [conntrack] namespaces = "all" for the traffic that never
// leaves one: a container talking to itself over its loopback, two
// containers on a bridge with no NAT on the host.
//
// A byte is counted once. A flow is counted by the table of the namespace
// where its socket lives: once a namespace's table is read, the parent's
// table skips the flows whose inside end is in it (resolver.elsewhere).
// The flows that were already in a namespace's table when bwmon began to
// read it are left to the parent, which has been counting them, unless
// both their ends are in the namespace (the parent never sees those).
type children struct {
	parent *Conntrack

	mu     sync.Mutex // guards kids and failed; held while a child is read
	kids   map[uint64]*Conntrack
	failed map[uint64]bool // namespaces that could not be read; logged once

	wmu     sync.RWMutex
	watched map[uint64]bool // namespaces whose own table counts their flows
}

func newChildren(parent *Conntrack) *children {
	return &children{parent: parent, kids: map[uint64]*Conntrack{}, failed: map[uint64]bool{}, watched: map[uint64]bool{}}
}

// watches reports whether address a belongs to a namespace whose own table
// counts its flows.
func (k *children) watches(a netip.Addr) bool {
	peers := k.parent.peers.lookup(a)
	if len(peers) == 0 {
		return false
	}
	k.wmu.RLock()
	defer k.wmu.RUnlock()
	for _, p := range peers {
		if k.watched[p.ino] {
			return true
		}
	}
	return false
}

func (k *children) setWatched(ino uint64, on bool) {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	if on {
		k.watched[ino] = true
	} else {
		delete(k.watched, ino)
	}
}

// sync starts reading the namespaces that appeared and stops reading those
// that went away. It runs on the parent's scanning goroutine; stop aborts
// it when the parent closes.
func (k *children) sync(stop <-chan struct{}) {
	live := map[uint64]*peerNS{}
	for _, p := range k.parent.peers.list() {
		live[p.ino] = p
	}
	k.mu.Lock()
	var gone []*Conntrack
	for ino, c := range k.kids {
		if live[ino] == nil {
			gone = append(gone, c)
			delete(k.kids, ino)
			k.setWatched(ino, false)
		}
	}
	for ino := range k.failed {
		if live[ino] == nil {
			delete(k.failed, ino)
		}
	}
	var todo []*peerNS
	for ino, p := range live {
		if k.kids[ino] == nil && !k.failed[ino] {
			todo = append(todo, p)
		}
	}
	k.mu.Unlock()
	for _, c := range gone {
		c.Close()
		k.parent.log.Debug("stopped reading a network namespace that went away", "netns", c.name)
	}
	for _, p := range todo {
		select {
		case <-stop:
			return
		default:
		}
		c, err := k.start(p)
		k.mu.Lock()
		if err != nil {
			k.failed[p.ino] = true
			k.parent.log.Warn("cannot read the conntrack table of a network namespace; its internal traffic is not counted", "netns", p.label, "err", err)
		} else {
			k.kids[p.ino] = c
		}
		k.mu.Unlock()
	}
}

// start reads the table of namespace p.
func (k *children) start(p *peerNS) (_ *Conntrack, err error) {
	m := k.parent
	cfg := m.cfg
	cfg.AllNamespaces, cfg.IgnoreForwarded = false, true
	c := &Conntrack{name: m.name + "/" + p.label, log: m.log.With("netns", p.label), now: m.now,
		cfg: cfg, procs: m.procs, manage: m.manage, child: true, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			k.setWatched(p.ino, false)
			c.Close()
		}
	}()
	if c.ns, err = openNetNS(p.path); err != nil {
		return nil, err
	}
	c.ns.name = p.label
	if ino, err := c.ns.inode(); err != nil || ino != p.ino {
		return nil, errPeerGone // the process that led to it exited
	}
	if !m.manage {
		if on, err := conntrackEngaged(c.ns); err == nil && !on {
			return nil, errNotEngaged
		}
	}
	if err := c.startTable(func() { k.setWatched(p.ino, true) }); err != nil {
		return nil, err
	}
	return c, nil
}

// errNotEngaged is a namespace where no rule makes the kernel track
// connections, with [conntrack] manage = false.
var errNotEngaged = errorString("no rule engages conntrack there and [conntrack] manage = false")

type errorString string

func (e errorString) Error() string { return string(e) }

// collect adds what every child counted to c.
func (k *children) collect(c *model.MonitorEntryCollection, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kid := range k.kids {
		if err := kid.Collect(c, now); err != nil {
			kid.log.Debug("collecting from a network namespace", "err", err)
		}
	}
}

func (k *children) stats() model.MonitorStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	var s model.MonitorStats
	for _, kid := range k.kids {
		ks := kid.Stats()
		s.Flows += ks.Flows
		s.EventsLost += ks.EventsLost
		s.ReadErrors += ks.ReadErrors
	}
	return s
}

// close stops reading every namespace.
func (k *children) close() {
	k.mu.Lock()
	kids := k.kids
	k.kids = map[uint64]*Conntrack{}
	k.mu.Unlock()
	for ino, c := range kids {
		c.Close()
		k.setWatched(ino, false)
	}
}
