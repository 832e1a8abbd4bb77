package aggregator

import (
	"encoding/json"
	"fmt"
	"net/netip"
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

// BenchmarkTickClasses is BenchmarkTick with each process's bytes split
// over three destination classes: the cost classes add to the
// aggregator's share of a tick.
func BenchmarkTickClasses(b *testing.B) {
	const n = 5000
	procs := make([]model.Info, n)
	for i := range procs {
		procs[i] = model.Info{Process: &model.Process{PID: i + 1, StartTime: 1, Exe: fmt.Sprintf("/usr/bin/app%d", i%50), Cmdline: fmt.Sprintf("app%d --worker %d", i%50, i)}}
	}
	m := &loadMonitor{procs: procs, classes: 3}
	t0 := time.Unix(0, 0)
	a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, ClassNames: []string{"", "lab", "local", "private", "internet"}}, []Monitor{m}, nil, nil, t0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Tick(t0.Add(time.Duration(i+1) * time.Second))
	}
}

// loadMonitor adds bytes for every process on each Collect, split over
// classes classes (none when 0).
type loadMonitor struct {
	procs   []model.Info
	classes int
}

func (m *loadMonitor) Name() string              { return "load" }
func (m *loadMonitor) Stats() model.MonitorStats { return model.MonitorStats{} }
func (m *loadMonitor) Close() error              { return nil }
func (m *loadMonitor) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	for _, p := range m.procs {
		if m.classes == 0 {
			c.Add(model.KeyProcess(p.Process), p, 1000, 100, now)
			continue
		}
		k := model.KeyProcess(p.Process)
		for cl := range m.classes {
			c.AddClass(k, p, model.Class(cl+1), 1000/uint64(m.classes), 100/uint64(m.classes), now)
		}
	}
	return nil
}

// BenchmarkTickForwarded measures one tick of a NAT gateway: 50 inside
// hosts each talking to 100 remote hosts, all moving bytes, 5,000 pairs
// against the bound of 1,024. It reports the JSON size of the section.
func BenchmarkTickForwarded(b *testing.B) {
	m := &fwdLoadMonitor{}
	for i := range 5000 {
		p := model.HostPair{Inside: netip.AddrFrom4([4]byte{10, 0, byte(i / 100), 2}), Remote: netip.AddrFrom4([4]byte{198, 51, byte(i / 256), byte(i)})}
		m.pairs = append(m.pairs, p)
	}
	t0 := time.Unix(0, 0)
	a := New(Config{Interval: time.Second}, []Monitor{m}, nil, nil, t0)
	b.ReportAllocs()
	var s *model.Snapshot
	for i := 0; b.Loop(); i++ {
		s = a.Tick(t0.Add(time.Duration(i+1) * time.Second))
	}
	js, _ := json.Marshal(s.Forwarded)
	b.ReportMetric(float64(len(js)), "json-bytes")
	b.ReportMetric(float64(len(s.Forwarded.Hosts)), "rows")
}

type fwdLoadMonitor struct{ pairs []model.HostPair }

func (m *fwdLoadMonitor) Name() string              { return "fwdload" }
func (m *fwdLoadMonitor) Stats() model.MonitorStats { return model.MonitorStats{} }
func (m *fwdLoadMonitor) Close() error              { return nil }
func (m *fwdLoadMonitor) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	for i := range m.pairs {
		p := &m.pairs[i]
		c.Add(model.KeyForwarded(*p), model.Info{Forwarded: p}, 1000, 100, now)
	}
	return nil
}

// BenchmarkTickApps measures one tick over 1,500 processes of 1,500
// distinct apps that all moved bytes (a flood of uniquely named programs).
// fold runs with the default limits: each tick folds all but the listed
// apps into model.OtherApp. kept lists all 1,500 (apps = 2000): nothing needs
// folding. It reports the apps listed and their JSON size.
func BenchmarkTickApps(b *testing.B) {
	const n = 1500
	procs := make([]model.Info, n)
	for i := range procs {
		procs[i] = model.Info{Process: &model.Process{PID: i + 1, StartTime: 1, Exe: fmt.Sprintf("/tmp/job-%d", i), Cmdline: fmt.Sprintf("/tmp/job-%d --run", i)}}
	}
	for _, bc := range []struct {
		name   string
		limits model.Limits
	}{
		{"fold", model.Limits{}},
		{"kept", model.Limits{Apps: 2000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			t0 := time.Unix(0, 0)
			a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, Limits: bc.limits}, []Monitor{&loadMonitor{procs: procs}}, nil, nil, t0)
			b.ReportAllocs()
			var s *model.Snapshot
			for i := 0; b.Loop(); i++ {
				s = a.Tick(t0.Add(time.Duration(i+1) * time.Second))
			}
			js, _ := json.Marshal(s.Apps)
			b.ReportMetric(float64(len(s.Apps)), "apps")
			b.ReportMetric(float64(len(js)), "json-bytes")
		})
	}
}
