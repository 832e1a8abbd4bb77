package monitor

import (
	"cmp"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
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
//
// Any user can make namespaces (`unshare -rn`), so they are bounded: at
// most max are read at once, those of the initial user namespace first
// (containers, `ip netns add`), then the oldest; the rest are skipped,
// logged once and counted (NamespaceStats), and their flows stay with the
// parent's table as they would without namespaces = "all". A child
// releases all it holds (thread, sockets, nftables table) when its
// namespace goes, when a better-ranked one takes its place, and on close.
// In a namespace owned by another user namespace bwmon is a guest: it
// installs nothing there unless ConntrackConfig.ManageUserNamespaces.
type children struct {
	parent *Conntrack
	max    int

	// syncMu serialises sync (the constructor's and the scanning
	// goroutine's): two at once would both start a new namespace.
	syncMu sync.Mutex

	mu        sync.Mutex // guards the fields below; held while a child is read
	kids      map[uint64]*Conntrack
	failed    map[uint64]bool // namespaces that could not be read; logged once
	owned     map[uint64]bool // whether a namespace is a user's (see netNS.userOwned)
	skipped   int             // namespaces not read at the last sync: beyond max
	capLogged bool            // the cap was logged
	closed    bool            // close was called: start nothing more

	wmu     sync.RWMutex
	watched map[uint64]bool // namespaces whose own table counts their flows
}

func newChildren(parent *Conntrack) *children {
	max := parent.cfg.MaxNamespaces
	if max <= 0 {
		max = model.DefaultLimitNamespaces
	}
	return &children{parent: parent, max: max, kids: map[uint64]*Conntrack{}, failed: map[uint64]bool{},
		owned: map[uint64]bool{}, watched: map[uint64]bool{}}
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
// that went away, within the cap. It runs on the parent's scanning
// goroutine; stop aborts it when the parent closes.
func (k *children) sync(stop <-chan struct{}) {
	k.syncMu.Lock()
	defer k.syncMu.Unlock()
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
	for ino := range k.owned {
		if live[ino] == nil {
			delete(k.owned, ino)
		}
	}
	var unknown []*peerNS
	for ino, p := range live {
		if _, ok := k.owned[ino]; !ok && !k.failed[ino] {
			unknown = append(unknown, p)
		}
	}
	k.mu.Unlock()
	k.stopAll(gone, "stopped reading a network namespace that went away")

	// Who owns the new ones: one open and one ioctl each. A namespace
	// that cannot be opened ranks last; starting it fails and says why.
	owned := make(map[uint64]bool, len(unknown))
	for _, p := range unknown {
		owned[p.ino] = true
		if h, err := netns.GetFromPath(p.path); err == nil {
			if o, err := userOwnedFD(int(h)); err == nil {
				owned[p.ino] = o
			}
			h.Close()
		}
	}

	k.mu.Lock()
	maps.Copy(k.owned, owned)
	var ranked []*peerNS
	for ino, p := range live {
		if !k.failed[ino] {
			ranked = append(ranked, p)
		}
	}
	slices.SortFunc(ranked, func(a, b *peerNS) int {
		return cmp.Or(boolCmp(k.owned[a.ino], k.owned[b.ino]), a.found.Compare(b.found), cmp.Compare(a.ino, b.ino))
	})
	// A namespace ranked beyond the cap gives its place to a better one
	// (a container's, while users' namespaces fill the cap).
	var displaced []*Conntrack
	for i, p := range ranked {
		if c := k.kids[p.ino]; c != nil && i >= k.max {
			displaced = append(displaced, c)
			delete(k.kids, p.ino)
			k.setWatched(p.ino, false)
		}
	}
	k.mu.Unlock()
	k.stopAll(displaced, "stopped reading a network namespace to read a better-ranked one ([limits] namespaces)")

	for _, p := range ranked {
		if subscription.Stopped(stop) {
			return
		}
		k.mu.Lock()
		full, have := len(k.kids) >= k.max, k.kids[p.ino] != nil
		userOwned := k.owned[p.ino]
		k.mu.Unlock()
		if full {
			break
		}
		if have {
			continue
		}
		c, err := k.start(p, userOwned)
		k.mu.Lock()
		switch {
		case err == nil && k.closed:
			k.mu.Unlock()
			c.Close() // close came while it started
			return
		case err == nil:
			k.kids[p.ino] = c
		case errors.Is(err, errNotEngaged) || errors.Is(err, errNoAccounting):
			k.failed[p.ino] = true
			k.parent.log.Debug("not reading the conntrack table of a network namespace", "netns", p.label, "reason", err)
		default:
			k.failed[p.ino] = true
			k.parent.log.Warn("cannot read the conntrack table of a network namespace; its internal traffic is not counted", "netns", p.label, "err", err)
		}
		k.mu.Unlock()
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	k.skipped = 0
	for _, p := range ranked {
		if k.kids[p.ino] == nil && !k.failed[p.ino] {
			k.skipped++
		}
	}
	if k.skipped > 0 && !k.capLogged {
		k.capLogged = true
		k.parent.log.Warn("more network namespaces than [limits] namespaces allows: the rest are not read (their internal traffic is not counted; traffic through the host still is)",
			"limit", k.max, "skipped", k.skipped)
	}
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// stopAll stops reading the namespaces of cs, logging why.
func (k *children) stopAll(cs []*Conntrack, why string) {
	for _, c := range cs {
		c.Close()
		k.parent.log.Debug(why, "netns", c.ns.name)
	}
}

// start reads the table of namespace p. In a namespace owned by a user's
// user namespace, it installs nothing unless ManageUserNamespaces, and
// reads only where conntrack runs and counts there already.
func (k *children) start(p *peerNS, userOwned bool) (_ *Conntrack, err error) {
	m := k.parent
	cfg := m.cfg
	cfg.AllNamespaces, cfg.IgnoreForwarded = false, true
	manage := m.manage && (!userOwned || cfg.ManageUserNamespaces)
	c := &Conntrack{name: m.name + "/" + p.label, log: m.log.With("netns", p.label), now: m.now,
		cfg: cfg, procs: m.procs, cache: m.cache, manage: manage, child: true, stop: make(chan struct{})}
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
		return nil, sockets.ErrGone // the process that led to it exited
	}
	if !manage {
		if on, err := conntrackEngaged(c.ns); err == nil && !on {
			return nil, errNotEngaged
		}
		if v, _ := c.ns.readSysctl("net.netfilter.nf_conntrack_acct"); userOwned && v != "1" {
			// Its table would count no bytes, while the parent's
			// table would leave its flows to it.
			return nil, errNoAccounting
		}
	}
	if err := c.startTable(func() { k.setWatched(p.ino, true) }); err != nil {
		return nil, err
	}
	return c, nil
}

// errNotEngaged is a namespace where no rule makes the kernel track
// connections, which bwmon may not change ([conntrack] manage = false, or a
// user's namespace without manage_user_namespaces).
var errNotEngaged = errorString("no rule engages conntrack there, and bwmon may not add one")

// errNoAccounting is a user's namespace whose conntrack counts no bytes.
var errNoAccounting = errorString("conntrack accounting is off there, and bwmon may not switch it on")

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

// namespaces says how the namespaces fare.
func (k *children) namespaces() NamespaceStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return NamespaceStats{Read: len(k.kids), Skipped: k.skipped, Unread: len(k.failed), Limit: k.max}
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
	k.closed = true
	kids := k.kids
	k.kids = map[uint64]*Conntrack{}
	k.mu.Unlock()
	for ino, c := range kids {
		c.Close()
		k.setWatched(ino, false)
	}
}
