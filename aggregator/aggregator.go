package aggregator

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Config is what the aggregator needs from the configuration file.
type Config struct {
	// Interval is the tick length (default 1s).
	Interval time.Duration
	// Grouper turns processes into apps.
	Grouper Grouper
	// Retention is how long an idle process entry is kept (default
	// model.DefaultRetention); its bytes stay in its app's totals.
	Retention time.Duration
	// ForwardedPairs bounds the pairs of hosts the forwarded section lists
	// one by one (default DefaultForwardedPairs); see Snapshot.Forwarded.
	ForwardedPairs int
	// Limits bound the apps listed by name (Apps, TopApps, ActiveWindow;
	// zero fields take model's defaults, and TopApps is at most Apps); the
	// rest are folded into model.OtherApp as the package doc says. The
	// effective limits are reported in each Snapshot's AgentStats.
	Limits model.Limits
	// ClassNames names the destination classes by index
	// (internal/classify's Table.Names): an app's line lists its bytes of
	// each named class (AppUsage.Classes). Bytes of an index without a
	// name, or of model.ClassNone, are in the app's totals only.
	ClassNames []string
}

// Aggregator groups the monitors' entries into apps once per interval.
type Aggregator struct {
	log *slog.Logger
	// clock measures the tick's own duration; tests replace it.
	clock func() time.Time

	mu        sync.Mutex // guards everything below against Reconfigure
	cfg       Config
	monitors  []Monitor
	consumers []Consumer
	entries   *model.MonitorEntryCollection
	apps      map[string]*appState // the apps listed by name
	other     otherState           // the apps folded (fold.go)
	folded    uint64               // apps folded since start
	order     []*appState          // foldLocked's buffer
	unattr    map[model.Reason]*model.UnattributedSum
	fwd       *forwarded
	groups    map[model.Key]string    // app of each live entry, "" for unattributed
	tickBytes map[model.Key][2]uint64 // in and out of each entry in the last tick (processes.go)
	lastDT    float64                 // the last tick's length in seconds
	last      time.Time               // end of the previous tick
	since     time.Time               // what the totals count from (Snapshot.Since)
	ifs       *interfaces             // the link monitors' interfaces (interfaces.go)
	cov       *coverage               // coverage over time (coverage.go)
	linkErr   map[string]bool         // link monitors whose last read failed (logged once)

	durMu sync.Mutex
	durs  []time.Duration // the last tickHistory tick durations, a ring
	durN  int
}

// tickHistory is how many tick durations TickDurations keeps.
const tickHistory = 4096

// New returns an aggregator over monitors that hands each Snapshot to
// consumers. The start of the first tick is start.
func New(cfg Config, monitors []Monitor, consumers []Consumer, logger *slog.Logger, start time.Time) *Aggregator {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Aggregator{
		log:       logger.With("component", "aggregator"),
		clock:     time.Now,
		cfg:       cfg,
		monitors:  monitors,
		consumers: consumers,
		entries:   model.NewMonitorEntryCollection(cfg.Retention),
		apps:      make(map[string]*appState),
		unattr:    make(map[model.Reason]*model.UnattributedSum),
		fwd:       newForwarded(cfg.ForwardedPairs),
		groups:    make(map[model.Key]string),
		tickBytes: make(map[model.Key][2]uint64),
		last:      start,
		since:     start,
		ifs:       newInterfaces(),
		cov:       newCoverage(start),
		linkErr:   make(map[string]bool),
	}
}

// Run ticks every interval until ctx is done. It does not close the
// monitors: whoever made them does.
func (a *Aggregator) Run(ctx context.Context) error {
	cur := a.interval()
	t := time.NewTicker(cur)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			a.Tick(now)
			if iv := a.interval(); iv != cur {
				cur = iv
				t.Reset(cur)
			}
		}
	}
}

func (a *Aggregator) interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.Interval
}

// Reconfigure replaces the configuration, the monitors and the consumers,
// keeping every app's totals, unless what processes are grouped by
// (Grouper.By) changes: the app totals (OtherApp's too) then start afresh,
// since groups of two kinds cannot be compared. When the class names
// change, the apps' splits by class start afresh (their totals are kept). The forwarded section is
// kept either way. New Limits apply from the next tick. Monitors that are
// not in the new list are not closed here: the caller owns them.
func (a *Aggregator) Reconfigure(cfg Config, monitors []Monitor, consumers []Consumer) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cfg.Grouper.by() != a.cfg.Grouper.by() {
		clear(a.apps)
		a.other = otherState{}
	}
	if !slices.Equal(cfg.ClassNames, a.cfg.ClassNames) {
		a.resetClasses()
	}
	a.fwd.setBound(cfg.ForwardedPairs)
	a.cfg = cfg
	a.monitors = monitors
	a.consumers = consumers
	clear(a.groups)
}

// Tick collects from every monitor, groups, and hands the Snapshot closed at
// now to the consumers, which it also returns. Rates use now minus the
// previous tick's time, so pass times carrying a monotonic reading.
func (a *Aggregator) Tick(now time.Time) *model.Snapshot {
	begin := a.clock()
	a.mu.Lock()
	s := a.tickLocked(now)
	consumers := a.consumers
	a.mu.Unlock()
	s.Agent.TickDuration = a.clock().Sub(begin)
	a.durMu.Lock()
	if len(a.durs) < tickHistory {
		a.durs = append(a.durs, s.Agent.TickDuration)
	} else {
		a.durs[a.durN%tickHistory] = s.Agent.TickDuration
	}
	a.durN++
	a.durMu.Unlock()
	for _, c := range consumers {
		c.Consume(s)
	}
	return s
}

func (a *Aggregator) tickLocked(now time.Time) *model.Snapshot {
	stats := make(map[string]model.MonitorStats, len(a.monitors))
	for _, m := range a.monitors {
		if err := m.Collect(a.entries, now); err != nil {
			a.log.Warn("collecting from monitor", "monitor", m.Name(), "err", err)
		}
		if lm, ok := m.(LinkMonitor); ok {
			a.readLinks(lm, now)
		}
		stats[m.Name()] = m.Stats()
	}

	dt := now.Sub(a.last).Seconds()
	if dt <= 0 {
		dt = a.cfg.Interval.Seconds()
	}
	a.last = now
	a.lastDT = dt
	clear(a.tickBytes)

	var uIn, uOut uint64
	nClasses := min(len(a.cfg.ClassNames), model.MaxClasses)
	for _, u := range a.entries.Usage(now) {
		if p := u.Entry.Info.Forwarded; p != nil {
			a.fwd.add(*p, u.In, u.Out)
			continue
		}
		app, ok := a.group(u.Entry)
		if !ok {
			r := u.Entry.Info.Unattributed
			if r == "" {
				r = model.ReasonNoProcess
			}
			sum := a.unattr[r]
			if sum == nil {
				sum = &model.UnattributedSum{}
				a.unattr[r] = sum
			}
			sum.BytesIn += u.In
			sum.BytesOut += u.Out
			uIn += u.In
			uOut += u.Out
			continue
		}
		st := a.apps[app]
		if st == nil {
			st = &appState{name: app}
			a.apps[app] = st
		}
		st.in += u.In
		st.out += u.Out
		st.tickIn += u.In
		st.tickOut += u.Out
		st.addClasses(u.Classes, nClasses)
		st.active = now
		if u.Entry.Info.Process != nil {
			a.tickBytes[u.Entry.Key] = [2]uint64{u.In, u.Out}
		}
	}
	lim := a.limits()
	a.foldLocked(now, lim)

	// Where the listed apps' processes run; folded apps are not looked at.
	live := a.entries.Entries()
	keep := make(map[model.Key]string, len(live))
	for _, e := range live {
		if e.Info.Forwarded != nil {
			continue // no app: the Grouper never sees it
		}
		app, ok := a.group(e)
		keep[e.Key] = app // "" when unattributed
		if !ok || e.Info.Process == nil {
			continue
		}
		if st := a.apps[app]; st != nil {
			st.pids = append(st.pids, e.Info.Process.PID)
			if st.where == nil {
				st.where = newWhere()
			}
			st.where.add(e.Info.Process)
		}
	}
	a.groups = keep // drops the groups of expired entries

	s := &model.Snapshot{
		Time:      now,
		Since:     a.since,
		IntervalS: dt,
		Apps:      a.lines(dt, a.cfg.ClassNames),
		Unattributed: model.Unattributed{
			RateIn:  float64(uIn) / dt,
			RateOut: float64(uOut) / dt,
			Reasons: make(map[model.Reason]model.UnattributedSum, len(a.unattr)),
		},
		Forwarded: a.fwd.snapshot(dt),
		Coverage:  a.cov.add(now, dt, a.ifs.sums()),
		Agent: model.AgentStats{Entries: a.entries.Len(), Monitors: stats,
			Limits: lim, FoldedApps: a.folded},
	}
	s.Interfaces = a.ifs.lines(now, dt, a.retention())
	for r, sum := range a.unattr {
		s.Unattributed.Reasons[r] = *sum
		s.Unattributed.BytesIn += sum.BytesIn
		s.Unattributed.BytesOut += sum.BytesOut
	}
	return s
}

// readLinks takes a link monitor's read of its namespace's interfaces; a
// failure is logged once, until a read works again.
func (a *Aggregator) readLinks(m LinkMonitor, now time.Time) {
	lt, err := m.Links(now)
	switch {
	case err != nil && !a.linkErr[m.Name()]:
		a.linkErr[m.Name()] = true
		a.log.Warn("reading the network interfaces: no interface figures nor coverage for its namespace until it works again", "monitor", m.Name(), "err", err)
	case err == nil && a.linkErr[m.Name()]:
		delete(a.linkErr, m.Name())
		a.log.Info("reading the network interfaces works again", "monitor", m.Name())
	}
	if err == nil {
		a.ifs.add(&lt, now)
	}
}

// retention is how long an idle process entry, or the interfaces of a
// namespace nobody reads any more, are kept.
func (a *Aggregator) retention() time.Duration {
	if a.cfg.Retention > 0 {
		return a.cfg.Retention
	}
	return model.DefaultRetention
}

// group returns the app of an entry, remembering it while the entry lives.
func (a *Aggregator) group(e *model.MonitorEntry) (string, bool) {
	if app, ok := a.groups[e.Key]; ok {
		return app, app != ""
	}
	app, ok := a.cfg.Grouper.App(e.Info)
	if !ok {
		app = ""
	}
	a.groups[e.Key] = app
	return app, ok
}

// TickDurations returns the durations of the last ticks (up to 4096),
// sorted ascending, for percentiles.
func (a *Aggregator) TickDurations() []time.Duration {
	a.durMu.Lock()
	out := slices.Clone(a.durs)
	a.durMu.Unlock()
	slices.Sort(out)
	return out
}
