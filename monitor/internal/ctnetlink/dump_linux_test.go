package ctnetlink_test

import (
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink/cttest"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
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
	d, err := ctnetlink.DialDumper(fd)
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
	got, err := dumpAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("only %d flows in the reference dump: the generators did not run", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("dumper read %d flows, ti-mo %d", len(got), len(want))
	}
	byID := func(rs []ctnetlink.Rec) { sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID }) }
	ref := make([]ctnetlink.Rec, len(want))
	for i := range want {
		ref[i] = ctnetlink.RecOf(&want[i])
	}
	byID(ref)
	byID(got)
	protos := map[uint8]bool{}
	for i := range ref {
		if got[i] != ref[i] {
			t.Fatalf("flow %d differs:\n got  %+v\n want %+v", ref[i].ID, got[i], ref[i])
		}
		protos[got[i].Proto] = true
	}
	for _, pr := range []uint8{1, 6, 17, 58} {
		if !protos[pr] {
			t.Errorf("no flow of protocol %d compared", pr)
		}
	}

	// Reading every flow by GET gives what the dump gave (many batches),
	// and a tuple with no entry is left out. (The kernel ignores CTA_ID on
	// GET: answers are matched to flows by the ID they carry.)
	keys := make([]ctnetlink.Key, 0, len(ref)+1)
	for i := range ref {
		keys = append(keys, ctnetlink.KeyOf(&ref[i]))
	}
	gone := ref[0]
	gone.Orig.SPort, gone.Orig.DPort = 1, 1
	keys = append(keys, ctnetlink.KeyOf(&gone))
	byGet, err := d.Get(keys)
	if err != nil {
		t.Fatal(err)
	}
	byGet = append([]ctnetlink.Rec(nil), byGet...)
	byID(byGet)
	if len(byGet) != len(ref) {
		t.Fatalf("GET read %d flows, want %d", len(byGet), len(ref))
	}
	for i := range ref {
		if byGet[i] != ref[i] {
			t.Fatalf("flow %d by GET differs:\n got  %+v\n want %+v", ref[i].ID, byGet[i], ref[i])
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
	d, err := ctnetlink.DialDumper(nettest.NetNSFD(b, ns))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = 0
		err := d.DumpEach(func(recs []ctnetlink.Rec) { n += len(recs) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/flow")
	b.ReportMetric(float64(n), "flows")
}

// BenchmarkGet reads by GET every flow of the namespace named by
// $BWMON_BENCH_NETNS, to set against BenchmarkDump (the monitor reads small tables by GET).
func BenchmarkGet(b *testing.B) {
	ns := os.Getenv("BWMON_BENCH_NETNS")
	if ns == "" {
		b.Skip("set BWMON_BENCH_NETNS to a namespace with a full conntrack table")
	}
	d, err := ctnetlink.DialDumper(nettest.NetNSFD(b, ns))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	recs, err := dumpAll(d)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]ctnetlink.Key, len(recs))
	for i := range recs {
		keys[i] = ctnetlink.KeyOf(&recs[i])
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		got, err := d.Get(keys)
		if err != nil {
			b.Fatal(err)
		}
		n = len(got)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/flow")
	b.ReportMetric(float64(n), "flows")
}

// dumpAll reads the whole table into one slice.
func dumpAll(d *ctnetlink.Dumper) ([]ctnetlink.Rec, error) {
	var all []ctnetlink.Rec
	err := d.DumpEach(func(b []ctnetlink.Rec) { all = append(all, b...) })
	return all, err
}

var (
	tcpRec = ctnetlink.Rec{ID: 11, Proto: unix.IPPROTO_TCP, OrigBytes: 5140, ReplyBytes: 1 << 40,
		Orig:  ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.7"), SPort: 40000, DPort: 443},
		Reply: ctnetlink.Tuple{Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("10.0.0.1"), SPort: 443, DPort: 40000}}
	pingRec = ctnetlink.Rec{ID: 12, Proto: unix.IPPROTO_ICMPV6, ICMP: true, OrigBytes: 104,
		Orig:  ctnetlink.Tuple{Src: netip.MustParseAddr("fd77::1"), Dst: netip.MustParseAddr("fd77::2"), SPort: 7, DPort: 128 << 8},
		Reply: ctnetlink.Tuple{Src: netip.MustParseAddr("fd77::2"), Dst: netip.MustParseAddr("fd77::1"), SPort: 7, DPort: 129 << 8}}
)

// entry is rec as an entry of a dump or a GET answer numbered seq.
func entry(rec ctnetlink.Rec, seq uint32) []byte { return cttest.Encode(rec, cttest.TypeNew, 0, seq) }

// TestParseDump decodes datagrams of a dump: entries of this dump, not
// of an earlier one; its end; its error; malformed input.
func TestParseDump(t *testing.T) {
	errMsg := nltest.Err(unix.EPERM, 5)
	tests := []struct {
		name     string
		datagram []byte
		want     []ctnetlink.Rec
		wantDone bool
		wantErr  bool
	}{
		{"two entries", slices.Concat(entry(tcpRec, 5), entry(pingRec, 5)), []ctnetlink.Rec{tcpRec, pingRec}, false, false},
		{"an earlier dump's entry skipped", slices.Concat(entry(tcpRec, 4), entry(pingRec, 5)), []ctnetlink.Rec{pingRec}, false, false},
		{"entry then done", slices.Concat(entry(tcpRec, 5), nltest.Msg(unix.NLMSG_DONE, 5, make([]byte, 4))), []ctnetlink.Rec{tcpRec}, true, false},
		{"error", errMsg, nil, true, true},
		{"length past the end", entry(tcpRec, 5)[:60], nil, false, true},
		{"entry without a tuple", nltest.Msg(cttest.TypeNew, 5, []byte{2, 0, 0, 0}), nil, false, false},
		{"empty", nil, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, done, err := ctnetlink.ParseDump(tt.datagram, 5, nil)
			if done != tt.wantDone || (err != nil) != tt.wantErr {
				t.Errorf("done %v err %v, want done %v and an error %v", done, err, tt.wantDone, tt.wantErr)
			}
			if !slices.Equal(recs, tt.want) {
				t.Errorf("entries\n got  %+v\n want %+v", recs, tt.want)
			}
		})
	}
}

// TestParseGet decodes answers to GET requests 10 to 12: an entry, an
// ENOENT, an answer to an older request.
func TestParseGet(t *testing.T) {
	enoent := nltest.Err(unix.ENOENT, 11)
	recs, n, err := ctnetlink.ParseGet(slices.Concat(entry(tcpRec, 10), enoent, entry(pingRec, 9)), 10, 12, nil)
	if err != nil || n != 2 || !slices.Equal(recs, []ctnetlink.Rec{tcpRec}) {
		t.Errorf("ParseGet = %d, %v with %+v; want 2 answers, the TCP entry", n, err, recs)
	}
	if _, _, err := ctnetlink.ParseGet([]byte{200, 0, 0, 0, 1, 1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0}, 10, 12, nil); err == nil {
		t.Errorf("a message longer than its datagram gave no error")
	}
}

// FuzzParseDump: no datagram makes the dump decoder panic, and what it
// keeps has an original source address (the flow table relies on it).
func FuzzParseDump(f *testing.F) {
	f.Add(slices.Concat(entry(tcpRec, 5), entry(pingRec, 5)), uint32(5))
	f.Add(nltest.Msg(unix.NLMSG_DONE, 5, nil), uint32(5))
	f.Add(entry(tcpRec, 1)[:40], uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		recs, _, _ := ctnetlink.ParseDump(b, seq, nil)
		recs, _, _ = ctnetlink.ParseGet(b, seq, seq, recs)
		for _, r := range recs {
			if !r.Orig.Src.IsValid() {
				t.Fatalf("kept an entry with no source: %+v", r)
			}
		}
	})
}

// FuzzCTRoundTrip: an entry encoded as the kernel does decodes to itself.
func FuzzCTRoundTrip(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, []byte{192, 0, 2, 7}, uint16(40000), uint16(443), uint8(unix.IPPROTO_TCP), uint32(11), uint64(5140), false)
	f.Add(netip.MustParseAddr("fd77::1").AsSlice(), netip.MustParseAddr("fd77::2").AsSlice(), uint16(7), uint16(128<<8), uint8(unix.IPPROTO_ICMPV6), uint32(12), uint64(104), true)
	f.Fuzz(func(t *testing.T, src, dst []byte, sport, dport uint16, proto uint8, id uint32, n uint64, icmp bool) {
		s, ok1 := netip.AddrFromSlice(src)
		d, ok2 := netip.AddrFromSlice(dst)
		if !ok1 || !ok2 || s.Is4() != d.Is4() {
			return
		}
		r := ctnetlink.Rec{ID: id, Proto: proto, ICMP: icmp, OrigBytes: n, ReplyBytes: n / 3,
			Orig: ctnetlink.Tuple{Src: s, Dst: d, SPort: sport, DPort: dport}, Reply: ctnetlink.Tuple{Src: d, Dst: s, SPort: dport, DPort: sport}}
		if icmp {
			r.Reply.SPort = sport // the echo ID both ways
		}
		if recs, _, err := ctnetlink.ParseDump(entry(r, 1), 1, nil); err != nil || len(recs) != 1 || recs[0] != r {
			t.Fatalf("decoded %+v (%v), want %+v", recs, err, r)
		}
	})
}

// TestParseDumpAllocs: decoding a dump's datagram into the reused slice
// allocates nothing.
func TestParseDumpAllocs(t *testing.T) {
	b := slices.Concat(entry(tcpRec, 5), entry(pingRec, 5))
	recs := make([]ctnetlink.Rec, 0, 8)
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if recs, _, err = ctnetlink.ParseDump(b, 5, recs[:0]); err != nil || len(recs) != 2 {
			t.Fatalf("ParseDump: %d entries, %v", len(recs), err)
		}
	}); n != 0 {
		t.Errorf("parsing a datagram allocates %.1f times, want none", n)
	}
}
