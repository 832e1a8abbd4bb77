package aggregator

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// BenchmarkTick measures one tick over 5,000 processes that all moved bytes,
// grouped by 3 app rules and otherwise by executable: the aggregator's
// share of a tick at the scale of the benchmark suite.
func BenchmarkTick(b *testing.B) {
	const n = 5000
	procs := make([]model.Info, n)
	for i := range procs {
		procs[i] = model.Info{Process: &model.Process{PID: i + 1, StartTime: 1, Exe: fmt.Sprintf("/usr/bin/app%d", i%50), Cmdline: fmt.Sprintf("app%d --worker %d", i%50, i)}}
	}
	m := &loadMonitor{procs: procs}
	g := Grouper{AutoGroup: true, Rules: []AppRule{
		{Name: "web", Match: []*regexp.Regexp{regexp.MustCompile(`^app1 `)}},
		{Name: "db", Match: []*regexp.Regexp{regexp.MustCompile(`^app2 `), regexp.MustCompile(`postgres`)}},
		{Name: "batch", Match: []*regexp.Regexp{regexp.MustCompile(`--batch`)}},
	}}
	t0 := time.Unix(0, 0)
	a := New(Config{Interval: time.Second, Grouper: g}, []Monitor{m}, nil, nil, t0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Tick(t0.Add(time.Duration(i+1) * time.Second))
	}
}

// loadMonitor adds bytes for every process on each Collect.
type loadMonitor struct{ procs []model.Info }

func (m *loadMonitor) Name() string              { return "load" }
func (m *loadMonitor) Stats() model.MonitorStats { return model.MonitorStats{} }
func (m *loadMonitor) Close() error              { return nil }
func (m *loadMonitor) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	for _, p := range m.procs {
		c.Add(model.KeyProcess(p.Process), p, 1000, 100, now)
	}
	return nil
}
