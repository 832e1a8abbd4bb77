package httpapi

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, url+"/metrics", "Accept", "text/plain")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// value finds the sample of family name whose labels are exactly labels
// ("k=v" pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := strings.Join(labels, ",")
	var seen []string
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(got)
		if strings.Join(got, ",") == want {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		seen = append(seen, strings.Join(got, ","))
	}
	t.Fatalf("%s{%s} not found; have %v", name, want, seen)
	return 0
}

func TestMetrics(t *testing.T) {
	notify := model.NotifyStats{Fired: 3, Resolved: 2, Dropped: 1, Failed: 4}
	s, ts := newTestServer(t, Options{NotifyStats: func() model.NotifyStats { return notify }, MaxApps: 7, MaxClients: 3})
	sn := richSnap(t0)
	s.Consume(sn)
	second := richSnap(t0.Add(time.Second))
	second.Agent.FoldedApps = 1412
	second.Agent.Limits = model.Limits{Apps: 50, TopApps: 10, ActiveWindow: 5 * time.Minute, HistoryApps: 99, WebSocketClients: 99}
	second.Agent.TickDuration = 2 * time.Second
	second.Since = t0.Add(-48 * time.Hour)
	s.Consume(second)

	fams := scrape(t, ts.URL)
	if f := fams["bwmon_app_bytes_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("bwmon_app_bytes_total is a %s, want a counter", f.GetType())
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"bwmon_app_bytes_total", []string{"app=curl", "direction=in"}, float64(sn.Apps[0].BytesIn)},
		{"bwmon_app_bytes_total", []string{"app=curl", "direction=out"}, float64(sn.Apps[0].BytesOut)},
		{"bwmon_app_bytes_total", []string{"app=" + sn.Apps[1].App, "direction=out"}, float64(sn.Apps[1].BytesOut)},
		{"bwmon_app_processes", []string{"app=curl"}, 2},
		{"bwmon_unattributed_bytes_total", []string{"direction=in", "reason=" + string(model.ReasonNoSocket)}, 200},
		{"bwmon_unattributed_bytes_total", []string{"direction=out", "reason=" + string(model.ReasonProcessGone)}, 40},
		{"bwmon_forwarded_bytes_total", []string{"direction=in"}, float64(sn.Forwarded.BytesIn)},
		{"bwmon_forwarded_bytes_total", []string{"direction=out"}, float64(sn.Forwarded.BytesOut)},
		{"bwmon_forwarded_pairs", nil, float64(len(sn.Forwarded.Hosts))},
		{"bwmon_last_tick_timestamp_seconds", nil, float64(t0.Add(time.Second).Unix())},
		{"bwmon_totals_start_time_seconds", nil, float64(t0.Add(-48 * time.Hour).Unix())},
		{"bwmon_entries", nil, 7},
		{"bwmon_monitor_flows", []string{"monitor=conntrack"}, 12},
		{"bwmon_monitor_flows", []string{"monitor=pipe-web"}, 1},
		{"bwmon_monitor_processes", []string{"monitor=conntrack"}, 34},
		{"bwmon_monitor_events_lost_total", []string{"monitor=conntrack"}, 5},
		{"bwmon_tick_duration_seconds", nil, 2}, // two observations
		{"bwmon_history_apps", nil, 1},          // curl; the other app is idle
		{"bwmon_websocket_clients", nil, 0},
		{"bwmon_websocket_dropped_total", []string{"reason=slow"}, 0},
		{"bwmon_websocket_dropped_total", []string{"reason=write_timeout"}, 0},
		{"bwmon_websocket_refused_total", nil, 0},
		{"bwmon_monitor_read_errors_total", []string{"monitor=conntrack"}, 2},
		{"bwmon_monitor_read_errors_total", []string{"monitor=pipe-web"}, 0},
		{"bwmon_monitor_namespaces", []string{"monitor=conntrack", "state=read"}, 3},
		{"bwmon_monitor_namespaces", []string{"monitor=conntrack", "state=skipped"}, 4},
		{"bwmon_apps_folded_total", nil, 1412},
		{"bwmon_limit", []string{"limit=apps"}, 50},
		{"bwmon_limit", []string{"limit=top_apps"}, 10},
		{"bwmon_limit", []string{"limit=active_window_seconds"}, 300},
		{"bwmon_limit", []string{"limit=history_apps"}, 7},      // the server's own
		{"bwmon_limit", []string{"limit=websocket_clients"}, 3}, // the server's own
		{"bwmon_limit", []string{"limit=day_apps"}, model.DefaultLimitDayApps},
		{"bwmon_limit", []string{"limit=namespaces"}, model.DefaultLimitNamespaces},
		{"bwmon_metrics_skipped_total", nil, 0},
		{"bwmon_notifications_total", []string{"outcome=fired"}, 3},
		{"bwmon_notifications_total", []string{"outcome=resolved"}, 2},
		{"bwmon_notifications_total", []string{"outcome=dropped"}, 1},
		{"bwmon_notifications_total", []string{"outcome=failed"}, 4},
		{"bwmon_interface_bytes_total", []string{"direction=in", "interface=eth0", "netns="}, 130000},
		{"bwmon_interface_bytes_total", []string{"direction=out", "interface=lo", "netns="}, 500},
		{"bwmon_interface_link_bytes_total", []string{"direction=in", "interface=eth0", "netns="}, 131400},
		{"bwmon_interface_packets_total", []string{"direction=out", "interface=eth0", "netns="}, 50},
		{"bwmon_coverage_interface_bytes_total", []string{"direction=in"}, 130000},
		{"bwmon_coverage_accounted_bytes_total", []string{"direction=out"}, 8900},
		{"bwmon_coverage_ratio", []string{"direction=out", "window=tick"}, 1},
		{"bwmon_coverage_ratio", []string{"direction=in", "window=15m"}, 125000.0 / 130000},
		{"bwmon_coverage_ratio", []string{"direction=out", "window=24h"}, 8900.0 / 9000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%v", tt.name, tt.labels), func(t *testing.T) {
			if got := value(t, fams, tt.name, tt.labels...); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	// The histogram put the 3 ms tick and the 2 s one in different buckets.
	h := fams["bwmon_tick_duration_seconds"].Metric[0].Histogram
	if got := h.GetSampleSum(); got != 2.003 {
		t.Errorf("tick duration sum %v, want 2.003", got)
	}
	for _, b := range h.Bucket {
		if b.GetUpperBound() >= 0.0032 && b.GetUpperBound() < 2 && b.GetCumulativeCount() != 1 {
			t.Errorf("bucket le=%v holds %d ticks, want 1", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if f := fams["bwmon_forwarded_bytes_total"]; f.GetType() != dto.MetricType_COUNTER || len(f.Metric) != 2 {
		t.Errorf("bwmon_forwarded_bytes_total: a %s of %d series, want a counter of 2 (in, out; no host labels)", f.GetType(), len(f.Metric))
	}
	// Labelled by app, never by PID.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(strings.ToLower(l.GetName()), "pid") {
					t.Errorf("%s has a %s label", name, l.GetName())
				}
			}
		}
	}
}

func TestMetricsBeforeFirstTickAndWithoutNotifier(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	fams := scrape(t, ts.URL)
	if _, ok := fams["bwmon_app_bytes_total"]; ok {
		t.Error("app metrics before any tick")
	}
	if _, ok := fams["bwmon_notifications_total"]; ok {
		t.Error("notification metrics without a notifier")
	}
	if got := value(t, fams, "bwmon_websocket_clients"); got != 0 {
		t.Errorf("websocket clients %v", got)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// promtool runs `promtool check metrics` on an exposition. Outside CI a
// machine without promtool skips; in CI that is a failure.
func promtool(t *testing.T, exposition []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		nettest.Missing(t, "promtool not found: apt-get install prometheus to check the metrics with it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsHostileNames reproduces issue 12's finding 2: an app named
// "x\xffy" (not UTF-8) made /metrics answer 500 with a panic at every
// scrape. Names that are not UTF-8, carry controls or bidi overrides, are
// or 4 KB long now make a valid exposition.
func TestMetricsHostileNames(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	sn := richSnap(t0)
	sn.Apps = append(sn.Apps,
		model.AppUsage{App: "x\xffy", BytesIn: 1},
		model.AppUsage{App: "\u009b/\u202e", BytesIn: 2},
		model.AppUsage{App: strings.Repeat("n", 4096), BytesIn: 8},
		model.AppUsage{App: "a\nb\"c\\d\x1b[31m", BytesIn: 16},
	)
	sn.Agent.Monitors["pipe-\u202e\xfe"] = model.MonitorStats{Flows: 3}
	sn.Interfaces = append(sn.Interfaces, model.Interface{Name: "veth\x1b\xff", NetNS: "ctr\u202e", BytesIn: 77})
	sn.Unattributed.Reasons["odd\x9b"] = model.UnattributedSum{BytesIn: 9}
	s.Consume(sn)

	resp, body := get(t, ts.URL+"/metrics", "Accept", "text/plain")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	fams := scrape(t, ts.URL)
	tests := []struct {
		name, app string
		want      float64
	}{
		{"invalid UTF-8 escaped", `x\xffy`, 1},
		{"C1 control and bidi override escaped", `\u009b/\u202e`, 2},
		{"4 KB name cut", strings.Repeat("n", safename.MaxLen-len("…")) + "…", 8},
		{"newline, quote, backslash and escape", `a\x0ab"c\d\x1b[31m`, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(t, fams, "bwmon_app_bytes_total", "app="+tt.app, "direction=in"); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := value(t, fams, "bwmon_monitor_flows", `monitor=pipe-\u202e\xfe`); got != 3 {
		t.Errorf("monitor with a hostile name: %v flows, want 3", got)
	}
	if got := value(t, fams, "bwmon_interface_bytes_total", "direction=in", `interface=veth\x1b\xff`, `netns=ctr\u202e`); got != 77 {
		t.Errorf("interface with a hostile name: %v bytes in, want 77", got)
	}
	if got := value(t, fams, "bwmon_unattributed_bytes_total", "direction=in", `reason=odd\x9b`); got != 9 {
		t.Errorf("odd reason: %v, want 9", got)
	}
	if got := value(t, fams, "bwmon_metrics_skipped_total"); got != 0 {
		t.Errorf("%v samples skipped, want none: cleaning made every name servable", got)
	}
	promtool(t, body)
}

// TestMetricsSeriesBound: at the bound of apps, every unattributed reason,
// one or two monitors and a notifier, /metrics exports 3 series an app and
// a fixed number besides: the figures docs/metrics.md gives.
func TestMetricsSeriesBound(t *testing.T) {
	tests := []struct {
		name     string
		monitors map[string]model.MonitorStats
		// want is the bwmon_* series beside the apps' (the histogram's
		// buckets, _sum and _count each one).
		want int
	}{
		{"one conntrack monitor", map[string]model.MonitorStats{"conntrack": {}}, seriesFixed + seriesPerMonitor + seriesRealisticLinks},
		{"conntrack with namespaces = all, and a pipe", map[string]model.MonitorStats{
			"conntrack": {NamespacesRead: 3}, "pipe-web": {}}, seriesFixed + 2*seriesPerMonitor + 2 + seriesRealisticLinks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, Options{NotifyStats: func() model.NotifyStats { return model.NotifyStats{} }})
			sn := realisticSnap(t0)
			sn.Agent.Monitors = tt.monitors
			s.Consume(sn)
			s.Consume(sn) // a tick duration observed
			resp, body := get(t, ts.URL+"/metrics", "Accept", "text/plain")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			fams := scrape(t, ts.URL)
			apps, bwmon, samples := 0, 0, 0
			for name, f := range fams {
				n := len(f.Metric)
				if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
					n = 0
					for _, m := range f.Metric {
						n += 2 + len(m.Histogram.GetBucket()) + len(m.Summary.GetQuantile()) // _sum, _count and buckets (+Inf among them)
					}
				}
				samples += n
				if strings.HasPrefix(name, "bwmon_app_") {
					apps += len(f.Metric)
				} else if strings.HasPrefix(name, "bwmon_") {
					bwmon += n
				}
			}
			if want := seriesPerApp * (model.DefaultLimitApps + 1); apps != want {
				t.Errorf("%d app series, want %d (%d for each of %d apps)", apps, want, seriesPerApp, model.DefaultLimitApps+1)
			}
			if bwmon != tt.want {
				t.Errorf("%d other bwmon_* series, want %d", bwmon, tt.want)
			}
			t.Logf("app series %d, other bwmon series %d, all samples %d (%d bytes)", apps, bwmon, samples, len(body))
			if samples > 3000 {
				t.Errorf("%d samples, want at most 3,000", samples)
			}
			promtool(t, body)
		})
	}
}

// The series of one agent, as docs/metrics.md counts them: per app
// (bytes in and out, processes); per monitor (flows, processes, events
// lost, read errors; 2 more with namespaces = "all"); and the fixed ones.
const (
	seriesPerApp     = 3 + 2*3 // and 2 per class it has bytes in: the 3 built-in ones here
	seriesPerMonitor = 4
	seriesFixed      = 16 + // unattributed bytes: 8 reasons, 2 directions
		2 + 1 + // forwarded bytes in and out, pairs
		1 + 1 + 1 + 1 + // totals start, last tick, entries, apps folded
		7 + // limits
		1 + 1 + // history apps, evicted
		1 + 2 + 1 + // WebSocket clients, dropped (2 reasons), refused
		4 + // notifications (4 outcomes)
		1 + // metrics skipped
		20 + // tick duration: 17 buckets, +Inf, _sum, _count
		4 // coverage's interface and accounted bytes, in and out
	// Per interface listed: IP bytes, link bytes and packets, in and out;
	// coverage's ratios: in and out over the tick, 15 minutes, 24 hours,
	// once the interfaces moved bytes.
	seriesPerInterface = 6
	seriesRatios       = 6
	// realisticSnap's host: eth0, docker0 and lo.
	seriesRealisticLinks = 3*seriesPerInterface + seriesRatios
)

// TestMetricsHygiene: node_exporter's conventions. Counters end in _total
// and nothing else does; there is no rate gauge (rate() over the counter
// is the rate); and the HELP of each counter says since when it counts:
// the bytes counters since the totals began (they continue across restarts
// from the state store), the agent's own since the agent started.
func TestMetricsHygiene(t *testing.T) {
	s, ts := newTestServer(t, Options{NotifyStats: func() model.NotifyStats { return model.NotifyStats{} }})
	sn := richSnap(t0)
	sn.Since = t0.Add(-time.Hour)
	s.Consume(sn)
	s.Consume(sn)
	fams := scrape(t, ts.URL)
	restored := map[string]bool{"bwmon_app_bytes_total": true, "bwmon_unattributed_bytes_total": true, "bwmon_forwarded_bytes_total": true}
	for name, f := range fams {
		if !strings.HasPrefix(name, "bwmon_") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			help := f.GetHelp()
			switch counter := f.GetType() == dto.MetricType_COUNTER; {
			case counter != strings.HasSuffix(name, "_total"):
				t.Errorf("a %s named %s: counters, and only they, end in _total", f.GetType(), name)
			case strings.Contains(name, "rate") || strings.HasSuffix(name, "_per_second"):
				t.Errorf("%s: a rate gauge; rate() over a counter does it", name)
			case restored[name] && (!strings.Contains(help, "since the totals began") || strings.Contains(help, "agent started")):
				t.Errorf("%s continues across restarts; its HELP should count since the totals began: %q", name, help)
			case counter && !restored[name] && !strings.Contains(help, "since the agent started"):
				t.Errorf("%s resets with the agent; its HELP should say since the agent started: %q", name, help)
			}
		})
	}
	for _, gone := range []string{"bwmon_app_rate_bytes", "bwmon_app_bytes_per_second"} {
		if _, ok := fams[gone]; ok {
			t.Errorf("%s is exported", gone)
		}
	}
}

// TestMetricsUnattributedFromZero: every known reason is exported from the
// first tick, at 0 until it holds bytes, so that rate() and increase() see
// its first bytes; an unknown reason is exported once it holds some.
func TestMetricsUnattributedFromZero(t *testing.T) {
	tests := []struct {
		name    string
		reasons map[model.Reason]model.UnattributedSum
		want    map[string]float64 // reason=direction → value
		series  int
	}{
		{"no bytes yet", nil, map[string]float64{"no_socket/in": 0, "unreadable_namespace/out": 0, "socket_map_full/in": 0}, 16},
		{"one reason", map[model.Reason]model.UnattributedSum{model.ReasonKernel: {BytesIn: 5, BytesOut: 7}},
			map[string]float64{"kernel/in": 5, "kernel/out": 7, "process_gone/in": 0}, 16},
		{"a reason the list does not know", map[model.Reason]model.UnattributedSum{"new_reason": {BytesIn: 3}},
			map[string]float64{"new_reason/in": 3, "new_reason/out": 0, "no_process/out": 0}, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, Options{})
			sn := richSnap(t0)
			sn.Unattributed.Reasons = tt.reasons
			s.Consume(sn)
			fams := scrape(t, ts.URL)
			if n := len(fams["bwmon_unattributed_bytes_total"].GetMetric()); n != tt.series {
				t.Errorf("%d unattributed series, want %d", n, tt.series)
			}
			for k, want := range tt.want {
				reason, dir, _ := strings.Cut(k, "/")
				if got := value(t, fams, "bwmon_unattributed_bytes_total", "direction="+dir, "reason="+reason); got != want {
					t.Errorf("%s: %v, want %v", k, got, want)
				}
			}
		})
	}
}

// TestMetricsTotalsStart: the start of the totals is exported once a tick
// says it, and not before.
func TestMetricsTotalsStart(t *testing.T) {
	tests := []struct {
		name  string
		since time.Time
		want  bool
	}{
		{"state store since two days", t0.Add(-48 * time.Hour), true},
		{"unknown", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, Options{})
			sn := richSnap(t0)
			sn.Since = tt.since
			s.Consume(sn)
			fams := scrape(t, ts.URL)
			_, ok := fams["bwmon_totals_start_time_seconds"]
			if ok != tt.want {
				t.Fatalf("bwmon_totals_start_time_seconds exported: %v, want %v", ok, tt.want)
			}
			if ok {
				if got := value(t, fams, "bwmon_totals_start_time_seconds"); got != float64(tt.since.Unix()) {
					t.Errorf("got %v, want %v", got, tt.since.Unix())
				}
			}
		})
	}
}

// TestMetricsSkipOnce: a sample whose labels cannot be served is left out
// and counted at every scrape, but logged once per name, and only for the
// first maxSkipLogged names.
func TestMetricsSkipOnce(t *testing.T) {
	var logs bytes.Buffer
	k := newSkipper(slog.New(slog.NewTextHandler(&logs, nil)))
	ch := make(chan prometheus.Metric, 10)
	e := &emitter{ch: ch, skip: k}
	for range 3 { // three scrapes
		e.emit(descAppProcesses, prometheus.GaugeValue, 1, "x\xffy") // bypasses Clean: invalid UTF-8
		e.emit(descAppProcesses, prometheus.GaugeValue, 1, "fine")
	}
	if len(ch) != 3 || k.count.Load() != 3 {
		t.Fatalf("%d samples sent, %d skipped; want 3 and 3", len(ch), k.count.Load())
	}
	if n := strings.Count(logs.String(), "leaving a sample out"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "\xff") {
		t.Fatalf("the log carries the raw name: %q", logs.String())
	}
	logs.Reset()
	for i := range 10 * maxSkipLogged {
		e.emit(descAppProcesses, prometheus.GaugeValue, 1, fmt.Sprintf("%d\xff", i))
	}
	if n := strings.Count(logs.String(), "leaving a sample out"); n != maxSkipLogged-1 {
		t.Errorf("logged %d names, want %d (the first %d in all)", n, maxSkipLogged-1, maxSkipLogged)
	}
	if n := strings.Count(logs.String(), "not logging them any further"); n != 1 {
		t.Errorf("said %d times that it stops logging, want once", n)
	}
	if got := k.count.Load(); got != 3+10*maxSkipLogged {
		t.Errorf("%d skipped, want %d", got, 3+10*maxSkipLogged)
	}
}
