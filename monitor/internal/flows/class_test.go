package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/classify"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// drainClasses drains t and returns each key's bytes by class name.
func drainClasses(t *Table, names []string) map[model.Key]map[string][2]uint64 {
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(100, 0)
	t.Drain(c, now)
	out := map[model.Key]map[string][2]uint64{}
	for _, u := range c.Usage(now) {
		m := map[string][2]uint64{}
		for _, r := range u.Classes {
			m[names[r.Class]] = [2]uint64{r.In, r.Out}
		}
		out[u.Entry.Key] = m
	}
	return out
}

// TestClasses checks that each side's bytes go to the class of its
// remote end: the real peer after a DNAT, the initiator for a server, the
// host itself for loopback, the remote host for a forwarded pair.
func TestClasses(t *testing.T) {
	tb, err := classify.New(classify.Config{Rules: []classify.Rule{{Name: "lab", CIDR: []string{"10.0.0.0/24"}}}})
	if err != nil {
		t.Fatal(err)
	}
	names := tb.Names()
	cli := netip.AddrPortFrom(hostIP, 40000)
	lab := netip.AddrPortFrom(peerIP, 443)
	web := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.5"), 443)
	vip := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.10"), 80)
	srv := netip.AddrPortFrom(hostIP, 80)
	remoteCli := netip.AddrPortFrom(netip.MustParseAddr("2001:db8::7"), 5555)
	srv6 := netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 80)
	lcli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 50000)
	lsrv := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 8080)
	inside := netip.AddrPortFrom(netip.MustParseAddr("192.168.1.5"), 3000)
	r := &fakeResolver{
		local:  map[netip.Addr]bool{hostIP: true, srv6.Addr(): true},
		owners: map[netip.AddrPort]*model.Process{cli: curl, srv: nginx, srv6: nginx, lcli: curl, lsrv: nginx},
	}
	cliB := netip.AddrPortFrom(hostIP, 40001)
	cliC := netip.AddrPortFrom(hostIP, 40002)
	r.owners[cliB], r.owners[cliC] = curl, curl
	recs := []ctnetlink.Rec{
		tcpFlow(1, cli, lab, 100, 1000),
		tcpFlow(2, cliB, web, 200, 2000),
		// A DNAT of a service address to a lab host: the real peer's.
		natFlow(3, cliC, vip, lab, cliC, 300, 3000),
		tcpFlow(4, netip.AddrPortFrom(web.Addr(), 6000), srv, 40, 400),
		tcpFlow(5, remoteCli, srv6, 50, 500),
		tcpFlow(6, lcli, lsrv, 7, 70),
		tcpFlow(7, inside, web, 9, 90),
	}
	zero := make([]ctnetlink.Rec, len(recs))
	for i, f := range recs {
		zero[i] = f
		zero[i].OrigBytes, zero[i].ReplyBytes = 0, 0
	}
	ft := New(Options{Classes: tb})
	applyDump(ft, nil, r) // baseline: the flows are all new
	applyDump(ft, zero, r)
	applyDump(ft, recs, r)
	got := drainClasses(ft, names)
	want := map[model.Key]map[string][2]uint64{
		model.KeyProcess(curl): {
			"lab":      {1000 + 3000, 100 + 300},
			"internet": {2000, 200},
			"local":    {70, 7},
		},
		model.KeyProcess(nginx): {
			"internet": {40 + 50, 400 + 500},
			"local":    {7, 70},
		},
		model.KeyForwarded(model.HostPair{Inside: inside.Addr(), Remote: web.Addr()}): {
			"internet": {90, 9},
		},
	}
	for k, w := range want {
		for c, b := range w {
			if got[k][c] != b {
				t.Errorf("%s, class %s: %v, want %v (all: %v)", k, c, got[k][c], b, got[k])
			}
		}
		if len(got[k]) != len(w) {
			t.Errorf("%s: classes %v, want %v", k, got[k], w)
		}
	}

	// Without a classifier every byte is of no class.
	ft = New(Options{})
	applyDump(ft, nil, r)
	applyDump(ft, zero, r)
	applyDump(ft, recs, r)
	for k, m := range drainClasses(ft, names) {
		if len(m) != 0 {
			t.Errorf("%s without classes: %v", k, m)
		}
	}
}
