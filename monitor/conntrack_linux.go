package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/owners"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
)

// Options configure a conntrack monitor.
type Options struct {
	// Name identifies the monitor in logs and statistics.
	Name string
	// Config holds the [[monitor]] section's filters.
	Config ConntrackConfig
	// NetNS names the network namespace to watch: "" for the agent's own,
	// a name from `ip netns list`, or a path like /proc/PID/ns/net.
	NetNS string
	// Manage lets the monitor enable conntrack accounting and engage
	// conntrack (see setupKernel); Close removes its table. In a network
	// namespace of an ordinary user's user namespace it does neither,
	// unless Config.ManageUserNamespaces.
	Manage bool
	// ProcRoot is where procfs is mounted (default /proc).
	ProcRoot string
	// Logger receives the monitor's logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Conntrack counts bytes per process from the kernel's conntrack table:
// NEW events resolve a flow's owners while their sockets are open, a dump
// each tick reads the counters of live flows, and DESTROY events carry the
// final counters of flows that end between ticks.
type Conntrack struct {
	name string
	log  *slog.Logger
	now  func() time.Time

	ns     *netns.NS
	peers  *netns.Tracker             // the host's other network namespaces; nil in a child
	kids   *netns.Readers[*Conntrack] // namespaces = "all": the other namespaces' tables
	res0   resolverHooks
	manage bool
	child  bool // reads another namespace's table for a parent; shares its procs
	kernel *kernelSetup
	procs  *procs.Table
	res    *owners.Resolver
	sk     *sockets.Namespace // the watched namespace's socket lookups
	dump   *ctnetlink.Dumper
	events *subscription.Reader // conntrack NEW and DESTROY events
	// early looks up, on the event reader's thread, the socket of a
	// connection this namespace opened (see resolver.noteEarly).
	early *sockets.Diag
	// cache keeps the /proc/net tables every namespace's lookups read.
	cache *sockets.Cache

	cfg   ConntrackConfig
	mu    sync.Mutex // guards table
	table *flows.Table

	// Full dumps: dumpMu serialises them; the rest is guarded by mu.
	dumpMu    sync.Mutex
	dumpCost  time.Duration // how long the last dump and apply took
	dumpEvery int           // ticks between full dumps (1 while cheap)
	sinceDump int           // ticks since the last full dump
	lastTick  time.Time
	dumpReq   chan struct{} // wakes dumpLoop for a dump
	dumpDone  chan struct{} // dumpLoop applied a dump (its lookups may go on)
	dumpErr   error
	// Between full dumps a small table is read by GET (see Collect):
	// sinceFull counts the ticks since the last full dump, lostAtFull the
	// events lost by then, keys the flows to read (reused).
	sinceFull  int
	lostAtFull uint64
	keys       []ctnetlink.Key

	eventsLost atomic.Uint64
	stop       chan struct{} // closed by Close: stops watchNewborns
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
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
	// The deferred Close needs m itself: `return nil, err` sets only the
	// result.
	m := &Conntrack{name: o.Name, log: o.Logger.With("component", "monitor", "monitor", o.Name), now: o.Now, cfg: o.Config,
		cache: sockets.NewCache(o.Now)}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()

	if m.ns, err = netns.Open(o.NetNS); err != nil {
		return nil, err
	}
	self, err := m.ns.Inode()
	if err != nil {
		return nil, fmt.Errorf("reading the inode of network namespace %q: %w", o.NetNS, err)
	}
	m.peers = netns.NewTracker(netns.Options{ProcRoot: o.ProcRoot, Self: self, Log: m.log, Now: o.Now, Cache: m.cache})
	if m.procs, err = procs.Open(procs.Options{Root: o.ProcRoot, Now: o.Now, Log: m.log, NetNS: m.peers.LabelPID}); err != nil {
		return nil, fmt.Errorf("reading the processes in %s: %w", o.ProcRoot, err)
	}
	m.stop = make(chan struct{})
	if !raisePriority() {
		m.log.Warn("could not raise bwmon's priority: short-lived processes may be missed under load", "nice", Nice)
	}
	m.manage = o.Manage
	if m.manage && !o.Config.ManageUserNamespaces {
		if owned, err := m.ns.UserOwned(); err == nil && owned {
			m.manage = false
			m.log.Info("not managing conntrack in a network namespace owned by an ordinary user's user namespace; set [conntrack] manage_user_namespaces = true to", "netns", o.NetNS)
		}
	}
	if o.Config.AllNamespaces {
		limit := o.Config.MaxNamespaces
		if limit <= 0 {
			limit = model.DefaultLimitNamespaces
		}
		m.kids = netns.NewReaders(netns.ReadersOptions[*Conntrack]{Tracker: m.peers, Max: limit, Start: m.startOther, Log: m.log})
		m.res0 = resolverHooks{peers: m.peers, elsewhere: m.kids.Watches}
	} else {
		m.res0 = resolverHooks{peers: m.peers}
	}
	if err = m.startTable(nil); err != nil {
		return nil, err
	}
	m.wg.Add(1)
	go m.scanPeers()
	if m.kids != nil {
		m.kids.Sync(m.stop)
	}
	m.log.Info("conntrack monitor started", "netns", o.NetNS, "flows", m.Stats().Flows, "processes", m.procs.Count())
	return m, nil
}

// resolverHooks are what a table's resolver knows of other namespaces.
type resolverHooks struct {
	peers     owners.Peers
	elsewhere func(netip.Addr) bool
}

// startTable starts reading the conntrack table of m.ns: kernel settings,
// owners' resolver, event subscription, first dump. subscribed, if set, is
// called once events are subscribed to, before the first dump.
func (m *Conntrack) startTable(subscribed func()) (err error) {
	if err = checkKernel(m.ns); err != nil {
		return err
	}
	if m.manage {
		if m.kernel, err = setupKernel(m.ns, m.log); err != nil {
			return err
		}
	} else if v, _ := m.ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); v != "1" {
		m.log.Warn("conntrack accounting is off and [conntrack] manage = false: flows will show no bytes; run `sysctl -w net.netfilter.nf_conntrack_acct=1`")
	}
	ino, err := m.ns.Inode()
	if err != nil {
		return fmt.Errorf("reading the inode of network namespace %q: %w", m.ns.Name(), err)
	}
	m.sk = sockets.NewNamespace(ino, m.ns, eventWorkers+1, m.cache)
	if m.res, err = owners.New(owners.Options{Sockets: m.sk, Addresses: m.ns.Addresses, Procs: m.procs,
		Peers: m.res0.peers, Elsewhere: m.res0.elsewhere, Log: m.log, Now: m.now}); err != nil {
		return err
	}
	m.table = flows.New(flows.Options{Keep: m.cfg.wants, IgnoreLocal: m.cfg.IgnoreLocal, IgnoreForwarded: m.cfg.IgnoreForwarded, LeaveOldOuter: m.child})

	// Subscribe before the first dump, so no flow falls between them.
	m.events = subscription.New(subscription.Options{What: "conntrack events", Log: m.log, Now: m.now})
	src, err := m.openEvents()
	if err != nil {
		return err
	}
	m.events.Set(src)
	if m.early, err = sockets.DialDiag(m.ns.FD()); err != nil {
		return err
	}
	if m.dump, err = ctnetlink.DialDumper(m.ns.FD()); err != nil {
		return err
	}
	m.wg.Add(1 + eventWorkers)
	workers := make([]chan event, eventWorkers)
	for i := range workers {
		workers[i] = make(chan event, 4096)
		go m.handle(workers[i])
	}
	go m.receive(workers, m.openEvents)
	if subscribed != nil {
		subscribed()
	}

	if err = m.dumpAndApply(); err != nil {
		return err
	}
	m.dumpEvery = 1
	m.dumpReq = make(chan struct{}, 1)
	m.dumpDone = make(chan struct{}, 1)
	m.wg.Add(1)
	go m.dumpLoop()
	return nil
}

// openEvents subscribes to the watched namespace's conntrack events.
func (m *Conntrack) openEvents() (subscription.Source, error) {
	return ctnetlink.OpenEvents(m.ns.FD())
}

// receive reads events until the monitor closes and hands each to a
// worker chosen by its flow, so the events of one flow stay in order; then
// it closes the workers' channels. A reader that fails is opened again
// with open after a pause (subscription.Reader); the events missed meanwhile
// make the next tick read the whole table (see gaps).
func (m *Conntrack) receive(workers []chan event, open func() (subscription.Source, error)) {
	defer m.wg.Done()
	// The reader's blocking reads keep their thread (see eventReader),
	// named for `top -H`. It is never unlocked: the runtime then ends the
	// thread with the goroutine, where an unlocked one would stay in its
	// pool, idle, for good (one per namespace read at once with
	// namespaces = "all"). The main thread never ends, and its name is
	// the process's: there the reader leaves both alone.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		defer runtime.UnlockOSThread()
	} else {
		_ = os.WriteFile("/proc/thread-self/comm", []byte(eventThread), 0)
	}
	defer func() {
		for _, w := range workers {
			close(w)
		}
	}()
	m.events.Run(m.stop, open, func(msgs []netlink.Message) { m.dispatch(msgs, workers) }, func(err error) {
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped events: DESTROYs among them lose
			// the bytes since the last dump; the next dumps tidy
			// the table up.
			m.eventsLost.Add(1)
			m.log.Warn("conntrack events lost (receive buffer overflow)")
		}
	})
}

// eventThread names the threads that read conntrack events.
const eventThread = "bwmon-ctevents"

// gaps counts the times events were missed: lost by the kernel, or while
// the reader was reopened after a failure. A change makes the next tick
// read the whole table.
func (m *Conntrack) gaps() uint64 {
	return m.eventsLost.Load() + m.events.Failures()
}

// dispatch hands the NEW and DESTROY events among msgs to the workers.
func (m *Conntrack) dispatch(msgs []netlink.Message, workers []chan event) {
	for _, msg := range msgs {
		rec, destroy, ok := ctnetlink.DecodeEvent(msg)
		if !ok {
			continue
		}
		k := ctnetlink.KeyOf(&rec)
		w := workers[k.Hash()%uint32(len(workers))]
		if o := &rec.Orig; !destroy && rec.Proto == unix.IPPROTO_TCP && m.res.IsLocal(o.Src) {
			known := m.res.NoteEarly(m.early, netip.AddrPortFrom(o.Src, o.SPort), netip.AddrPortFrom(o.Dst, o.DPort))
			if known && !m.res.IsLocal(rec.Reply.Src) {
				// Settled here (see newInline), or prepared for a worker.
				if e, done := m.newInline(&rec); !done {
					w <- e
				}
				continue
			}
		}
		w <- event{destroy: destroy, rec: rec}
	}
}

// newInline settles, on the reader's thread, a new outgoing connection
// whose owner noteEarly knows already: that costs a map lookup, less than
// waking a worker for it (under connection churn those wake-ups were the
// larger part of bwmon's CPU). When a tick or a dump holds the table it
// returns the flow prepared, for a worker to insert: the reader must not
// wait.
func (m *Conntrack) newInline(rec *ctnetlink.Rec) (event, bool) {
	p := m.table.PrepareNew(rec, m.res)
	if !m.mu.TryLock() {
		return event{rec: *rec, p: &p}, false
	}
	m.table.InsertNew(&p)
	m.mu.Unlock()
	return event{}, true
}

// eventWorkers is how many goroutines resolve the owners of new flows in
// parallel: one slow lookup must not hold up the next process's, which may
// live only a few milliseconds.
const eventWorkers = 4

// event is a conntrack NEW or DESTROY event; p, when set, is a NEW
// event's flow made already (newInline).
type event struct {
	destroy bool
	rec     ctnetlink.Rec
	p       *flows.Prepared
}

// handle applies one worker's events: owners are resolved before the
// table's lock is taken.
func (m *Conntrack) handle(evs <-chan event) {
	defer m.wg.Done()
	for ev := range evs {
		if ev.destroy {
			m.mu.Lock()
			m.table.OnDestroy(&ev.rec, m.res)
			m.mu.Unlock()
			continue
		}
		p := ev.p
		if p == nil {
			np := m.table.PrepareNew(&ev.rec, m.res)
			p = &np
		}
		m.mu.Lock()
		m.table.InsertNew(p)
		m.mu.Unlock()
	}
}

// dumpAndApply reads the whole table and applies it, then looks up the
// owners the dump left to find.
func (m *Conntrack) dumpAndApply() error {
	m.dumpMu.Lock()
	defer m.dumpMu.Unlock()
	if err := m.dumpLocked(); err != nil {
		return err
	}
	m.table.ResolvePending(m.res, &m.mu, m.stopping)
	return nil
}

// dumpLocked reads the whole table into the flow table, with dumpMu held;
// a large dump leaves the owners to look up to the table's
// ResolvePending.
func (m *Conntrack) dumpLocked() error {
	start := time.Now()
	m.mu.Lock()
	m.table.BeginDump()
	m.mu.Unlock()
	n := 0
	err := m.dump.DumpEach(func(batch []ctnetlink.Rec) {
		n += len(batch)
		m.mu.Lock()
		m.table.DumpBatch(batch, m.res)
		m.mu.Unlock()
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.table.EndDump(m.res, n > deferAbove)
	m.dumpCost = time.Since(start)
	m.sinceFull, m.lostAtFull = 0, m.gaps()
	return nil
}

// deferAbove is the dump size above which unresolved flows are resolved
// outside the table's lock (flows.Table.ResolvePending).
const deferAbove = 256

const (
	// getMax is the number of flows up to which a tick reads counters by
	// GET rather than by a full dump. A dump walks every bucket of the
	// kernel's conntrack hash, which all network namespaces share (some
	// milliseconds even for a handful of flows); a GET is one lookup.
	getMax = 5000
	// fullEvery is how many ticks of GETs pass between two full dumps,
	// which find flows whose NEW event was lost and drop vanished ones.
	fullEvery = 30
)

// getAndApply reads the counters of the known flows by GET, when the table
// is small and a full dump happened recently; it reports whether it did.
func (m *Conntrack) getAndApply() (bool, error) {
	m.mu.Lock()
	m.sinceFull++
	ok := m.table.Len() <= getMax && m.sinceFull < fullEvery && m.gaps() == m.lostAtFull
	if ok {
		m.keys = m.table.Keys(m.keys[:0])
	}
	m.mu.Unlock()
	if !ok {
		return false, nil
	}
	if !m.dumpMu.TryLock() {
		return true, nil // a dump or its lookups under way: read next tick
	}
	defer m.dumpMu.Unlock()
	recs, err := m.dump.Get(m.keys)
	if err != nil {
		// Answers lost (the socket's buffer overflowed): read the table
		// by a full dump instead, so that no tick goes uncounted.
		m.log.Debug("reading flows by GET; dumping instead", "err", err)
		m.dumpMu.Unlock()
		err = m.dumpAndApply()
		m.dumpMu.Lock()
		return true, err
	}
	m.mu.Lock()
	m.table.ApplyCounters(recs, m.res)
	m.mu.Unlock()
	return true, nil
}

const (
	// dumpBudget is the share of one core full dumps may take: beyond it
	// they are spread over several ticks.
	dumpBudget = 0.05
	// maxDumpEvery bounds the ticks between two full dumps.
	maxDumpEvery = 10
	// syncDump is the dump cost up to which a tick waits for its dump,
	// and the longest it waits.
	syncDump = 50 * time.Millisecond
)

// dumpLoop runs the full dumps the ticks ask for (requestDump). It signals
// dumpDone once a dump is applied, before looking up the owners it left to
// find, which a tick does not wait for.
func (m *Conntrack) dumpLoop() {
	defer m.wg.Done()
	for range m.dumpReq {
		m.dumpMu.Lock()
		err := m.dumpLocked()
		if err != nil {
			m.mu.Lock()
			m.dumpErr = err
			m.mu.Unlock()
		}
		select {
		case m.dumpDone <- struct{}{}:
		default:
		}
		m.table.ResolvePending(m.res, &m.mu, m.stopping)
		m.dumpMu.Unlock()
	}
}

// requestDump asks dumpLoop for a full dump. With wait, the tick waits for
// it to be applied, for syncDump at most: a read that turns out slow (a
// busy machine, a table grown since) books its bytes with the next tick
// rather than hold this one.
func (m *Conntrack) requestDump(wait bool) {
	select {
	case <-m.dumpDone: // a dump no tick waited for
	default:
	}
	select {
	case m.dumpReq <- struct{}{}:
	default:
		return // the previous one is still running
	}
	if !wait {
		return
	}
	t := time.NewTimer(syncDump)
	defer t.Stop()
	select {
	case <-m.dumpDone:
	case <-t.C:
	}
}

// planDump decides, at a tick of length dt, whether this tick dumps and
// whether it waits for the dump. A table that is cheap to read is read
// every tick, and the tick waits (up to syncDump), so rates are exact per
// tick. One that is not (some 25,000 flows and more here) is read every
// dumpEvery ticks, chosen to keep dumps within dumpBudget of a core, and
// the tick does not wait: bytes of live flows then arrive in steps of
// dumpEvery ticks, while flows that end still deliver their final bytes
// through DESTROY events.
func (m *Conntrack) planDump(dt time.Duration) (due, wait bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if dt > 0 {
		need := int(float64(m.dumpCost)/(dumpBudget*float64(dt))) + 1
		m.dumpEvery = min(max(need, 1), maxDumpEvery)
	}
	m.sinceDump++
	if m.sinceDump < m.dumpEvery {
		return false, false
	}
	m.sinceDump = 0
	return true, m.dumpCost <= syncDump
}

// scanPeers lists the host's network namespaces again every
// netns.ScanEvery, and starts and stops the other namespaces' readers
// accordingly, until Close.
func (m *Conntrack) scanPeers() {
	defer m.wg.Done()
	m.peers.Run(m.stop, func() {
		if m.kids != nil {
			m.kids.Sync(m.stop)
		}
	})
}

// stopping reports whether Close has begun.
func (m *Conntrack) stopping() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// Name implements aggregator.Monitor.
func (m *Conntrack) Name() string { return m.name }

// Collect reads the counters of every live flow and adds what each owner
// moved since the last call to c.
func (m *Conntrack) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	if err := m.res.RefreshLocal(); err != nil {
		m.log.Warn("reading local addresses", "err", err)
	}
	var dt time.Duration
	if !m.lastTick.IsZero() {
		dt = now.Sub(m.lastTick)
	}
	m.lastTick = now
	done, err := m.getAndApply()
	if !done {
		if due, wait := m.planDump(dt); due {
			m.requestDump(wait)
		}
	}
	m.mu.Lock()
	m.table.Drain(c, now)
	if err == nil {
		err, m.dumpErr = m.dumpErr, nil
	}
	m.mu.Unlock()
	if m.kids != nil {
		m.kids.Each(func(kid *Conntrack) {
			if err := kid.Collect(c, now); err != nil {
				kid.log.Debug("collecting from a network namespace", "err", err)
			}
		})
	}
	return err
}

// Stats implements aggregator.Monitor.
func (m *Conntrack) Stats() model.MonitorStats {
	s := model.MonitorStats{EventsLost: m.eventsLost.Load()}
	if m.events != nil {
		s.ReadErrors = m.events.Failures()
	}
	if m.procs != nil && !m.child {
		s.ReadErrors += m.procs.Failures()
		s.Processes = m.procs.Count()
	}
	if m.table != nil {
		m.mu.Lock()
		s.Flows = m.table.Len()
		s.EventsLost += m.table.Lost()
		m.mu.Unlock()
	}
	if m.kids != nil {
		m.kids.Each(func(kid *Conntrack) {
			k := kid.Stats()
			s.Flows += k.Flows
			s.EventsLost += k.EventsLost
			s.ReadErrors += k.ReadErrors
		})
		ns := m.kids.Counts()
		s.NamespacesRead, s.NamespacesSkipped = ns.Read, ns.Skipped
	}
	return s
}

// Namespaces says how the host's other network namespaces fare with
// Config.AllNamespaces (zero without it).
func (m *Conntrack) Namespaces() NamespaceStats {
	if m.kids == nil {
		return NamespaceStats{}
	}
	c := m.kids.Counts()
	return NamespaceStats{Read: c.Read, Skipped: c.Skipped, Unread: c.Unread, Limit: c.Limit}
}

// Close stops the monitor, blocks until its goroutines have exited, and
// undoes what it changed in the kernel. It is safe to call more than once.
func (m *Conntrack) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.stop != nil {
			close(m.stop) // first: no namespace is started meanwhile
		}
		if m.kids != nil {
			m.kids.Close()
		}
		if m.events != nil {
			errs = append(errs, m.events.Close())
		}
		if m.dumpReq != nil {
			close(m.dumpReq)
		}
		m.wg.Wait()
		if m.procs != nil && !m.child {
			errs = append(errs, m.procs.Close())
		}
		if m.dump != nil {
			errs = append(errs, m.dump.Close())
		}
		if m.early != nil {
			errs = append(errs, m.early.Close())
		}
		if m.sk != nil {
			errs = append(errs, m.sk.Close())
		}
		if m.peers != nil {
			m.peers.Close()
		}
		if m.kernel != nil {
			m.kernel.undo()
		}
		if m.ns != nil {
			errs = append(errs, m.ns.Close())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
