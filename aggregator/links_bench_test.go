package aggregator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor"
)

// BenchmarkTickLinks measures what reading the interfaces adds to a tick
// at 100,000 flows: "flows" is the tick alone, "flows+links" the same tick
// with one namespace's interfaces read for real over rtnetlink (this
// host's, as any user may) and coverage kept, "links" that read alone.
// The flows are those of 1,000 processes, 100 each, every one moving bytes
// each tick: the monitor books each flow's delta for its process and hands
// the processes' sums over, as the conntrack monitor's flow table does
// (its kernel dump aside, which runs off the tick at this size).
func BenchmarkTickLinks(b *testing.B) {
	const flows, procs = 100_000, 1000
	b.Run("flows", func(b *testing.B) { benchTick(b, newFlowLoad(flows, procs), nil) })
	b.Run("flows+links", func(b *testing.B) {
		l, err := monitor.OpenLinks("")
		if err != nil {
			b.Skipf("no rtnetlink here: %v", err)
		}
		defer l.Close()
		benchTick(b, newFlowLoad(flows, procs), l)
	})
	b.Run("links", func(b *testing.B) {
		l, err := monitor.OpenLinks("")
		if err != nil {
			b.Skipf("no rtnetlink here: %v", err)
		}
		defer l.Close()
		var n int
		for b.Loop() {
			t, err := l.Read()
			if err != nil {
				b.Fatal(err)
			}
			n = len(t.Interfaces)
		}
		b.ReportMetric(float64(n), "interfaces")
	})
}

func benchTick(b *testing.B, m *flowLoad, l *monitor.Links) {
	var mon aggregator.Monitor = m
	if l != nil {
		mon = &linkedLoad{flowLoad: m, links: l}
	}
	t0 := time.Unix(0, 0)
	a := aggregator.New(aggregator.Config{Interval: time.Second, Grouper: aggregator.Grouper{AutoGroup: true}}, []aggregator.Monitor{mon}, nil, nil, t0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Tick(t0.Add(time.Duration(i+1) * time.Second))
	}
}

// flowLoad is a monitor of n flows of procs processes whose counters all
// move each tick.
type flowLoad struct {
	infos   []model.Info
	keys    []model.Key
	owner   []int32
	ctr     []model.FlowCounter
	now     []model.FlowCounter // the kernel's counters
	in, out []uint64            // per process, this tick
	booked  uint64
}

func newFlowLoad(n, procs int) *flowLoad {
	m := &flowLoad{owner: make([]int32, n), ctr: make([]model.FlowCounter, n), now: make([]model.FlowCounter, n),
		in: make([]uint64, procs), out: make([]uint64, procs)}
	for i := range procs {
		p := &model.Process{PID: i + 1, StartTime: 1, Exe: fmt.Sprintf("/usr/bin/app%d", i%50), Cmdline: fmt.Sprintf("app%d --worker %d", i%50, i)}
		m.infos = append(m.infos, model.Info{Process: p})
		m.keys = append(m.keys, model.KeyProcess(p))
	}
	for i := range n {
		m.owner[i] = int32(i % procs)
	}
	return m
}

func (m *flowLoad) Name() string              { return "flows" }
func (m *flowLoad) Stats() model.MonitorStats { return model.MonitorStats{Flows: len(m.ctr)} }
func (m *flowLoad) Close() error              { return nil }
func (m *flowLoad) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	for i := range m.ctr {
		m.now[i].Orig += 100
		m.now[i].Reply += 1000
		dO, dR := m.ctr[i].Update(m.now[i].Orig, m.now[i].Reply)
		o := m.owner[i]
		m.in[o] += dR
		m.out[o] += dO
		m.booked += dO + dR
	}
	for o := range m.in {
		c.Add(m.keys[o], m.infos[o], m.in[o], m.out[o], now)
		m.in[o], m.out[o] = 0, 0
	}
	return nil
}

// linkedLoad adds the interfaces of a namespace to a flowLoad.
type linkedLoad struct {
	*flowLoad
	links *monitor.Links
}

func (m *linkedLoad) Links(time.Time) (model.LinkTick, error) {
	t, err := m.links.Read()
	t.AccountedIn, t.AccountedOut = m.booked, m.booked
	m.booked = 0
	return t, err
}
