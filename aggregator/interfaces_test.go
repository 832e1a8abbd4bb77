package aggregator

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmon/bwmon/model"
)

// TestInterfaceLines: totals and rates per interface, the counted ones
// first, names made clean, an interface gone from its namespace dropped.
func TestInterfaceLines(t *testing.T) {
	t0 := time.Unix(0, 0)
	veth := model.InterfaceTick{Index: 3, Name: "veth\x1b[2J\u202e", Kind: "veth", Role: model.RolePort, IPIn: 5000, IPOut: 5000, LinkIn: 5140, LinkOut: 5140, PacketsIn: 10, PacketsOut: 10}
	fake := model.InterfaceTick{Index: 4, Name: model.OtherApp, Kind: "veth", Role: model.RoleCounted}
	first, second := ethTick(1, 1000, 500, 300, 0, 0), ethTick(1, 2000, 1000, 0, 0, 0)
	first.Interfaces = append(first.Interfaces, veth, fake)
	first.NetNS = "blue\xff"
	second.NetNS = first.NetNS
	m := &linkMonitor{name: "ct", reads: []model.LinkTick{first, second}}
	a := New(Config{Interval: time.Second}, []Monitor{m}, nil, nil, t0)
	a.Tick(t0.Add(time.Second))
	s := a.Tick(t0.Add(3 * time.Second))
	var names []string
	for _, l := range s.Interfaces {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, ","); got != "eth0,lo" {
		t.Fatalf("after veth and the lookalike went: %s, want eth0,lo", got)
	}
	eth := s.Interfaces[0]
	want := model.Interface{Name: "eth0", NetNS: `blue\xff`, Kind: "device", Role: model.RoleCounted,
		BytesIn: 3000, BytesOut: 1500, RateIn: 1000, RateOut: 500, LinkBytesIn: 3028, LinkBytesOut: 1528, LinkRateIn: 1007, LinkRateOut: 507,
		PacketsIn: 2, PacketsOut: 2, Since: t0.Add(time.Second)}
	if eth != want {
		t.Errorf("eth0:\n got %+v\nwant %+v", eth, want)
	}

	a = New(Config{Interval: time.Second}, []Monitor{&linkMonitor{name: "ct", reads: []model.LinkTick{first}}}, nil, nil, t0)
	s = a.Tick(t0.Add(time.Second))
	names = names[:0]
	for _, l := range s.Interfaces {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, ","); got != `eth0,\x28other),lo,veth\x1b[2J\u202e` {
		t.Errorf("lines %s: want the counted ones by total, the loopback, then the port; names escaped", got)
	}
}

// TestInterfaceFold: a host of many containers lists MaxInterfaces
// interfaces by name and folds the rest into one line that keeps their
// bytes; the busiest are the ones named.
func TestInterfaceFold(t *testing.T) {
	const n = model.MaxInterfaces + 200
	lt := model.LinkTick{NetNSID: 1}
	var sumIn uint64
	for i := range n {
		in := uint64(1000 + i)
		sumIn += in
		lt.Interfaces = append(lt.Interfaces, model.InterfaceTick{Index: int32(i + 1), Name: fmt.Sprintf("veth%04d%s", i, strings.Repeat("\xff", 300)), Kind: "veth", Role: model.RoleCounted, IPIn: in, LinkIn: in + 14, PacketsIn: 1})
	}
	t0 := time.Unix(0, 0)
	a := New(Config{Interval: time.Second}, []Monitor{&linkMonitor{name: "ct", reads: []model.LinkTick{lt}}}, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	if len(s.Interfaces) != model.MaxInterfaces+1 {
		t.Fatalf("%d lines, want %d and the folded one", len(s.Interfaces), model.MaxInterfaces)
	}
	var got uint64
	for i, l := range s.Interfaces {
		got += l.BytesIn
		if !utf8.ValidString(l.Name) || len(l.Name) > 256 {
			t.Errorf("line %d: name %q not clean or too long", i, l.Name)
		}
	}
	last := s.Interfaces[model.MaxInterfaces]
	if got != sumIn || last.Name != model.OtherApp || last.Folded != 200 {
		t.Errorf("bytes in %d, want %d; last line %q folding %d, want (other) folding 200", got, sumIn, last.Name, last.Folded)
	}
	if !strings.HasPrefix(s.Interfaces[0].Name, fmt.Sprintf("veth%04d", n-1)) {
		t.Errorf("the first line is %.10q, want the busiest", s.Interfaces[0].Name)
	}
	if c := s.Coverage; c.InterfaceBytesIn != sumIn {
		t.Errorf("coverage counts %d interface bytes, want all %d, folded or not", c.InterfaceBytesIn, sumIn)
	}
}
