package aggregator

import (
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// linkMonitor is a LinkMonitor whose Links hands out reads in turn (the
// last again once they run out), or fails on the ticks listed in fail.
type linkMonitor struct {
	name  string
	reads []model.LinkTick
	fail  map[int]bool
	n     int
}

func (m *linkMonitor) Name() string                                           { return m.name }
func (m *linkMonitor) Stats() model.MonitorStats                              { return model.MonitorStats{} }
func (m *linkMonitor) Close() error                                           { return nil }
func (m *linkMonitor) Collect(*model.MonitorEntryCollection, time.Time) error { return nil }
func (m *linkMonitor) Links(time.Time) (model.LinkTick, error) {
	i := m.n
	m.n++
	if m.fail[i] {
		return model.LinkTick{}, errLinks
	}
	return m.reads[min(i, len(m.reads)-1)], nil
}

var errLinks = errorString("the interfaces could not be read")

type errorString string

func (e errorString) Error() string { return string(e) }

// ethTick is a read of one namespace: eth0 (counted) moved in and out IP
// bytes, lo moved lo, and the monitor accounted acIn and acOut.
func ethTick(id uint64, in, out, lo, acIn, acOut uint64) model.LinkTick {
	return model.LinkTick{NetNSID: id, AccountedIn: acIn, AccountedOut: acOut, Interfaces: []model.InterfaceTick{
		{Index: 1, Name: "lo", Kind: "loopback", Role: model.RoleLoopback, IPIn: lo, IPOut: lo, LinkIn: lo, LinkOut: lo},
		{Index: 2, Name: "eth0", Kind: "device", Role: model.RoleCounted, IPIn: in, IPOut: out, LinkIn: in + 14, LinkOut: out + 14, PacketsIn: 1, PacketsOut: 1},
	}}
}

func ratio(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// TestCoverageWindows drives ticks with an injected clock: the tick's
// coverage, the 15-minute and 24-hour windows and the total, as ticks
// leave the windows; the loopback never counts; a tick whose interfaces
// moved nothing has no ratio rather than 0 or 1.
func TestCoverageWindows(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type tick struct {
		at   time.Duration // since t0
		read model.LinkTick
	}
	tests := []struct {
		name  string
		ticks []tick
		// the last tick's coverage: tick, 15 min, 24 h, total (in), and
		// the tick's out
		in, in15, in24, inAll, out float64
	}{
		{name: "every byte accounted", ticks: []tick{{time.Second, ethTick(1, 1000, 500, 1e6, 1000, 500)}},
			in: 1, in15: 1, in24: 1, inAll: 1, out: 1},
		{name: "an unexplained tick lowers the windows",
			ticks: []tick{{time.Second, ethTick(1, 1000, 500, 0, 1000, 500)}, {2 * time.Second, ethTick(1, 1000, 500, 0, 0, 500)}},
			in:    0, in15: 0.5, in24: 0.5, inAll: 0.5, out: 1},
		{name: "after 15 minutes the short window forgets",
			ticks: []tick{{time.Second, ethTick(1, 1000, 500, 0, 0, 0)}, {20 * time.Minute, ethTick(1, 1000, 500, 0, 1000, 500)}},
			in:    1, in15: 1, in24: 0.5, inAll: 0.5, out: 1},
		{name: "after a day the long one too",
			ticks: []tick{{time.Second, ethTick(1, 1000, 500, 0, 0, 0)}, {25 * time.Hour, ethTick(1, 1000, 500, 0, 1000, 500)}},
			in:    1, in15: 1, in24: 1, inAll: 0.5, out: 1},
		{name: "more accounted than the interfaces moved: above 1, said as is",
			ticks: []tick{{time.Second, ethTick(1, 1000, 500, 0, 1010, 500)}},
			in:    1.01, in15: 1.01, in24: 1.01, inAll: 1.01, out: 1},
		{name: "a quiet tick: no ratio", ticks: []tick{{time.Second, ethTick(1, 1000, 0, 0, 1000, 0)}, {2 * time.Second, ethTick(1, 0, 0, 0, 0, 0)}},
			in: -1, in15: 1, in24: 1, inAll: 1, out: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &linkMonitor{name: "ct"}
			for _, tk := range tt.ticks {
				m.reads = append(m.reads, tk.read)
			}
			a := New(Config{Interval: time.Second}, []Monitor{m}, nil, nil, t0)
			var s *model.Snapshot
			for _, tk := range tt.ticks {
				s = a.Tick(t0.Add(tk.at))
			}
			c := s.Coverage
			got := []float64{ratio(c.In), ratio(c.Last15m.In), ratio(c.Last24h.In), ratio(c.Total.In), ratio(c.Out)}
			want := []float64{tt.in, tt.in15, tt.in24, tt.inAll, tt.out}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("coverage in (tick, 15m, 24h, total), out = %v, want %v\n%+v", got, want, c)
				}
			}
		})
	}
}

// TestCoverageSpans: a window says how much time it holds while the agent
// is young, and at most its length (and a bucket) once older.
func TestCoverageSpans(t *testing.T) {
	t0 := time.Unix(0, 0)
	m := &linkMonitor{name: "ct", reads: []model.LinkTick{ethTick(1, 10, 10, 0, 10, 10)}}
	a := New(Config{Interval: 10 * time.Second}, []Monitor{m}, nil, nil, t0)
	var s *model.Snapshot
	for i := 1; i <= 6*60*2; i++ { // two hours of 10 s ticks
		s = a.Tick(t0.Add(time.Duration(i) * 10 * time.Second))
		if i == 6 && s.Coverage.Last15m.SpanS != 60 {
			t.Fatalf("after a minute, the 15-minute window spans %v s, want 60", s.Coverage.Last15m.SpanS)
		}
	}
	c := s.Coverage
	if c.SpanS != 10 || c.Last15m.SpanS < 900 || c.Last15m.SpanS > 910 || c.Last24h.SpanS != 7200 || c.Total.SpanS != 7200 {
		t.Errorf("spans tick %v, 15m %v, 24h %v, total %v; want 10, 900 to 910 (a bucket and a tick more), 7200, 7200", c.SpanS, c.Last15m.SpanS, c.Last24h.SpanS, c.Total.SpanS)
	}
	if c.Last15m.InterfaceBytesIn != uint64(c.Last15m.SpanS) || c.Total.InterfaceBytesIn != 7200 {
		t.Errorf("15m bytes %d, total %d; want 1 a second", c.Last15m.InterfaceBytesIn, c.Total.InterfaceBytesIn)
	}
}

// TestCoverageNamespaces: two monitors of one namespace add their
// accounted bytes over its interfaces once; a second namespace adds its
// own; a failed read leaves its namespace out of that tick.
func TestCoverageNamespaces(t *testing.T) {
	t0 := time.Unix(0, 0)
	host1 := &linkMonitor{name: "conntrack", reads: []model.LinkTick{ethTick(1, 1000, 1000, 0, 600, 600)}}
	host2 := &linkMonitor{name: "conntrack-1", reads: []model.LinkTick{ethTick(1, 1000, 1000, 0, 400, 400)}}
	other := &linkMonitor{name: "conntrack-2", reads: []model.LinkTick{ethTick(2, 500, 500, 0, 500, 500)}, fail: map[int]bool{1: true}}
	a := New(Config{Interval: time.Second}, []Monitor{host1, host2, other}, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	if c := s.Coverage; c.InterfaceBytesIn != 1500 || c.AccountedBytesIn != 1500 || ratio(c.In) != 1 {
		t.Errorf("coverage %+v; want 1500 interface bytes, 1500 accounted", c.CoverageSpan)
	}
	if len(s.Interfaces) != 4 {
		t.Errorf("%d interfaces, want 4 (eth0 and lo of two namespaces): %+v", len(s.Interfaces), s.Interfaces)
	}
	s = a.Tick(t0.Add(2 * time.Second))
	if c := s.Coverage; c.InterfaceBytesIn != 1000 || c.AccountedBytesIn != 1000 {
		t.Errorf("with a failed read, coverage %+v; want the host's 1000, 1000", c.CoverageSpan)
	}
	if len(s.Interfaces) != 4 {
		t.Errorf("a failed read dropped its interfaces at once: %+v", s.Interfaces)
	}
}
