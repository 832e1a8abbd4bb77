package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/owners"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
)

// tableReader reads one network namespace's conntrack table into a flow
// table: NEW events resolve a flow's owners while their sockets are open
// (events_linux.go), a dump each tick, or a GET of the known flows, reads
// the counters of live flows (dumps_linux.go), and DESTROY events carry
// the final counters of flows that end between ticks. The agent's
// monitor (Conntrack) has one for the namespace it watches and, with
// namespaces = "all", one for each other namespace it reads.
type tableReader struct {
	name   string
	log    *slog.Logger
	now    func() time.Time
	ns     *netns.NS
	kernel *kernelSetup // what it changed in the kernel (nil: nothing)
	res    *owners.Resolver
	// fr is what the flow table asks: res, or, while the socket monitor
	// counts, res behind its claims (claimResolver).
	fr     flows.Resolver
	claims *claims // the socket monitor's (nil without it)
	// quiet: conntrack announces no flow the socket monitor counts
	// (nftct.Quiet); the table is read by GET of the flows it announced,
	// and by full dumps only when events were lost. The tick's goroutine
	// only, after start.
	quiet bool
	// lateLoud: the events were given back to a listener started after
	// the agent (listenedTo); quietGone counts the looks since that found
	// no listener (listenerGone). The tick's goroutine only.
	lateLoud  bool
	quietGone int
	sk        *sockets.Namespace // the namespace's socket lookups
	dump      *ctnetlink.Dumper
	events    *subscription.Reader // conntrack NEW and DESTROY events
	// early looks up, on the event reader's thread, the socket of a
	// connection this namespace opened (see owners.Resolver.NoteEarly).
	early *sockets.Diag

	mu    sync.Mutex // guards table, and the dump planning fields below
	table *flows.Table

	// Full dumps: dumpMu serialises them; the rest is guarded by mu.
	dumpMu    sync.Mutex
	dumpCost  time.Duration // how long the last dump and apply took
	dumpEvery int           // ticks between full dumps (1 while cheap)
	sinceDump int           // ticks since the last full dump
	dumpReq   chan struct{} // wakes dumpLoop for a dump
	dumpDone  chan struct{} // dumpLoop applied a dump (its lookups may go on)
	freeReq   chan struct{} // asks dumpLoop to give memory back (giveBack)
	dumpErr   error
	// Between full dumps a small table is read by GET (see collect):
	// sinceFull counts the ticks since the last full dump, lostAtFull the
	// events lost by then, keys the flows to read (reused).
	sinceFull  int
	lostAtFull uint64
	keys       []ctnetlink.Key
	compacted  int       // table.Compacted() when giveBack last looked
	lastTick   time.Time // the tick's goroutine only

	eventsLost atomic.Uint64
	stop       chan struct{} // closed by Close: stops the goroutines
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// readerOptions say what a tableReader reads and how.
type readerOptions struct {
	name string
	log  *slog.Logger
	now  func() time.Time
	// ns is the namespace to read; the reader closes it, also when it
	// fails to start.
	ns *netns.NS
	// manage lets it switch accounting on and engage conntrack there
	// (setupKernel), undone by Close.
	manage bool
	flows  flows.Options
	procs  *procs.Table
	cache  *sockets.Cache
	// peers and elsewhere, for the watched namespace's reader: where
	// NATed flows' sockets may be, and which addresses another reader
	// counts (owners.Options).
	peers     owners.Peers
	elsewhere func(netip.Addr) bool
	// subscribed, if set, is called once events are subscribed to,
	// before the first dump.
	subscribed func()
	// beforeDump, if set, is called right before the first dump, with
	// the reader (its sockets and resolver ready): the socket monitor
	// claims the ends of the sockets older than the agent there, so that
	// the dump keeps none of their flows.
	beforeDump func(*tableReader)
	// claims, when the socket monitor counts, are the ends it counts:
	// the table leaves their bytes to it; claimOuter, when it counts
	// every namespace's sockets, those behind NAT too.
	claims     *claims
	claimOuter bool
	// quiet, with claims and manage, silences conntrack's events of the
	// flows counted at the socket (kernelSetup.quietOn).
	quiet bool
}

// startReader starts reading the conntrack table of o.ns: kernel settings,
// owners' resolver, event subscription, first dump.
func startReader(o readerOptions) (_ *tableReader, err error) {
	r := &tableReader{name: o.name, log: o.log, now: o.now, ns: o.ns, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err = checkKernel(r.ns); err != nil {
		return nil, err
	}
	if o.manage {
		if r.kernel, err = setupKernel(r.ns, r.log); err != nil {
			return nil, err
		}
	} else if v, _ := r.ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); v != "1" {
		r.log.Warn("conntrack accounting is off and [conntrack] manage = false: flows will show no bytes; run `sysctl -w net.netfilter.nf_conntrack_acct=1`")
	}
	switch {
	case o.claims != nil && o.quiet && r.kernel != nil:
		r.quiet = r.kernel.quietOn()
	case o.claims == nil:
		warnQuietAgents(r.ns, r.log)
	}
	o.flows.BaselineDumps = r.quiet
	ino, err := r.ns.Inode()
	if err != nil {
		return nil, fmt.Errorf("reading the inode of network namespace %q: %w", r.ns.Name(), err)
	}
	r.sk = sockets.NewNamespace(ino, r.ns, eventWorkers+1, o.cache)
	if r.res, err = owners.New(owners.Options{Sockets: r.sk, Addresses: r.ns.Addresses, Procs: o.procs,
		Peers: o.peers, Elsewhere: o.elsewhere, Log: r.log, Now: r.now}); err != nil {
		return nil, err
	}
	r.fr, r.claims = r.res, o.claims
	if o.claims != nil {
		r.fr = claimResolver{Resolver: r.res, claims: o.claims, outer: o.claimOuter}
	}
	r.table = flows.New(o.flows)

	// Subscribe before the first dump, so no flow falls between them.
	r.events = subscription.New(subscription.Options{What: "conntrack events", Log: r.log, Now: r.now})
	src, err := r.openEvents()
	if err != nil {
		return nil, err
	}
	r.events.Set(src)
	if r.early, err = sockets.DialDiag(r.ns.FD()); err != nil {
		return nil, err
	}
	if r.dump, err = ctnetlink.DialDumper(r.ns.FD()); err != nil {
		return nil, err
	}
	r.wg.Add(1 + eventWorkers)
	workers := make([]chan event, eventWorkers)
	for i := range workers {
		workers[i] = make(chan event, eventQueue(r.quiet))
		go r.handle(workers[i])
	}
	go r.receive(workers, r.openEvents)
	if o.subscribed != nil {
		o.subscribed()
	}

	if o.beforeDump != nil {
		o.beforeDump(r)
	}
	if err = r.dumpAndApply(); err != nil {
		return nil, err
	}
	r.dumpEvery = 1
	r.dumpReq = make(chan struct{}, 1)
	r.dumpDone = make(chan struct{}, 1)
	r.freeReq = make(chan struct{}, 1)
	r.wg.Add(1)
	go r.dumpLoop()
	return r, nil
}

// openEvents subscribes to the namespace's conntrack events.
func (r *tableReader) openEvents() (subscription.Source, error) {
	return ctnetlink.OpenEvents(r.ns.FD())
}

// unquiet lets conntrack announce every flow again (the socket monitor's
// map was full: sockets it has no room for are conntrack's to count).
func (r *tableReader) unquiet() {
	if r.quiet {
		r.kernel.quietOff()
		r.quiet = false
	}
}

// listenedTo gives conntrack's events back when another program has
// started listening to them since they were silenced (conntrackd, ulogd,
// `conntrack -E`: they are everybody's events); own returns the agent's
// own sockets. It reports whether it did.
func (r *tableReader) listenedTo(own func() map[uint64]bool) bool {
	if !r.quiet {
		return false
	}
	n, err := conntrackListeners(r.ns, own())
	if err != nil || n == 0 {
		return false
	}
	r.log.Info("another program now listens to conntrack's events (conntrackd, ulogd, conntrack -E): they are on again for every flow of this namespace while it listens; set [socket] quiet_conntrack = false to leave them on always", "netns", r.ns.Name(), "listeners", n)
	r.unquiet()
	r.lateLoud, r.quietGone = true, 0
	return true
}

// goneLooks is how many looks in a row (listenerEvery apart) must find
// no other listener before the events given back to one are silenced
// again: a listener restarting is not taken for gone.
const goneLooks = 2

// listenerGone silences the events again once the listener they were
// given back to (listenedTo) has gone, as they were at start; it reports
// whether it did.
func (r *tableReader) listenerGone(own func() map[uint64]bool) bool {
	if !r.lateLoud {
		return false
	}
	n, err := conntrackListeners(r.ns, own())
	if err != nil || n > 0 {
		r.quietGone = 0
		return false
	}
	if r.quietGone++; r.quietGone < goneLooks {
		return false
	}
	r.lateLoud, r.quietGone = false, 0
	r.quiet = r.kernel.quietOn()
	return r.quiet
}

// stopping reports whether Close has begun.
func (r *tableReader) stopping() bool { return subscription.Stopped(r.stop) }

// collect reads the counters of every live flow and adds what each owner
// moved since the last call to c. It is called from one goroutine.
func (r *tableReader) collect(c *model.MonitorEntryCollection, now time.Time) error {
	if err := r.res.RefreshLocal(); err != nil {
		r.log.Warn("reading local addresses", "err", err)
	}
	var dt time.Duration
	if !r.lastTick.IsZero() {
		dt = now.Sub(r.lastTick)
	}
	r.lastTick = now
	done, err := r.getAndApply()
	if !done {
		if due, wait := r.planDump(dt); due {
			r.requestDump(wait)
		}
	}
	r.mu.Lock()
	r.table.Drain(c, now)
	if err == nil {
		err, r.dumpErr = r.dumpErr, nil
	}
	r.mu.Unlock()
	return err
}

// stats says how many flows the reader holds, how many events it lost
// and how often its event subscription failed.
func (r *tableReader) stats() model.MonitorStats {
	s := model.MonitorStats{EventsLost: r.eventsLost.Load(), ReadErrors: r.events.Failures()}
	r.mu.Lock()
	s.Flows = r.table.Len()
	s.EventsLost += r.table.Lost()
	r.mu.Unlock()
	return s
}

// Close stops the reader, blocks until its goroutines have exited, and
// undoes what it changed in the kernel. It is safe to call more than once.
func (r *tableReader) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		close(r.stop)
		if r.events != nil {
			errs = append(errs, r.events.Close())
		}
		if r.dumpReq != nil {
			close(r.dumpReq)
		}
		r.wg.Wait()
		if r.dump != nil {
			errs = append(errs, r.dump.Close())
		}
		if r.early != nil {
			errs = append(errs, r.early.Close())
		}
		if r.sk != nil {
			errs = append(errs, r.sk.Close())
		}
		if r.kernel != nil {
			r.kernel.undo()
		}
		errs = append(errs, r.ns.Close())
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
