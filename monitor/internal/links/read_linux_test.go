package links

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// quietNetNS makes a namespace without IPv6 (no router or neighbour
// solicitations, no MLD reports), so its interfaces carry only what a
// test sends.
func quietNetNS(t *testing.T) string {
	t.Helper()
	ns := nettest.NewNetNS(t)
	nettest.MustExec(t, "ip", "netns", "exec", ns, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")
	return ns
}

// macOf returns the hardware address of dev in ns.
func macOf(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	h, err := vnetns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}

func byName(ticks []model.InterfaceTick) map[string]model.InterfaceTick {
	m := map[string]model.InterfaceTick{}
	for _, it := range ticks {
		m[it.Name] = it
	}
	return m
}

// TestReaderCounts sends known UDP datagrams over a veth into a bridge and
// over the loopback, and reads exactly their IP packets' bytes on each
// interface: the header rules of veth, bridge and loopback hold on this
// kernel. Then a new interface, enslaved to a new bridge, is listed on the
// next read with its role, from its notification.
func TestReaderCounts(t *testing.T) {
	nettest.RequireRoot(t)
	a, b := quietNetNS(t), quietNetNS(t)
	va, vb := a+"a", b+"b"
	nettest.MustIP(t, "link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b)
	// Without multicast snooping: with it, the bridge joins the multicast
	// router discovery group (224.0.0.106) and reports that by IGMP some
	// random time after it is up, a packet of its own on br0 and the veth.
	nettest.MustIP(t, "-n", b, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "mcast_snooping", "0")
	nettest.MustIP(t, "-n", b, "link", "set", vb, "master", "br0")
	nettest.MustIP(t, "-n", a, "addr", "add", "10.79.0.1/24", "dev", va)
	nettest.MustIP(t, "-n", b, "addr", "add", "10.79.0.2/24", "dev", "br0")
	for _, l := range [][2]string{{a, va}, {b, vb}, {b, "br0"}} {
		nettest.MustIP(t, "-n", l[0], "link", "set", l[1], "up")
	}
	// The bridge drops what reaches its port before the port forwards.
	nettest.Eventually(t, 10*time.Second, func() error {
		out, err := exec.Command("bridge", "-n", b, "link", "show", "dev", vb).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "state forwarding") {
			return fmt.Errorf("bridge port %s not forwarding yet: %s %v", vb, out, err)
		}
		return nil
	})
	// No ARP in the count.
	nettest.MustIP(t, "-n", a, "neigh", "add", "10.79.0.2", "lladdr", macOf(t, b, "br0").String(), "dev", va, "nud", "permanent")
	nettest.MustIP(t, "-n", b, "neigh", "add", "10.79.0.1", "lladdr", macOf(t, a, va).String(), "dev", "br0", "nud", "permanent")
	gen := nettest.Build(t, "./cmd/bwgen")
	nettest.StartServer(t, b, gen, "udp-sink", "10.79.0.2:9000")
	nettest.StartServer(t, a, gen, "udp-sink", "127.0.0.1:9001")

	ra, err := Open(nettest.NetNSFD(t, a))
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := Open(nettest.NetNSFD(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	for _, r := range []*Reader{ra, rb} {
		if _, err := r.Read(); err != nil { // baselines
			t.Fatal(err)
		}
	}
	const n, size = 200, 1000
	const ip = size + 8 + 20 // UDP and IPv4 headers
	nettest.RunOK(t, 30*time.Second, a, gen, "udp-send", "10.79.0.2:9000", fmt.Sprint(n*size), fmt.Sprint(size))
	nettest.RunOK(t, 30*time.Second, a, gen, "udp-send", "127.0.0.1:9001", fmt.Sprint(n*size), fmt.Sprint(size))
	time.Sleep(100 * time.Millisecond)
	ta, err := ra.Read()
	if err != nil {
		t.Fatal(err)
	}
	got := byName(ta)
	tb, err := rb.Read()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range byName(tb) {
		if k != "lo" { // a's is the one sent over
			got[k] = v
		}
	}
	want := []model.InterfaceTick{
		{Name: va, Kind: "veth", Role: model.RoleCounted, LinkOut: n * (ip + 14), PacketsOut: n, IPOut: n * ip},
		{Name: vb, Kind: "veth", Role: model.RolePort, LinkIn: n * (ip + 14), PacketsIn: n, IPIn: n * ip},
		{Name: "br0", Kind: "bridge", Role: model.RoleCounted, LinkIn: n * ip, PacketsIn: n, IPIn: n * ip},
		{Name: "lo", Kind: "loopback", Role: model.RoleLoopback, LinkIn: n * ip, PacketsIn: n, IPIn: n * ip, LinkOut: n * ip, PacketsOut: n, IPOut: n * ip},
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("%s not read: %+v", w.Name, got)
			continue
		}
		g.Index = 0
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", w.Name, g, w)
		}
	}

	nettest.MustIP(t, "-n", a, "link", "add", "br1", "type", "bridge")
	nettest.MustIP(t, "-n", a, "link", "add", "vx", "type", "veth", "peer", "name", "vy")
	nettest.MustIP(t, "-n", a, "link", "set", "vx", "master", "br1")
	ta, err = ra.Read()
	if err != nil {
		t.Fatal(err)
	}
	got = byName(ta)
	if got["vx"].Role != model.RolePort || got["br1"].Kind != "bridge" || got["vy"].Role != model.RoleCounted {
		t.Errorf("after the change: vx %+v, br1 %+v, vy %+v; want a port, a bridge, a counted veth", got["vx"], got["br1"], got["vy"])
	}
}

// TestReaderOwnNamespace reads the test's own namespace, as any user may;
// a read in the steady state allocates next to nothing.
func TestReaderOwnNamespace(t *testing.T) {
	r, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ticks, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if byName(ticks)["lo"].Role != model.RoleLoopback {
		t.Fatalf("no loopback among %+v", ticks)
	}
	if a := testing.AllocsPerRun(20, func() { _, _ = r.Read() }); a > 2 {
		t.Errorf("a read allocates %.1f times, want at most 2", a)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// BenchmarkRead is the cost of one tick's read of this namespace's
// interfaces: a notification check and one statistics dump.
func BenchmarkRead(b *testing.B) {
	r, err := Open(0)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ticks, err := r.Read()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ticks)), "interfaces")
}
