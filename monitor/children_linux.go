package monitor

import (
	"github.com/bwmon/bwmon/monitor/internal/netns"
)

// startOther starts reading the table of namespace p, another namespace
// of the host, for the traffic that never leaves it (namespaces = "all";
// netns.Readers decides which). Its flows that leave the namespace are
// the watched table's: it skips the forwarded ones, and those it found in
// its first dump, which the watched table has been counting. In a
// namespace owned by a user's user namespace it installs nothing unless
// ManageUserNamespaces, and reads only where conntrack runs and counts
// there already.
func (m *Conntrack) startOther(p *netns.Peer, userOwned bool, subscribed func()) (_ *Conntrack, err error) {
	cfg := m.cfg
	cfg.AllNamespaces, cfg.IgnoreForwarded = false, true
	manage := m.manage && (!userOwned || cfg.ManageUserNamespaces)
	label := p.Label()
	c := &Conntrack{name: m.name + "/" + label, log: m.log.With("netns", label), now: m.now,
		cfg: cfg, procs: m.procs, cache: m.cache, manage: manage, child: true, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.ns, err = p.Open(); err != nil {
		return nil, err
	}
	if !manage {
		if on, err := conntrackEngaged(c.ns); err == nil && !on {
			return nil, netns.ErrNotEngaged
		}
		if v, _ := c.ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); userOwned && v != "1" {
			// Its table would count no bytes, while the watched
			// table would leave its flows to it.
			return nil, netns.ErrNoAccounting
		}
	}
	if err := c.startTable(subscribed); err != nil {
		return nil, err
	}
	return c, nil
}
