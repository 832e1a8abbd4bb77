package aggregator

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// fwd is the info of forwarded bytes between inside and remote.
func fwd(inside, remote string) model.Info {
	p := model.HostPair{Inside: netip.MustParseAddr(inside), Remote: netip.MustParseAddr(remote)}
	return model.Info{Forwarded: &p}
}

// hostsOf maps the section's rows by "inside remote".
func hostsOf(f model.Forwarded) map[string]model.ForwardedHosts {
	m := make(map[string]model.ForwardedHosts, len(f.Hosts))
	for _, h := range f.Hosts {
		m[h.Inside+" "+h.Remote] = h
	}
	return m
}

func TestTickForwarded(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	m := &fakeMonitor{batches: [][]add{
		{
			{fwd("10.0.0.2", "192.0.2.7"), 1000, 300},
			{fwd("10.0.0.2", "192.0.2.7"), 24, 1}, // the same pair twice in a tick
			{fwd("10.0.0.3", "2001:db8::1"), 50, 4000},
			{proc(10, "/usr/bin/curl", "curl a"), 700, 70},
			{model.Info{Unattributed: model.ReasonNotLocal}, 5, 6},
		},
		{{fwd("10.0.0.3", "2001:db8::1"), 10, 20}},
		{},
	}}
	// Grouped by user, a Grouper would put an Info without a process in
	// (unknown) or the unattributed bucket: forwarded bytes must reach
	// neither.
	a := New(Config{Grouper: Grouper{By: GroupByUser}, Retention: 10 * time.Second}, []Monitor{m}, nil, nil, t0)

	s := a.Tick(t0.Add(2 * time.Second))
	if len(s.Apps) != 1 || s.Apps[0].App != GroupUnknown || s.Apps[0].BytesIn != 700 {
		t.Fatalf("apps = %+v, want only the curl process (group %s) with 700 bytes in", s.Apps, GroupUnknown)
	}
	if u := s.Unattributed; u.BytesIn != 5 || u.BytesOut != 6 || len(u.Reasons) != 1 {
		t.Fatalf("unattributed = %+v, want only the 5/6 bytes not_local", u)
	}
	f := s.Forwarded
	if f.BytesIn != 1074 || f.BytesOut != 4301 || f.RateIn != 537 || f.RateOut != 2150.5 {
		t.Fatalf("forwarded totals %d/%d at %v/%v B/s, want 1074/4301 at 537/2150.5", f.BytesIn, f.BytesOut, f.RateIn, f.RateOut)
	}
	want := []model.ForwardedHosts{
		{Inside: "10.0.0.3", Remote: "2001:db8::1", BytesIn: 50, BytesOut: 4000, RateIn: 25, RateOut: 2000},
		{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 1024, BytesOut: 301, RateIn: 512, RateOut: 150.5},
	}
	if !reflect.DeepEqual(f.Hosts, want) {
		t.Fatalf("hosts\n%+v\nwant, busiest first,\n%+v", f.Hosts, want)
	}

	s = a.Tick(t0.Add(3 * time.Second))
	f = s.Forwarded
	if f.BytesIn != 1084 || f.BytesOut != 4321 || f.RateIn != 10 || f.RateOut != 20 {
		t.Fatalf("second tick: %d/%d at %v/%v B/s, want 1084/4321 at 10/20", f.BytesIn, f.BytesOut, f.RateIn, f.RateOut)
	}
	h := hostsOf(f)
	if g := h["10.0.0.2 192.0.2.7"]; g.RateIn != 0 || g.RateOut != 0 || g.BytesIn != 1024 {
		t.Fatalf("second tick, idle pair: %+v, want its total and no rate", g)
	}
	if f.Hosts[0].Inside != "10.0.0.3" || f.Hosts[0].BytesOut != 4020 {
		t.Fatalf("second tick: first row %+v, want the active pair with 4020 bytes out", f.Hosts[0])
	}

	// Long after retention the entries are gone, the totals are not.
	s = a.Tick(t0.Add(60 * time.Second))
	if s.Agent.Entries != 0 || s.Forwarded.BytesIn != 1084 || len(s.Forwarded.Hosts) != 2 {
		t.Fatalf("after expiry: %d entries, forwarded %+v; want none and the totals kept", s.Agent.Entries, s.Forwarded)
	}
}

func TestTickForwardedEmpty(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := New(Config{}, nil, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	if s.Forwarded.Hosts == nil || len(s.Forwarded.Hosts) != 0 || s.Forwarded.BytesIn != 0 {
		t.Fatalf("forwarded = %+v, want an empty (not nil) list", s.Forwarded)
	}
}

func TestForwardedBound(t *testing.T) {
	tests := []struct {
		name  string
		bound int
		pairs [][2]string // added in this order, 100 in and 1 out each
		want  map[string]uint64
	}{
		{"under the bound", 4,
			[][2]string{{"10.0.0.2", "192.0.2.1"}, {"10.0.0.2", "192.0.2.2"}},
			map[string]uint64{"10.0.0.2 192.0.2.1": 100, "10.0.0.2 192.0.2.2": 100}},
		{"past it, folded by inside host", 2,
			[][2]string{{"10.0.0.2", "192.0.2.1"}, {"10.0.0.3", "192.0.2.1"}, {"10.0.0.2", "192.0.2.2"}, {"10.0.0.2", "192.0.2.3"}, {"10.0.0.3", "192.0.2.9"}, {"10.0.0.2", "192.0.2.1"}},
			map[string]uint64{"10.0.0.2 192.0.2.1": 200, "10.0.0.3 192.0.2.1": 100, "10.0.0.2 *": 200, "10.0.0.3 *": 100}},
		{"past the folded rows too, all in one", 1,
			[][2]string{{"10.0.0.2", "192.0.2.1"}, {"10.0.0.2", "192.0.2.2"}, {"10.0.0.3", "192.0.2.3"}, {"10.0.0.4", "192.0.2.4"}, {"10.0.0.2", "192.0.2.5"}},
			map[string]uint64{"10.0.0.2 192.0.2.1": 100, "10.0.0.2 *": 200, "* *": 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var batch []add
			for _, p := range tt.pairs {
				batch = append(batch, add{fwd(p[0], p[1]), 100, 1})
			}
			t0 := time.Unix(0, 0)
			a := New(Config{ForwardedPairs: tt.bound}, []Monitor{&fakeMonitor{batches: [][]add{batch}}}, nil, nil, t0)
			f := a.Tick(t0.Add(time.Second)).Forwarded
			got := map[string]uint64{}
			for k, h := range hostsOf(f) {
				got[k] = h.BytesIn
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("rows (bytes in) %v, want %v", got, tt.want)
			}
			n := uint64(len(tt.pairs))
			if f.BytesIn != 100*n || f.BytesOut != n {
				t.Fatalf("section totals %d/%d, want %d/%d: folding must not lose bytes", f.BytesIn, f.BytesOut, 100*n, n)
			}
		})
	}
}

// TestForwardedBoundManyRemotes is a NAT gateway: one inside host talks to
// far more remote hosts than the bound.
func TestForwardedBoundManyRemotes(t *testing.T) {
	const remotes = 5000
	var batch []add
	for i := range remotes {
		batch = append(batch, add{fwd("10.0.0.2", fmt.Sprintf("198.51.%d.%d", i/256, i%256)), uint64(i + 1), 1})
	}
	t0 := time.Unix(0, 0)
	a := New(Config{}, []Monitor{&fakeMonitor{batches: [][]add{batch}}}, nil, nil, t0)
	f := a.Tick(t0.Add(time.Second)).Forwarded
	if len(f.Hosts) != DefaultForwardedPairs+1 {
		t.Fatalf("%d rows, want the %d exact pairs and one folded", len(f.Hosts), DefaultForwardedPairs)
	}
	if want := uint64(remotes * (remotes + 1) / 2); f.BytesIn != want || f.BytesOut != remotes {
		t.Fatalf("section totals %d/%d, want %d/%d", f.BytesIn, f.BytesOut, want, remotes)
	}
	if f.Hosts[0].Remote != ForwardedAll || f.Hosts[0].Inside != "10.0.0.2" {
		t.Fatalf("busiest row %+v, want the folded 10.0.0.2 *", f.Hosts[0])
	}
}

func TestRestoreForwarded(t *testing.T) {
	t0 := time.Unix(2_000_000, 0)
	m := &fakeMonitor{batches: [][]add{{{fwd("10.0.0.2", "192.0.2.7"), 10, 1}, {fwd("10.0.0.9", "192.0.2.8"), 3, 3}}}}
	a := New(Config{ForwardedPairs: 2}, []Monitor{m}, nil, nil, t0)
	a.RestoreForwarded([]model.ForwardedHosts{
		{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 1000, BytesOut: 100, RateIn: 99},
		{Inside: "10.0.0.2", Remote: "*", BytesIn: 5, BytesOut: 5},
		{Inside: "10.0.0.4", Remote: "192.0.2.1", BytesIn: 7, BytesOut: 0},
	})
	f := a.Tick(t0.Add(time.Second)).Forwarded
	got := hostsOf(f)
	want := map[string][2]uint64{
		"10.0.0.2 192.0.2.7": {1010, 101},
		"10.0.0.4 192.0.2.1": {7, 0},
		"10.0.0.2 *":         {5, 5},
		"10.0.0.9 *":         {3, 3}, // a new pair past the bound of 2
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %v", f.Hosts, want)
	}
	for k, w := range want {
		if g := got[k]; g.BytesIn != w[0] || g.BytesOut != w[1] {
			t.Errorf("%s: %d/%d, want %d/%d", k, g.BytesIn, g.BytesOut, w[0], w[1])
		}
	}
	if f.BytesIn != 1025 || f.BytesOut != 109 || f.RateIn != 13 {
		t.Fatalf("section %d/%d at %v B/s in, want 1025/109 at 13 (restored rates ignored)", f.BytesIn, f.BytesOut, f.RateIn)
	}
}
