package links

import (
	"math"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestDelta(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		want      uint64
	}{
		{name: "forward", prev: 100, cur: 250, want: 150},
		{name: "unchanged", prev: 7, cur: 7, want: 0},
		{name: "a 32-bit counter wraps", prev: math.MaxUint32 - 99, cur: 50, want: 150},
		{name: "reset: counts from zero", prev: 5 << 30, cur: 1000, want: 1000},
		{name: "a 32-bit counter far from its wrap went back: reset", prev: 1 << 30, cur: 10, want: 10},
		{name: "a 64-bit counter went back: reset", prev: 1 << 40, cur: 1 << 39, want: 1 << 39},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Delta(tt.prev, tt.cur); got != tt.want {
				t.Errorf("Delta(%d, %d) = %d, want %d", tt.prev, tt.cur, got, tt.want)
			}
		})
	}
}

// TestTracker follows a namespace over reads: the first sets baselines, an
// interface that appears later counts from zero, one that goes is
// forgotten, one not yet listed waits for the listing with its counters.
func TestTracker(t *testing.T) {
	lo := Link{Index: 1, Name: "lo", Type: arphrdLoopback, Flags: iffLoopback}
	eth := Link{Index: 2, Name: "eth0", Type: arphrdEther}
	br := Link{Index: 3, Name: "br0", Type: arphrdEther, Kind: "bridge"}
	port := Link{Index: 4, Name: "veth9", Type: arphrdEther, Kind: "veth", Master: 3}
	type read struct {
		links []Link // a listing before the read; nil: none
		stats []Stat
		want  []model.InterfaceTick
	}
	tk := func(l Link, kind string, role model.InterfaceRole, lin, pin, lout, pout, ipin, ipout uint64) model.InterfaceTick {
		return model.InterfaceTick{Index: l.Index, Name: l.Name, Kind: kind, Role: role, LinkIn: lin, PacketsIn: pin, LinkOut: lout, PacketsOut: pout, IPIn: ipin, IPOut: ipout}
	}
	st := func(i int32, bin, pin, bout, pout uint64) Stat {
		return Stat{Index: i, Counters: Counters{BytesIn: bin, PacketsIn: pin, BytesOut: bout, PacketsOut: pout}}
	}
	reads := []read{
		{links: []Link{lo, eth}, stats: []Stat{st(1, 500, 5, 500, 5), st(2, 1e6, 1000, 2e6, 2000)},
			want: []model.InterfaceTick{tk(lo, "loopback", model.RoleLoopback, 0, 0, 0, 0, 0, 0), tk(eth, "device", model.RoleCounted, 0, 0, 0, 0, 0, 0)}},
		{stats: []Stat{st(1, 600, 6, 600, 6), st(2, 1e6+1042, 1001, 2e6+2084, 2002)},
			want: []model.InterfaceTick{tk(lo, "loopback", model.RoleLoopback, 100, 1, 100, 1, 100, 100), tk(eth, "device", model.RoleCounted, 1042, 1, 2084, 2, 1028, 2056)}},
		// A bridge appears, not yet listed: it waits, counters and all.
		{stats: []Stat{st(1, 600, 6, 600, 6), st(2, 1e6+1042, 1001, 2e6+2084, 2002), st(3, 1028, 1, 1042, 1)},
			want: []model.InterfaceTick{tk(lo, "loopback", model.RoleLoopback, 0, 0, 0, 0, 0, 0), tk(eth, "device", model.RoleCounted, 0, 0, 0, 0, 0, 0)}},
		// Listed, with a port: both count from zero, as new.
		{links: []Link{lo, eth, br, port}, stats: []Stat{st(2, 1e6+1042, 1001, 2e6+2084, 2002), st(3, 2056, 2, 2084, 2), st(4, 2084, 2, 2084, 2)},
			want: []model.InterfaceTick{tk(eth, "device", model.RoleCounted, 0, 0, 0, 0, 0, 0), tk(br, "bridge", model.RoleCounted, 2056, 2, 2084, 2, 2056, 2056),
				tk(port, "veth", model.RolePort, 2084, 2, 2084, 2, 2056, 2056)}},
		// The loopback went missing from the last read, so it counts anew.
		{stats: []Stat{st(1, 700, 7, 700, 7), st(2, 100, 1, 2e6+2084, 2002)},
			want: []model.InterfaceTick{tk(lo, "loopback", model.RoleLoopback, 700, 7, 700, 7, 700, 700), tk(eth, "device", model.RoleCounted, 100, 1, 0, 0, 86, 0)}},
	}
	tr := NewTracker()
	for i, r := range reads {
		if r.links != nil {
			tr.SetLinks(append([]Link(nil), r.links...))
		}
		got := tr.Update(r.stats)
		if len(got) != len(r.want) {
			t.Fatalf("read %d: %+v, want %+v", i, got, r.want)
		}
		for j := range got {
			if got[j] != r.want[j] {
				t.Errorf("read %d, %s: %+v, want %+v", i, got[j].Name, got[j], r.want[j])
			}
		}
	}
}
