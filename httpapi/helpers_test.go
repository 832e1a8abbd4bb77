package httpapi

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// t0 is a round minute, so tests can reason about minute boundaries.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// snap makes a one-second tick ending at t with the given apps' rates
// (bytes/s in, out); totals are rate times i+1 ticks.
func snap(t time.Time, rates map[string][2]float64) *model.Snapshot {
	s := &model.Snapshot{Time: t, IntervalS: 1, Apps: []model.AppUsage{},
		Unattributed: model.Unattributed{Reasons: map[model.Reason]model.UnattributedSum{}}}
	for name, r := range rates {
		s.Apps = append(s.Apps, model.AppUsage{App: name, RateIn: r[0], RateOut: r[1],
			BytesIn: uint64(r[0]) * 10, BytesOut: uint64(r[1]) * 10, PIDs: []int{}})
	}
	return s
}

// richSnap is a tick with every field set, for the JSON and metrics tests.
func richSnap(t time.Time) *model.Snapshot {
	return &model.Snapshot{
		Time: t, IntervalS: 1.002,
		Apps: []model.AppUsage{
			{App: "curl", BytesIn: 123456, BytesOut: 7890, RateIn: 2048.5, RateOut: 100, PIDs: []int{42, 43}},
			{App: `evil "app" <b>`, BytesIn: 10, BytesOut: 20, RateIn: 0, RateOut: 0, PIDs: []int{}},
		},
		Unattributed: model.Unattributed{BytesIn: 300, BytesOut: 40, RateIn: 3, RateOut: 0.5,
			Reasons: map[model.Reason]model.UnattributedSum{
				model.ReasonNoSocket:    {BytesIn: 200, BytesOut: 0},
				model.ReasonProcessGone: {BytesIn: 100, BytesOut: 40},
			}},
		Forwarded: model.Forwarded{BytesIn: 5000, BytesOut: 700, RateIn: 50, RateOut: 7, Hosts: []model.ForwardedHosts{
			{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 4000, BytesOut: 600, RateIn: 50, RateOut: 7},
			{Inside: "10.0.0.2", Remote: "*", BytesIn: 1000, BytesOut: 100},
		}},
		Interfaces: []model.Interface{
			{Name: "eth0", Kind: "device", Role: model.RoleCounted, BytesIn: 130000, BytesOut: 9000, RateIn: 2100, RateOut: 120,
				LinkBytesIn: 131400, LinkBytesOut: 9700, PacketsIn: 100, PacketsOut: 50, Since: t.Add(-time.Minute)},
			{Name: "lo", Kind: "loopback", Role: model.RoleLoopback, BytesIn: 500, BytesOut: 500, LinkBytesIn: 500, LinkBytesOut: 500,
				PacketsIn: 5, PacketsOut: 5, Since: t.Add(-time.Minute)},
		},
		Coverage: model.Coverage{
			CoverageSpan: model.CoverageSpan{In: ratioOf(2090, 2100), Out: ratioOf(120, 120), InterfaceBytesIn: 2100, InterfaceBytesOut: 120,
				AccountedBytesIn: 2090, AccountedBytesOut: 120, SpanS: 1.002},
			Last15m: model.CoverageSpan{In: ratioOf(125000, 130000), Out: ratioOf(8900, 9000), InterfaceBytesIn: 130000, InterfaceBytesOut: 9000,
				AccountedBytesIn: 125000, AccountedBytesOut: 8900, SpanS: 60},
			Last24h: model.CoverageSpan{In: ratioOf(125000, 130000), Out: ratioOf(8900, 9000), InterfaceBytesIn: 130000, InterfaceBytesOut: 9000,
				AccountedBytesIn: 125000, AccountedBytesOut: 8900, SpanS: 60},
			Total: model.CoverageSpan{In: ratioOf(125000, 130000), Out: ratioOf(8900, 9000), InterfaceBytesIn: 130000, InterfaceBytesOut: 9000,
				AccountedBytesIn: 125000, AccountedBytesOut: 8900, SpanS: 60},
		},
		Agent: model.AgentStats{TickDuration: 3 * time.Millisecond, Entries: 7, Monitors: map[string]model.MonitorStats{
			"conntrack": {Flows: 12, Processes: 34, EventsLost: 5, ReadErrors: 2, NamespacesRead: 3, NamespacesSkipped: 4},
			"pipe-web":  {Flows: 1},
		}},
	}
}

func ratioOf(a, b uint64) *float64 { return model.Ratio(a, b) }

// manyApps makes a tick of n apps with names of nameLen bytes: a big
// message.
func manyApps(t time.Time, n, nameLen int) *model.Snapshot {
	s := &model.Snapshot{Time: t, IntervalS: 1, Apps: make([]model.AppUsage, n)}
	for i := range s.Apps {
		s.Apps[i] = model.AppUsage{App: fmt.Sprintf("app-%04d-%s", i, strings.Repeat("x", nameLen)), RateIn: 1, PIDs: []int{}}
	}
	return s
}

// checkGoroutines fails t if, at cleanup, more goroutines run than at the
// start (after a grace period for ones that are finishing).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines at the end, %d at the start:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// eventually polls f until it is true or fails t after d.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// feed hands the server a snapshot every 200 ms, one simulated second
// apart from t0 on, until the test ends.
func feed(t *testing.T, s *Server, tick func(now time.Time) *model.Snapshot) {
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for now := t0; ; now = now.Add(time.Second) {
			select {
			case <-stop:
				return
			case <-tk.C:
				s.Consume(tick(now))
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-fed })
}
