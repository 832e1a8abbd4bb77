package httpapi

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Metric descriptions. Apps are labelled by name, never by PID: a PID is a
// new time series every time a process restarts.
//
// The bytes counters (apps, unattributed, forwarded) count since the
// totals began, bwmon_totals_start_time_seconds: with a state store they
// continue across restarts, so a restart is no counter reset. The agent's
// own counters (events lost, read errors, folds, WebSocket, notifications)
// count since the process started and reset with it, as process_* do.
// There is no per-app rate gauge: rate() over the counter is the rate, at
// whatever resolution the query asks for (see docs/metrics.md).
var (
	descAppBytes = prometheus.NewDesc("bwmon_app_bytes_total",
		"Bytes an app moved since the totals began (bwmon_totals_start_time_seconds; they continue across restarts when the agent keeps state), at the layer its monitor counts (IP layer for conntrack, payload for pipes).",
		[]string{"app", "direction"}, nil)
	descAppClassBytes = prometheus.NewDesc("bwmon_app_class_bytes_total",
		"Bytes an app exchanged with remote ends of a destination class (the [[class]] rules, then local, private, internet) since the totals began (bwmon_totals_start_time_seconds); only for the classes it has bytes in, and only the bytes of monitors that know the remote end (not pipes').",
		[]string{"app", "class", "direction"}, nil)
	descAppProcesses = prometheus.NewDesc("bwmon_app_processes",
		"Processes of an app that moved bytes within the retention time.",
		[]string{"app"}, nil)
	descUnattributed = prometheus.NewDesc("bwmon_unattributed_bytes_total",
		"Bytes seen but not tied to any process, by reason, since the totals began (bwmon_totals_start_time_seconds).",
		[]string{"direction", "reason"}, nil)
	descForwardedBytes = prometheus.NewDesc("bwmon_forwarded_bytes_total",
		"Bytes the host routed between other hosts since the totals began (bwmon_totals_start_time_seconds), seen from the inside hosts (in: what they received). Not labelled by host: a gateway talks to too many.",
		[]string{"direction"}, nil)
	descForwardedPairs = prometheus.NewDesc("bwmon_forwarded_pairs",
		"Pairs of hosts the forwarded section lists, folded ones included; it stops growing at the aggregator's bound.",
		nil, nil)
	descTotalsStart = prometheus.NewDesc("bwmon_totals_start_time_seconds",
		"When the bytes counters began, as a Unix time: the creation of the agent's state store, whose totals continue across restarts, or the agent's start when it keeps no state.",
		nil, nil)
	descLastTick = prometheus.NewDesc("bwmon_last_tick_timestamp_seconds",
		"When the latest tick closed, as a Unix time.", nil, nil)
	descEntries = prometheus.NewDesc("bwmon_entries",
		"Live per-process entries the aggregator keeps.", nil, nil)
	descFlows = prometheus.NewDesc("bwmon_monitor_flows",
		"Flows (or connections, for a pipe) a monitor tracks now.", []string{"monitor"}, nil)
	descProcesses = prometheus.NewDesc("bwmon_monitor_processes",
		"Processes a monitor knows now.", []string{"monitor"}, nil)
	descEventsLost = prometheus.NewDesc("bwmon_monitor_events_lost_total",
		"Kernel conntrack events a monitor lost since the agent started: its netlink socket's receive buffer overflowed, or a flow vanished from the table without its DESTROY event. Each loss is followed by a full read of the table.",
		[]string{"monitor"}, nil)
	descNamespaces = prometheus.NewDesc("bwmon_monitor_namespaces",
		"Other network namespaces a conntrack monitor with namespaces = \"all\" reads now (state=\"read\"), and those it left to its own table at the last look because [limits] namespaces were read already (state=\"skipped\").",
		[]string{"monitor", "state"}, nil)
	descCountMode = prometheus.NewDesc("bwmon_monitor_count_mode",
		"1 for where a conntrack monitor counts the bytes of local sockets: mode=\"socket\" (the kernel's eBPF programs count each socket, conntrack what has no local socket) or mode=\"conntrack\" (conntrack alone: [socket] mode = \"off\", or \"auto\" where the programs cannot load; GET /api/v1/stats says why).",
		[]string{"monitor", "mode"}, nil)
	descSockets = prometheus.NewDesc("bwmon_monitor_sockets",
		"Sockets the socket monitor counts now.",
		[]string{"monitor"}, nil)
	descSocketLosses = prometheus.NewDesc("bwmon_monitor_socket_losses_total",
		"Sockets the kernel's programs could not follow since start: kind=\"map_full\" found the map full (their bytes are left to conntrack), kind=\"ring_lost\" close records the ring buffer could not take (their final counters are read from the map instead), kind=\"late_unchecked\" sockets closed before their peer whose flow was not looked up in conntrack for their last two packets (too many waited).",
		[]string{"monitor", "kind"}, nil)
	descReadErrors = prometheus.NewDesc("bwmon_monitor_read_errors_total",
		"Failures of a monitor's kernel readers other than lost events since the agent started; each reader is restarted after a backoff.",
		[]string{"monitor"}, nil)
	descLimit = prometheus.NewDesc("bwmon_limit",
		"A bound the agent runs with (the [limits] table): apps, top_apps, active_window_seconds, history_apps, day_apps, websocket_clients, namespaces.",
		[]string{"limit"}, nil)
	descFolded = prometheus.NewDesc("bwmon_apps_folded_total",
		"Apps folded into the app \"(other)\" since the agent started, for being beyond [limits] apps.", nil, nil)
	descHistoryApps = prometheus.NewDesc("bwmon_history_apps",
		"Apps whose history the HTTP API keeps.", nil, nil)
	descHistoryEvicted = prometheus.NewDesc("bwmon_history_apps_evicted_total",
		"Apps whose history was dropped since the agent started, idle for a day or to make room for a bigger one.", nil, nil)
	descWSClients = prometheus.NewDesc("bwmon_websocket_clients",
		"WebSocket clients connected to /api/v1/live.", nil, nil)
	descWSDropped = prometheus.NewDesc("bwmon_websocket_dropped_total",
		"WebSocket clients disconnected since the agent started for falling behind: slow (their queue of ticks was full) or write_timeout (a write took more than 10 s).",
		[]string{"reason"}, nil)
	descWSRefused = prometheus.NewDesc("bwmon_websocket_refused_total",
		"WebSocket upgrades refused (503) since the agent started because [limits] websocket_clients were connected.", nil, nil)
	descNotify = prometheus.NewDesc("bwmon_notifications_total",
		"Alert events of the notifier since the agent started, by outcome: fired, resolved, dropped (too many commands running) or failed (a command or webhook failed or timed out).",
		[]string{"outcome"}, nil)
	descIfaceBytes = prometheus.NewDesc("bwmon_interface_bytes_total",
		"IP-layer bytes of a network interface of a watched namespace since the agent started, or the interface appeared (link bytes less the link header its kind counts per packet; see docs/design.md). At most 64 interfaces by name, the rest summed as interface=\"(other)\".",
		[]string{"netns", "interface", "direction"}, nil)
	descIfaceLinkBytes = prometheus.NewDesc("bwmon_interface_link_bytes_total",
		"Bytes of a network interface as the kernel's link statistics count them (headers included), since the agent started, or the interface appeared.",
		[]string{"netns", "interface", "direction"}, nil)
	descIfacePackets = prometheus.NewDesc("bwmon_interface_packets_total",
		"Packets of a network interface since the agent started, or the interface appeared.",
		[]string{"netns", "interface", "direction"}, nil)
	descCoverageIface = prometheus.NewDesc("bwmon_coverage_interface_bytes_total",
		"IP-layer bytes of the interfaces coverage counts (not the loopback, ports of a bridge or bond, nor VLANs over a counted device) since the agent started.",
		[]string{"direction"}, nil)
	descCoverageAccounted = prometheus.NewDesc("bwmon_coverage_accounted_bytes_total",
		"Bytes bwmon accounted for (apps, forwarded, unattributed with a reason) as they crossed the interfaces coverage counts, since the agent started: rate() of this over rate() of bwmon_coverage_interface_bytes_total is coverage over any window.",
		[]string{"direction"}, nil)
	descCoverageRatio = prometheus.NewDesc("bwmon_coverage_ratio",
		"Share of the counted interfaces' IP-layer bytes bwmon accounted for, over the last tick, 15 minutes or 24 hours (window); left out while the interfaces moved nothing in the window. It may pass 1 (docs/design.md).",
		[]string{"direction", "window"}, nil)
	descSkipped = prometheus.NewDesc("bwmon_metrics_skipped_total",
		"Samples /metrics left out since the agent started because their labels could not be served (a duplicate or invalid label value); each name is logged once.",
		nil, nil)
)

// knownReasons are the unattributed reasons exported from the first tick
// on, at 0 until bytes come: a series that appears with its first bytes
// hides them from rate() and increase(), which see only what a series
// gains. A reason the model adds later is exported once it holds bytes.
var knownReasons = model.Reasons

var allDescs = []*prometheus.Desc{
	descAppBytes, descAppClassBytes, descAppProcesses, descUnattributed, descForwardedBytes, descForwardedPairs, descTotalsStart, descLastTick, descEntries,
	descFlows, descProcesses, descEventsLost, descReadErrors, descNamespaces, descCountMode, descSockets, descSocketLosses, descLimit, descFolded, descHistoryApps, descHistoryEvicted,
	descWSClients, descWSDropped, descWSRefused, descNotify, descSkipped,
	descIfaceBytes, descIfaceLinkBytes, descIfacePackets, descCoverageIface, descCoverageAccounted, descCoverageRatio,
}

// collector turns the latest snapshot and the server's own counters into
// metrics at scrape time: nothing is copied into client_golang's state on
// the tick.
type collector struct {
	s    *Server
	skip *skipper
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	e := &emitter{ch: ch, skip: c.skip}
	if t := s.latest.Load(); t != nil {
		collectSnapshot(e, t.snap)
	}
	lim := s.limits()
	for _, l := range []struct {
		name string
		v    float64
	}{
		{"apps", float64(lim.Apps)}, {"top_apps", float64(lim.TopApps)},
		{"active_window_seconds", lim.ActiveWindow.Seconds()}, {"history_apps", float64(lim.HistoryApps)},
		{"day_apps", float64(lim.DayApps)}, {"websocket_clients", float64(lim.WebSocketClients)},
		{"namespaces", float64(lim.Namespaces)},
	} {
		e.emit(descLimit, prometheus.GaugeValue, l.v, l.name)
	}
	tracked, evicted := s.history.Len()
	e.emit(descHistoryApps, prometheus.GaugeValue, float64(tracked))
	e.emit(descHistoryEvicted, prometheus.CounterValue, float64(evicted))
	e.emit(descWSClients, prometheus.GaugeValue, float64(s.hub.count()))
	e.emit(descWSDropped, prometheus.CounterValue, float64(s.hub.droppedSlow.Load()), "slow")
	e.emit(descWSDropped, prometheus.CounterValue, float64(s.hub.droppedTimeout.Load()), "write_timeout")
	e.emit(descWSRefused, prometheus.CounterValue, float64(s.hub.refused.Load()))
	if s.opts.NotifyStats != nil {
		n := s.opts.NotifyStats()
		for _, o := range []struct {
			name string
			v    uint64
		}{{"fired", n.Fired}, {"resolved", n.Resolved}, {"dropped", n.Dropped}, {"failed", n.Failed}} {
			e.emit(descNotify, prometheus.CounterValue, float64(o.v), o.name)
		}
	}
	// Last, so that it counts this scrape's skips too.
	e.emit(descSkipped, prometheus.CounterValue, float64(c.skip.count.Load()))
}

func collectSnapshot(e *emitter, snap *model.Snapshot) {
	// The aggregator hands over clean, unique names; cleaning again costs
	// nothing for a clean name and keeps a scrape from failing on any
	// other, and seen keeps a name that is there twice from failing it.
	seen := make(map[string]bool, len(snap.Apps))
	for _, a := range snap.Apps {
		app := safename.Clean(a.App)
		if seen[app] {
			e.skip.skip(app, "app listed twice", 5)
			continue
		}
		seen[app] = true
		e.emit(descAppBytes, prometheus.CounterValue, float64(a.BytesIn), app, "in")
		e.emit(descAppBytes, prometheus.CounterValue, float64(a.BytesOut), app, "out")
		e.emit(descAppProcesses, prometheus.GaugeValue, float64(max(a.Processes, len(a.PIDs))), app)
		collectClasses(e, app, a.Classes)
	}
	reasons := slices.Clone(knownReasons)
	for r := range snap.Unattributed.Reasons {
		if !slices.Contains(knownReasons, r) {
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	clear(seen)
	for _, r := range reasons {
		sum := snap.Unattributed.Reasons[r]
		reason := safename.Clean(string(r))
		if seen[reason] {
			e.skip.skip(reason, "reason listed twice", 2)
			continue
		}
		seen[reason] = true
		e.emit(descUnattributed, prometheus.CounterValue, float64(sum.BytesIn), "in", reason)
		e.emit(descUnattributed, prometheus.CounterValue, float64(sum.BytesOut), "out", reason)
	}
	f := snap.Forwarded
	e.emit(descForwardedBytes, prometheus.CounterValue, float64(f.BytesIn), "in")
	e.emit(descForwardedBytes, prometheus.CounterValue, float64(f.BytesOut), "out")
	e.emit(descForwardedPairs, prometheus.GaugeValue, float64(len(f.Hosts)))
	if !snap.Since.IsZero() {
		e.emit(descTotalsStart, prometheus.GaugeValue, float64(snap.Since.UnixNano())/1e9)
	}
	collectInterfaces(e, snap)
	e.emit(descLastTick, prometheus.GaugeValue, float64(snap.Time.UnixNano())/1e9)
	e.emit(descEntries, prometheus.GaugeValue, float64(snap.Agent.Entries))
	e.emit(descFolded, prometheus.CounterValue, float64(snap.Agent.FoldedApps))
	names := make([]string, 0, len(snap.Agent.Monitors))
	for name := range snap.Agent.Monitors {
		names = append(names, name)
	}
	slices.Sort(names)
	clear(seen)
	for _, name := range names {
		m := snap.Agent.Monitors[name]
		label := safename.Clean(name)
		if seen[label] {
			e.skip.skip(label, "monitor listed twice", 4)
			continue
		}
		seen[label] = true
		e.emit(descFlows, prometheus.GaugeValue, float64(m.Flows), label)
		e.emit(descProcesses, prometheus.GaugeValue, float64(m.Processes), label)
		e.emit(descEventsLost, prometheus.CounterValue, float64(m.EventsLost), label)
		e.emit(descReadErrors, prometheus.CounterValue, float64(m.ReadErrors), label)
		if m.NamespacesRead+m.NamespacesSkipped > 0 {
			e.emit(descNamespaces, prometheus.GaugeValue, float64(m.NamespacesRead), label, "read")
			e.emit(descNamespaces, prometheus.GaugeValue, float64(m.NamespacesSkipped), label, "skipped")
		}
		if m.CountMode != "" {
			e.emit(descCountMode, prometheus.GaugeValue, 1, label, m.CountMode)
		}
		if m.CountMode == "socket" {
			e.emit(descSockets, prometheus.GaugeValue, float64(m.Sockets), label)
			e.emit(descSocketLosses, prometheus.CounterValue, float64(m.SocketsMapFull), label, "map_full")
			e.emit(descSocketLosses, prometheus.CounterValue, float64(m.SocketsRingLost), label, "ring_lost")
			e.emit(descSocketLosses, prometheus.CounterValue, float64(m.SocketsLateUnchecked), label, "late_unchecked")
		}
	}
}

// collectClasses exports an app's bytes by class, at most
// model.MaxClasses-1 classes.
func collectClasses(e *emitter, app string, classes map[string]model.AppClass) {
	if len(classes) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(classes))
	if len(names) > model.MaxClasses-1 {
		names = names[:model.MaxClasses-1]
	}
	for _, name := range names {
		c := classes[name]
		class := safename.Clean(name)
		e.emit(descAppClassBytes, prometheus.CounterValue, float64(c.BytesIn), app, class, "in")
		e.emit(descAppClassBytes, prometheus.CounterValue, float64(c.BytesOut), app, class, "out")
	}
}

// collectInterfaces exports the interfaces' lines and coverage.
func collectInterfaces(e *emitter, snap *model.Snapshot) {
	seen := make(map[[2]string]bool, len(snap.Interfaces))
	for _, l := range snap.Interfaces {
		k := [2]string{safename.Clean(l.NetNS), safename.Clean(l.Name)}
		if seen[k] {
			e.skip.skip(k[0]+"/"+k[1], "interface listed twice", 6)
			continue
		}
		seen[k] = true
		for _, d := range []struct {
			dir               string
			ip, link, packets uint64
		}{{"in", l.BytesIn, l.LinkBytesIn, l.PacketsIn}, {"out", l.BytesOut, l.LinkBytesOut, l.PacketsOut}} {
			e.emit(descIfaceBytes, prometheus.CounterValue, float64(d.ip), k[0], k[1], d.dir)
			e.emit(descIfaceLinkBytes, prometheus.CounterValue, float64(d.link), k[0], k[1], d.dir)
			e.emit(descIfacePackets, prometheus.CounterValue, float64(d.packets), k[0], k[1], d.dir)
		}
	}
	c := snap.Coverage
	e.emit(descCoverageIface, prometheus.CounterValue, float64(c.Total.InterfaceBytesIn), "in")
	e.emit(descCoverageIface, prometheus.CounterValue, float64(c.Total.InterfaceBytesOut), "out")
	e.emit(descCoverageAccounted, prometheus.CounterValue, float64(c.Total.AccountedBytesIn), "in")
	e.emit(descCoverageAccounted, prometheus.CounterValue, float64(c.Total.AccountedBytesOut), "out")
	for _, w := range []struct {
		name string
		span model.CoverageSpan
	}{{"tick", c.CoverageSpan}, {"15m", c.Last15m}, {"24h", c.Last24h}} {
		if w.span.In != nil {
			e.emit(descCoverageRatio, prometheus.GaugeValue, *w.span.In, "in", w.name)
		}
		if w.span.Out != nil {
			e.emit(descCoverageRatio, prometheus.GaugeValue, *w.span.Out, "out", w.name)
		}
	}
}

// emitter sends metrics to a Collect channel; one that cannot be made is
// left out and counted, never a panic or a failed scrape.
type emitter struct {
	ch   chan<- prometheus.Metric
	skip *skipper
}

func (e *emitter) emit(desc *prometheus.Desc, vt prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, vt, v, labels...)
	if err != nil {
		e.skip.skip(strings.Join(labels, ","), err.Error(), 1)
		return
	}
	e.ch <- m
}

// skipper counts the samples left out and logs each name once, up to
// maxSkipLogged names: a name that cannot be served is there at every
// scrape, and a flood of such names must not become a flood of logs.
type skipper struct {
	log   *slog.Logger
	count atomic.Uint64

	mu     sync.Mutex // guards logged
	logged map[string]bool
}

// maxSkipLogged bounds the names the skipper remembers having logged.
const maxSkipLogged = 64

func newSkipper(logger *slog.Logger) *skipper {
	return &skipper{log: logger, logged: map[string]bool{}}
}

// skip counts n samples left out, and logs why once per labels.
func (k *skipper) skip(labels, why string, n int) {
	k.count.Add(uint64(n))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.logged[labels] || len(k.logged) > maxSkipLogged {
		return
	}
	if len(k.logged) == maxSkipLogged {
		k.logged["\x00more"] = true // never a clean label value
		k.log.Warn("leaving more samples out of /metrics; not logging them any further", "logged", maxSkipLogged)
		return
	}
	k.logged[labels] = true
	k.log.Warn("leaving a sample out of /metrics", "labels", safename.Clean(labels), "reason", why)
}

// newRegistry returns the registry /metrics serves: the snapshot collector,
// the tick duration histogram (observed on each tick), and the Go runtime and
// process collectors.
func newRegistry(s *Server) (*prometheus.Registry, prometheus.Histogram) {
	tick := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "bwmon_tick_duration_seconds",
		Help: "How long a tick took to collect from the monitors and group into apps.",
		// 100 µs to about 6.5 s: a tick near its interval is late.
		Buckets: prometheus.ExponentialBuckets(100e-6, 2, 17),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s: s, skip: s.skip}, tick,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, tick
}

// observeTick records a tick's duration.
func observeTick(h prometheus.Histogram, d time.Duration) {
	if d > 0 {
		h.Observe(d.Seconds())
	}
}
