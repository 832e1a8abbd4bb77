package httpapi

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bwmon/bwmon/model"
)

// Metric descriptions. Apps are labelled by name, never by PID: a PID is a
// new time series every time a process restarts.
var (
	descAppBytes = prometheus.NewDesc("bwmon_app_bytes_total",
		"Bytes an app moved since the agent started, at the layer its monitor counts (IP layer for conntrack, payload for pipes).",
		[]string{"app", "direction"}, nil)
	descAppRate = prometheus.NewDesc("bwmon_app_rate_bytes",
		"An app's rate in bytes per second, averaged over the latest tick.",
		[]string{"app", "direction"}, nil)
	descAppProcesses = prometheus.NewDesc("bwmon_app_processes",
		"Processes of an app that moved bytes within the retention time.",
		[]string{"app"}, nil)
	descUnattributed = prometheus.NewDesc("bwmon_unattributed_bytes_total",
		"Bytes seen but not tied to any process, by reason, since the agent started.",
		[]string{"direction", "reason"}, nil)
	descForwardedBytes = prometheus.NewDesc("bwmon_forwarded_bytes_total",
		"Bytes the host routed between other hosts since the agent started, seen from the inside hosts (in: what they received). Not labelled by host: a gateway talks to too many.",
		[]string{"direction"}, nil)
	descForwardedPairs = prometheus.NewDesc("bwmon_forwarded_pairs",
		"Pairs of hosts the forwarded section lists, folded ones included; it stops growing at the aggregator's bound.",
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
		"Kernel conntrack events a monitor lost (its socket buffer overflowed) since start; it then resynchronises with a full dump.",
		[]string{"monitor"}, nil)
	descHistoryApps = prometheus.NewDesc("bwmon_history_apps",
		"Apps whose history the HTTP API keeps.", nil, nil)
	descHistoryEvicted = prometheus.NewDesc("bwmon_history_apps_evicted_total",
		"Apps whose history was dropped, idle for a day or to make room.", nil, nil)
	descWSClients = prometheus.NewDesc("bwmon_websocket_clients",
		"WebSocket clients connected to /api/v1/live.", nil, nil)
	descWSDropped = prometheus.NewDesc("bwmon_websocket_dropped_total",
		"WebSocket clients disconnected because they fell behind.", nil, nil)
	descNotify = prometheus.NewDesc("bwmon_notifications_total",
		"Alert events of the notifier by outcome: fired, resolved, dropped (too many commands running) or failed (a command or webhook failed or timed out).",
		[]string{"outcome"}, nil)
)

// collector turns the latest snapshot and the server's own counters into
// metrics at scrape time: nothing is copied into client_golang's state on
// the tick.
type collector struct {
	s *Server
}

var allDescs = []*prometheus.Desc{
	descAppBytes, descAppRate, descAppProcesses, descUnattributed, descForwardedBytes, descForwardedPairs, descLastTick, descEntries,
	descFlows, descProcesses, descEventsLost, descHistoryApps, descHistoryEvicted,
	descWSClients, descWSDropped, descNotify,
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if t := s.latest.Load(); t != nil {
		collectSnapshot(ch, t.snap)
	}
	tracked, evicted := s.history.Len()
	ch <- prometheus.MustNewConstMetric(descHistoryApps, prometheus.GaugeValue, float64(tracked))
	ch <- prometheus.MustNewConstMetric(descHistoryEvicted, prometheus.CounterValue, float64(evicted))
	ch <- prometheus.MustNewConstMetric(descWSClients, prometheus.GaugeValue, float64(s.hub.count()))
	ch <- prometheus.MustNewConstMetric(descWSDropped, prometheus.CounterValue, float64(s.hub.dropped.Load()))
	if s.opts.NotifyStats != nil {
		n := s.opts.NotifyStats()
		for _, o := range []struct {
			name string
			v    uint64
		}{{"fired", n.Fired}, {"resolved", n.Resolved}, {"dropped", n.Dropped}, {"failed", n.Failed}} {
			ch <- prometheus.MustNewConstMetric(descNotify, prometheus.CounterValue, float64(o.v), o.name)
		}
	}
}

func collectSnapshot(ch chan<- prometheus.Metric, snap *model.Snapshot) {
	for _, a := range snap.Apps {
		ch <- prometheus.MustNewConstMetric(descAppBytes, prometheus.CounterValue, float64(a.BytesIn), a.App, "in")
		ch <- prometheus.MustNewConstMetric(descAppBytes, prometheus.CounterValue, float64(a.BytesOut), a.App, "out")
		ch <- prometheus.MustNewConstMetric(descAppRate, prometheus.GaugeValue, a.RateIn, a.App, "in")
		ch <- prometheus.MustNewConstMetric(descAppRate, prometheus.GaugeValue, a.RateOut, a.App, "out")
		ch <- prometheus.MustNewConstMetric(descAppProcesses, prometheus.GaugeValue, float64(len(a.PIDs)), a.App)
	}
	for r, sum := range snap.Unattributed.Reasons {
		ch <- prometheus.MustNewConstMetric(descUnattributed, prometheus.CounterValue, float64(sum.BytesIn), "in", string(r))
		ch <- prometheus.MustNewConstMetric(descUnattributed, prometheus.CounterValue, float64(sum.BytesOut), "out", string(r))
	}
	f := snap.Forwarded
	ch <- prometheus.MustNewConstMetric(descForwardedBytes, prometheus.CounterValue, float64(f.BytesIn), "in")
	ch <- prometheus.MustNewConstMetric(descForwardedBytes, prometheus.CounterValue, float64(f.BytesOut), "out")
	ch <- prometheus.MustNewConstMetric(descForwardedPairs, prometheus.GaugeValue, float64(len(f.Hosts)))
	ch <- prometheus.MustNewConstMetric(descLastTick, prometheus.GaugeValue, float64(snap.Time.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(snap.Agent.Entries))
	names := make([]string, 0, len(snap.Agent.Monitors))
	for name := range snap.Agent.Monitors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m := snap.Agent.Monitors[name]
		ch <- prometheus.MustNewConstMetric(descFlows, prometheus.GaugeValue, float64(m.Flows), name)
		ch <- prometheus.MustNewConstMetric(descProcesses, prometheus.GaugeValue, float64(m.Processes), name)
		ch <- prometheus.MustNewConstMetric(descEventsLost, prometheus.CounterValue, float64(m.EventsLost), name)
	}
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
	reg.MustRegister(collector{s}, tick,
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
