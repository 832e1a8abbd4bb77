package monitor

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// Conntrack counts bytes per process from the kernel's conntrack table of
// the namespace it watches (a tableReader), and with
// ConntrackConfig.AllNamespaces from those of the host's other network
// namespaces (one tableReader each). Its readers share the process table,
// the tracker of the other namespaces and the /proc/net tables read.
type Conntrack struct {
	name   string
	log    *slog.Logger
	now    func() time.Time
	cfg    ConntrackConfig
	manage bool // set up the kernel in the watched namespace
	// classes classifies each flow's remote end; nil for no classes.
	classes flows.Classifier

	cache *sockets.Cache // the /proc/net tables every reader's lookups read
	peers *netns.Tracker // the host's other network namespaces
	procs *procs.Table
	// claims are the ends the socket monitor counts (nil without it).
	claims *claims
	// main reads the watched namespace's table; others, with
	// AllNamespaces, the other namespaces' tables (nil without).
	main   *tableReader
	others *netns.Readers[*tableReader]
	// sock, when the kernel's eBPF programs count local sockets, is the
	// socket monitor, collected first in each tick; fallback says why
	// not when [socket] mode = "auto" fell back to conntrack alone.
	sock     *Socket
	fallback string
	// loud: the programs could not follow some socket (no memory for its
	// state), so conntrack's events are not silenced any more
	// (tableReader.unquiet), nor in namespaces read from then on.
	loud atomic.Bool
	// fullSaid: the socket map's filling up was logged (Collect's
	// goroutine only).
	fullSaid bool
	// quiet: whether the watched namespace's conntrack announces no flow
	// of a local process's TCP or UDP socket (nftct.Quiet), over time:
	// until loud, and not while another program started after the agent
	// listens to its events. The tick's goroutine sets it.
	quiet *quietLog
	// listenersAt is when Collect last looked for programs that started
	// listening to conntrack's events (listenerEvery).
	listenersAt time.Time

	stop      chan struct{} // closed by Close: stops scanPeers
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewConntrack starts a conntrack monitor. Its error says what is missing
// and how to fix it when the kernel or the privileges do not allow it.
func NewConntrack(o Options) (_ *Conntrack, err error) {
	if o.Name == "" {
		o.Name = "conntrack"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.openSockets == nil {
		o.openSockets = func() (socketSource, error) { return openSockbpf(o.Config.MaxSockets) }
	}
	// The deferred Close needs m itself: `return nil, err` sets only the
	// result.
	var classes flows.Classifier
	if o.Classes != nil {
		classes = o.Classes
	}
	m := &Conntrack{classes: classes, name: o.Name, log: o.Logger.With("component", "monitor", "monitor", o.Name), now: o.Now, cfg: o.Config,
		cache: sockets.NewCache(o.Now), stop: make(chan struct{})}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()

	ns, err := netns.Open(o.Config.NetNS)
	if err != nil {
		return nil, err
	}
	defer func() {
		if m.main == nil {
			ns.Close() // not handed to the watched namespace's reader
		}
	}()
	self, err := ns.Inode()
	if err != nil {
		return nil, fmt.Errorf("reading the inode of network namespace %q: %w", o.Config.NetNS, err)
	}
	m.peers = netns.NewTracker(netns.Options{ProcRoot: o.ProcRoot, Self: self, Log: m.log, Now: o.Now, Cache: m.cache})
	if m.procs, err = procs.Open(procs.Options{Root: o.ProcRoot, Now: o.Now, Log: m.log, NetNS: m.peers.LabelPID}); err != nil {
		return nil, fmt.Errorf("reading the processes in %s: %w", o.ProcRoot, err)
	}
	if !raisePriority() {
		m.log.Warn("could not raise bwmon's priority: short-lived processes may be missed under load", "nice", Nice)
	}
	src, err := openSockets(o.Config.Socket, o.openSockets)
	if c, ok := src.(interface{ ExeNamesErr() error }); ok && c.ExeNamesErr() != nil {
		m.log.Info("the eBPF programs cannot read the task (bpf_probe_read_kernel_str: a kernel locked down, or one that does not offer it to cgroup programs): a process that exits before bwmon reads it is named by its comm, cut at 15 bytes, and a socket made by a thread named otherwise than its process waits for a lookup of its holder", "err", c.ExeNamesErr())
	}
	var cl *claims
	var cookie uint64
	if err == nil && src != nil {
		// Only the watched namespace's sockets are counted at the
		// socket unless namespaces = "all": those of other namespaces
		// stay conntrack's, as they are with namespaces = "own"
		// (behind NAT). Its cookie also tells which sockets' bytes
		// crossed its interfaces (coverage).
		if cookie, err = netnsCookie(ns); err != nil {
			src.Close()
			src = nil
			err = fmt.Errorf("%w: %w", errSocketScope, err)
			if o.Config.Socket == SocketOn {
				return nil, err
			}
		}
	}
	switch {
	case err != nil && o.Config.Socket != SocketOn:
		m.fallback = err.Error()
		m.log.Warn("counting with conntrack alone, not at the socket: short connections may go unattributed and busy hosts cost more CPU; the reason says how to fix it (see docs/design.md, Counting at the socket), or set [socket] mode = \"off\" to silence this", "reason", err)
	case err != nil:
		return nil, err
	case src != nil:
		cl = newClaims()
	}
	m.manage = o.Manage
	if m.manage && !o.Config.ManageUserNamespaces {
		if owned, err := ns.UserOwned(); err == nil && owned {
			m.manage = false
			m.log.Info("not managing conntrack in a network namespace owned by an ordinary user's user namespace; set [conntrack] manage_user_namespaces = true to", "netns", o.Config.NetNS)
		}
	}
	main := readerOptions{name: m.name, log: m.log, now: m.now, ns: ns, manage: m.manage, procs: m.procs, cache: m.cache, peers: m.peers,
		flows:  flows.Options{Keep: m.cfg.wants, IgnoreLocal: m.cfg.IgnoreLocal, IgnoreForwarded: m.cfg.IgnoreForwarded, Classes: m.classes},
		claims: cl, claimOuter: o.Config.AllNamespaces, quiet: !o.Config.KeepConntrackEvents}
	m.claims = cl
	if o.Config.AllNamespaces {
		limit := o.Config.MaxNamespaces
		if limit <= 0 {
			limit = model.DefaultLimitNamespaces
		}
		m.others = netns.NewReaders(netns.ReadersOptions[*tableReader]{Tracker: m.peers, Max: limit, Start: m.startOther, Log: m.log})
		main.elsewhere = m.others.Watches
	}
	var older olderList
	var olderErr error
	var olderAt time.Time
	if src != nil {
		// The sockets older than the agent, listed and their ends
		// claimed before the first dump: it keeps none of their flows
		// (at 100,000 of them, that was the table's whole size at start).
		main.beforeDump = func(r *tableReader) {
			olderAt = m.now()
			if older, olderErr = listOlderSockets(r.sk.List, m.procs, 0); olderErr == nil {
				cl.hold(older.held, olderAt)
			}
		}
	}
	if m.main, err = startReader(main); err != nil {
		if src != nil {
			src.Close()
		}
		return nil, err
	}
	m.quiet = newQuietLog(m.main.quiet)
	m.listenersAt = m.now()
	if src != nil {
		watched := cookie
		if o.Config.AllNamespaces {
			watched = 0
		}
		// The late sockets' flows (socketlate.go) are looked up on a
		// conntrack socket of their own: the table's is its dumps'.
		var late lateFlows
		if d, err := ctnetlink.DialDumper(ns.FD()); err != nil {
			m.log.Warn("could not open a conntrack socket for the flows of sockets closed before their peer: their last two packets (the peer's FIN and its ACK) go uncounted", "err", err)
		} else {
			late = d
		}
		m.sock = newSocket(socketOptions{name: m.name + "/socket", src: src, procs: m.procs, owners: m.main.res,
			keep: m.cfg.wants, netns: watched, home: cookie, claims: cl, quiet: m.quiet.madeUnder,
			listOlder: m.main.sk.List, ignoreLocal: m.cfg.IgnoreLocal, classes: m.classes, late: late})
		if olderErr != nil {
			m.log.Warn("could not list the sockets older than the agent: each is placed when it first moves bytes, and conntrack looks up its flow's socket meanwhile", "err", olderErr)
		} else {
			m.sock.ctr.takeOlder(older, olderAt)
		}
	}
	m.wg.Add(1)
	go m.scanPeers()
	if m.others != nil {
		m.others.Sync(m.stop)
	}
	m.log.Info("conntrack monitor started", "netns", o.Config.NetNS, "flows", m.Stats().Flows, "processes", m.procs.Count(), "count", m.Stats().CountMode)
	return m, nil
}

// startOther starts reading the table of namespace p, another namespace
// of the host, for the traffic that never leaves it (namespaces = "all";
// netns.Readers decides which). The flows that leave the namespace are
// the watched table's: it skips the forwarded ones, and those it found in
// its first dump, which the watched table has been counting. In a
// namespace owned by a user's user namespace it installs nothing unless
// ManageUserNamespaces, and reads only where conntrack runs and counts
// there already.
func (m *Conntrack) startOther(p *netns.Peer, userOwned bool, subscribed func()) (*tableReader, error) {
	manage := m.manage && (!userOwned || m.cfg.ManageUserNamespaces)
	ns, err := p.Open()
	if err != nil {
		return nil, err
	}
	if !manage {
		if on, err := conntrackEngaged(ns); err == nil && !on {
			ns.Close()
			return nil, netns.ErrNotEngaged
		}
		if v, _ := ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); userOwned && v != "1" {
			// Its table would count no bytes, while the watched
			// table would leave its flows to it.
			ns.Close()
			return nil, netns.ErrNoAccounting
		}
	}
	label := p.Label()
	return startReader(readerOptions{name: m.name + "/" + label, log: m.log.With("netns", label), now: m.now, ns: ns, manage: manage,
		procs: m.procs, cache: m.cache, subscribed: subscribed, claims: m.claims, claimOuter: true, quiet: !m.cfg.KeepConntrackEvents && !m.loud.Load(),
		flows: flows.Options{Keep: m.cfg.wants, IgnoreLocal: m.cfg.IgnoreLocal, IgnoreForwarded: true, LeaveOldOuter: true, Classes: m.classes}})
}

// scanPeers lists the host's network namespaces again every
// netns.ScanEvery, and starts and stops the other namespaces' readers
// accordingly, until Close.
func (m *Conntrack) scanPeers() {
	defer m.wg.Done()
	m.peers.Run(m.stop, func() {
		if m.others != nil {
			m.others.Sync(m.stop)
		}
	})
}

// listenerEvery is how often a monitor that silenced conntrack's events
// looks for a program that started listening to them since (conntrackd
// started after the agent, at boot): that program misses at most this
// long of them. They are silenced again goneLooks looks after it is gone.
const listenerEvery = 10 * time.Second

// Name implements aggregator.Monitor.
func (m *Conntrack) Name() string { return m.name }

// Collect reads the counters of every live flow and adds what each owner
// moved since the last call to c. It is called from one goroutine.
func (m *Conntrack) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	var serr error
	if m.sock != nil {
		// First: the ends it claims this tick are left alone below.
		serr = m.sock.Collect(c, now)
		st := m.sock.src.Stats()
		if st.MapFull > 0 && !m.fullSaid {
			m.fullSaid = true
			m.log.Warn("the socket map is full: the bytes of the sockets it has no slot for are counted by creator and namespace, not by socket; raise [socket] max_sockets", "sockets_map_full", st.MapFull, "max_sockets", cmp.Or(m.cfg.MaxSockets, DefaultMaxSockets))
		}
		if st.NoStorage > 0 && !m.loud.Load() {
			// Sockets the programs could not follow at all (the
			// kernel had no memory for their state) are conntrack's to
			// count: it must announce their flows again.
			m.loud.Store(true)
			m.quiet.set(now, false)
			m.log.Warn("the kernel had no memory for some sockets' state: conntrack's events are on again, for the flows of the sockets the programs miss", "sockets_no_storage", st.NoStorage)
			m.main.unquiet()
			if m.others != nil {
				m.others.Each(func(r *tableReader) { r.unquiet() })
			}
		}
	}
	if m.sock != nil && now.Sub(m.listenersAt) >= listenerEvery {
		m.listenersAt = now
		// The agent's own sockets, read once and only if some namespace
		// is to be looked at.
		var ownInodes map[uint64]bool
		own := func() map[uint64]bool {
			if ownInodes == nil {
				ownInodes = ownSocketInodes()
			}
			return ownInodes
		}
		// Given back to a listener started after the agent while it
		// listens; silenced again once it is gone, unless the programs
		// miss sockets (loud).
		loud := m.loud.Load()
		switch {
		case m.main.listenedTo(own):
			m.quiet.set(now, false)
		case !loud && m.main.listenerGone(own):
			m.quiet.set(now, true)
		}
		if m.others != nil {
			m.others.Each(func(r *tableReader) {
				if !r.listenedTo(own) && !loud {
					r.listenerGone(own)
				}
			})
		}
	}
	err := errors.Join(m.main.collect(c, now), serr)
	if m.others != nil {
		m.others.Each(func(r *tableReader) {
			if err := r.collect(c, now); err != nil {
				r.log.Debug("collecting from a network namespace", "err", err)
			}
		})
	}
	return err
}

// Stats implements aggregator.Monitor.
func (m *Conntrack) Stats() model.MonitorStats {
	s := m.main.stats()
	s.ReadErrors += m.procs.Failures()
	s.Processes = m.procs.Count()
	s.CountMode, s.CountFallback = CountConntrack, m.fallback
	if m.sock != nil {
		ss := m.sock.Stats()
		s.CountMode, s.Sockets, s.SocketsMapFull, s.SocketsRingLost = ss.CountMode, ss.Sockets, ss.SocketsMapFull, ss.SocketsRingLost
		s.SocketsLateUnchecked = ss.SocketsLateUnchecked
	}
	if m.others != nil {
		m.others.Each(func(r *tableReader) {
			o := r.stats()
			s.Flows += o.Flows
			s.EventsLost += o.EventsLost
			s.ReadErrors += o.ReadErrors
		})
		ns := m.others.Counts()
		s.NamespacesRead, s.NamespacesSkipped = ns.Read, ns.Skipped
	}
	return s
}

// Namespaces says how the host's other network namespaces fare with
// Config.AllNamespaces (zero without it).
func (m *Conntrack) Namespaces() NamespaceStats {
	if m.others == nil {
		return NamespaceStats{}
	}
	c := m.others.Counts()
	return NamespaceStats{Read: c.Read, Skipped: c.Skipped, Unread: c.Unread, Limit: c.Limit}
}

// Close stops the monitor, blocks until its goroutines have exited, and
// undoes what it changed in the kernel. It is safe to call more than once.
func (m *Conntrack) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		close(m.stop) // first: no namespace is started meanwhile
		m.wg.Wait()
		if m.others != nil {
			m.others.Close()
		}
		if m.main != nil {
			errs = append(errs, m.main.Close())
		}
		if m.sock != nil {
			errs = append(errs, m.sock.Close())
		}
		if m.procs != nil {
			errs = append(errs, m.procs.Close())
		}
		if m.peers != nil {
			m.peers.Close()
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
