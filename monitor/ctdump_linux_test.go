package monitor

import (
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestDumperMatchesTiMo compares the lean dump decoder with
// ti-mo/conntrack's Dump on a real table holding TCP, UDP and ICMP flows
// over IPv4 and IPv6.
func TestDumperMatchesTiMo(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Watched)
	gen, _ := nettest.Generator(t, "dumpgen")
	nettest.StartServer(t, p.Peer, gen, "tcp-sink", "[::]:6001")
	nettest.StartServer(t, p.Peer, gen, "udp-sink", "[::]:6002")
	for _, addr := range []string{p.PeerIP4.String(), "[" + p.PeerIP6.String() + "]"} {
		nettest.RunOK(t, 20*time.Second, p.Watched, gen, "tcp-send", addr+":6001", "300000")
		nettest.RunOK(t, 20*time.Second, p.Watched, gen, "udp-flows", addr+":6002", "200")
	}
	nettest.RunOK(t, 20*time.Second, p.Watched, gen, "ping", p.PeerIP4.String(), "3", "100")
	nettest.RunOK(t, 20*time.Second, p.Watched, gen, "ping", p.PeerIP6.String(), "3", "100")

	fd := nettest.NetNSFD(t, p.Watched)
	d, err := dialDumper(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want, err := c.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.dump()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("only %d flows in the reference dump: the generators did not run", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("dumper read %d flows, ti-mo %d", len(got), len(want))
	}
	byID := func(rs []ctRec) { sort.Slice(rs, func(i, j int) bool { return rs[i].id < rs[j].id }) }
	ref := make([]ctRec, len(want))
	for i := range want {
		ref[i] = recOf(&want[i])
	}
	byID(ref)
	byID(got)
	protos := map[uint8]bool{}
	for i := range ref {
		if got[i] != ref[i] {
			t.Fatalf("flow %d differs:\n got  %+v\n want %+v", ref[i].id, got[i], ref[i])
		}
		protos[got[i].proto] = true
	}
	for _, pr := range []uint8{1, 6, 17, 58} {
		if !protos[pr] {
			t.Errorf("no flow of protocol %d compared", pr)
		}
	}

	// Reading every flow by GET gives what the dump gave (many batches),
	// and a tuple with no entry is left out. (The kernel ignores CTA_ID on
	// GET: answers are matched to flows by the ID they carry.)
	keys := make([]flowKey, 0, len(ref)+1)
	for i := range ref {
		keys = append(keys, keyOf(&ref[i]))
	}
	gone := keys[0]
	gone.sport, gone.dport = 1, 1
	keys = append(keys, gone)
	byGet, err := d.get(keys)
	if err != nil {
		t.Fatal(err)
	}
	byGet = append([]ctRec(nil), byGet...)
	byID(byGet)
	if len(byGet) != len(ref) {
		t.Fatalf("GET read %d flows, want %d", len(byGet), len(ref))
	}
	for i := range ref {
		if byGet[i] != ref[i] {
			t.Fatalf("flow %d by GET differs:\n got  %+v\n want %+v", ref[i].id, byGet[i], ref[i])
		}
	}
}

// BenchmarkDump reads the table of the namespace named by
// $BWMON_BENCH_NETNS (the bench suite fills one with 100,000 flows).
func BenchmarkDump(b *testing.B) {
	ns := os.Getenv("BWMON_BENCH_NETNS")
	if ns == "" {
		b.Skip("set BWMON_BENCH_NETNS to a namespace with a full conntrack table")
	}
	d, err := dialDumper(nettest.NetNSFD(b, ns))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		recs, err := d.dump()
		if err != nil {
			b.Fatal(err)
		}
		n = len(recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/flow")
	b.ReportMetric(float64(n), "flows")
	_ = strconv.Itoa
}

// BenchmarkGet reads by GET every flow of the namespace named by
// $BWMON_BENCH_NETNS, to set against BenchmarkDump (see getMax).
func BenchmarkGet(b *testing.B) {
	ns := os.Getenv("BWMON_BENCH_NETNS")
	if ns == "" {
		b.Skip("set BWMON_BENCH_NETNS to a namespace with a full conntrack table")
	}
	d, err := dialDumper(nettest.NetNSFD(b, ns))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	recs, err := d.dump()
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]flowKey, len(recs))
	for i := range recs {
		keys[i] = keyOf(&recs[i])
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		got, err := d.get(keys)
		if err != nil {
			b.Fatal(err)
		}
		n = len(got)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/flow")
	b.ReportMetric(float64(n), "flows")
}
