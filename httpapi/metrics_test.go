package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

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
	s, ts := newTestServer(t, Options{NotifyStats: func() model.NotifyStats { return notify }})
	sn := richSnap(t0)
	s.Consume(sn)
	second := richSnap(t0.Add(time.Second))
	second.Agent.TickDuration = 2 * time.Second
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
		{"bwmon_app_rate_bytes", []string{"app=curl", "direction=in"}, sn.Apps[0].RateIn},
		{"bwmon_app_rate_bytes", []string{"app=curl", "direction=out"}, sn.Apps[0].RateOut},
		{"bwmon_app_processes", []string{"app=curl"}, 2},
		{"bwmon_unattributed_bytes_total", []string{"direction=in", "reason=" + string(model.ReasonNoSocket)}, 200},
		{"bwmon_unattributed_bytes_total", []string{"direction=out", "reason=" + string(model.ReasonProcessGone)}, 40},
		{"bwmon_forwarded_bytes_total", []string{"direction=in"}, float64(sn.Forwarded.BytesIn)},
		{"bwmon_forwarded_bytes_total", []string{"direction=out"}, float64(sn.Forwarded.BytesOut)},
		{"bwmon_forwarded_pairs", nil, float64(len(sn.Forwarded.Hosts))},
		{"bwmon_last_tick_timestamp_seconds", nil, float64(t0.Add(time.Second).Unix())},
		{"bwmon_entries", nil, 7},
		{"bwmon_monitor_flows", []string{"monitor=conntrack"}, 12},
		{"bwmon_monitor_flows", []string{"monitor=pipe-web"}, 1},
		{"bwmon_monitor_processes", []string{"monitor=conntrack"}, 34},
		{"bwmon_monitor_events_lost_total", []string{"monitor=conntrack"}, 5},
		{"bwmon_tick_duration_seconds", nil, 2}, // two observations
		{"bwmon_history_apps", nil, 1},          // curl; the other app is idle
		{"bwmon_websocket_clients", nil, 0},
		{"bwmon_websocket_dropped_total", nil, 0},
		{"bwmon_notifications_total", []string{"outcome=fired"}, 3},
		{"bwmon_notifications_total", []string{"outcome=resolved"}, 2},
		{"bwmon_notifications_total", []string{"outcome=dropped"}, 1},
		{"bwmon_notifications_total", []string{"outcome=failed"}, 4},
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
