package monitor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

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

// encodeCT encodes a conntrack entry as the kernel sends it in a dump, a
// GET answer or an event: a netlink message of type typ numbered seq,
// holding both tuples, both byte counters and the ID.
func encodeCT(r ctRec, typ, flags uint16, seq uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, 256)
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	family := byte(unix.AF_INET)
	if !r.orig.src.Is4() {
		family = unix.AF_INET6
	}
	b = append(b, family, 0, 0, 0) // nfgenmsg
	for i, t := range []ctTuple{r.orig, r.reply} {
		tuple := len(b)
		b = appendAttrHdr(b, 0x8000|uint16(ctaTupleOrig+i))
		ip := len(b)
		b = appendAttrHdr(b, 0x8000|ctaTupleIP)
		if family == unix.AF_INET {
			src, dst := t.src.As4(), t.dst.As4()
			b = appendAttr(b, ctaIPv4Src, src[:])
			b = appendAttr(b, ctaIPv4Dst, dst[:])
		} else {
			src, dst := t.src.As16(), t.dst.As16()
			b = appendAttr(b, ctaIPv6Src, src[:])
			b = appendAttr(b, ctaIPv6Dst, dst[:])
		}
		closeAttr(b, ip)
		proto := len(b)
		b = appendAttrHdr(b, 0x8000|ctaTupleProt)
		b = appendAttr(b, ctaProtoNum, []byte{r.proto})
		if r.icmp {
			idT, typT, codeT := uint16(ctaICMPID), uint16(ctaICMPType), uint16(ctaICMPCode)
			if family == unix.AF_INET6 {
				idT, typT, codeT = ctaICMP6ID, ctaICMP6Type, ctaICMP6Code
			}
			b = appendAttr(b, idT, binary.BigEndian.AppendUint16(nil, t.sport))
			b = appendAttr(b, typT, []byte{byte(t.dport >> 8)})
			b = appendAttr(b, codeT, []byte{byte(t.dport)})
		} else {
			b = appendAttr(b, ctaProtoSrc, binary.BigEndian.AppendUint16(nil, t.sport))
			b = appendAttr(b, ctaProtoDst, binary.BigEndian.AppendUint16(nil, t.dport))
		}
		closeAttr(b, proto)
		closeAttr(b, tuple)
	}
	for i, n := range []uint64{r.origBytes, r.replyBytes} {
		ctr := len(b)
		b = appendAttrHdr(b, 0x8000|uint16(ctaCountOrig+i))
		b = appendAttr(b, 1, binary.BigEndian.AppendUint64(nil, 1)) // CTA_COUNTERS_PACKETS
		b = appendAttr(b, ctaCtrBytes, binary.BigEndian.AppendUint64(nil, n))
		closeAttr(b, ctr)
	}
	b = appendAttr(b, ctaID, binary.BigEndian.AppendUint32(nil, r.id))
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	return b
}

// nlmsg is a bare netlink message of type typ numbered seq with payload p.
func nlmsg(typ uint16, seq uint32, p []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(p)+3)
	binary.NativeEndian.PutUint32(b, uint32(unix.NLMSG_HDRLEN+len(p)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nlErr is the kernel's answer errno (0: an acknowledgement) to request seq.
func nlErr(errno unix.Errno, seq uint32) []byte {
	code := -int32(errno)
	return nlmsg(unix.NLMSG_ERROR, seq, binary.NativeEndian.AppendUint32(make([]byte, 0, 20), uint32(code)))
}

const ctNewMsg = ctnlMsgGet &^ 1 // IPCTNL_MSG_CT_NEW: an entry

var (
	tcpRec = ctRec{id: 11, proto: unix.IPPROTO_TCP, origBytes: 5140, replyBytes: 1 << 40,
		orig:  ctTuple{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("192.0.2.7"), sport: 40000, dport: 443},
		reply: ctTuple{src: netip.MustParseAddr("192.0.2.7"), dst: netip.MustParseAddr("10.0.0.1"), sport: 443, dport: 40000}}
	pingRec = ctRec{id: 12, proto: unix.IPPROTO_ICMPV6, icmp: true, origBytes: 104,
		orig:  ctTuple{src: netip.MustParseAddr("fd77::1"), dst: netip.MustParseAddr("fd77::2"), sport: 7, dport: 128 << 8},
		reply: ctTuple{src: netip.MustParseAddr("fd77::2"), dst: netip.MustParseAddr("fd77::1"), sport: 7, dport: 129 << 8}}
)

// TestParseDump decodes datagrams of a dump: entries of this dump, not
// of an earlier one; its end; its error; malformed input.
func TestParseDump(t *testing.T) {
	errMsg := nlErr(unix.EPERM, 5)
	tests := []struct {
		name     string
		datagram []byte
		want     []ctRec
		wantDone bool
		wantErr  bool
	}{
		{"two entries", slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 5), encodeCT(pingRec, ctNewMsg, 0, 5)), []ctRec{tcpRec, pingRec}, false, false},
		{"an earlier dump's entry skipped", slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 4), encodeCT(pingRec, ctNewMsg, 0, 5)), []ctRec{pingRec}, false, false},
		{"entry then done", slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 5), nlmsg(unix.NLMSG_DONE, 5, make([]byte, 4))), []ctRec{tcpRec}, true, false},
		{"error", errMsg, nil, true, true},
		{"length past the end", encodeCT(tcpRec, ctNewMsg, 0, 5)[:60], nil, false, true},
		{"entry without a tuple", nlmsg(ctNewMsg, 5, []byte{2, 0, 0, 0}), nil, false, false},
		{"empty", nil, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &ctDumper{seq: 5}
			done, err := d.parse(tt.datagram)
			if done != tt.wantDone || (err != nil) != tt.wantErr {
				t.Errorf("done %v err %v, want done %v and an error %v", done, err, tt.wantDone, tt.wantErr)
			}
			if !slices.Equal(d.recs, tt.want) {
				t.Errorf("entries\n got  %+v\n want %+v", d.recs, tt.want)
			}
		})
	}
}

// TestParseGet decodes answers to GET requests 10 to 12: an entry, an
// ENOENT, an answer to an older request.
func TestParseGet(t *testing.T) {
	enoent := nlErr(unix.ENOENT, 11)
	d := &ctDumper{seq: 12}
	n, err := d.parseGet(slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 10), enoent, encodeCT(pingRec, ctNewMsg, 0, 9)), 10)
	if err != nil || n != 2 || !slices.Equal(d.recs, []ctRec{tcpRec}) {
		t.Errorf("parseGet = %d, %v with %+v; want 2 answers, the TCP entry", n, err, d.recs)
	}
	if _, err := d.parseGet([]byte{200, 0, 0, 0, 1, 1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0}, 10); err == nil {
		t.Errorf("a message longer than its datagram gave no error")
	}
}

// FuzzParseDump: no datagram makes the dump decoder panic, and what it
// keeps has an original source address (the flow table relies on it).
func FuzzParseDump(f *testing.F) {
	f.Add(slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 5), encodeCT(pingRec, ctNewMsg, 0, 5)), uint32(5))
	f.Add(nlmsg(unix.NLMSG_DONE, 5, nil), uint32(5))
	f.Add(encodeCT(tcpRec, ctNewMsg, 0, 1)[:40], uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		d := &ctDumper{seq: seq}
		_, _ = d.parse(b)
		_, _ = d.parseGet(b, seq)
		for _, r := range d.recs {
			if !r.orig.src.IsValid() {
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
		r := ctRec{id: id, proto: proto, icmp: icmp, origBytes: n, replyBytes: n / 3,
			orig: ctTuple{src: s, dst: d, sport: sport, dport: dport}, reply: ctTuple{src: d, dst: s, sport: dport, dport: sport}}
		if icmp {
			r.reply.sport = sport // the echo ID both ways
		}
		dp := &ctDumper{seq: 1}
		if _, err := dp.parse(encodeCT(r, ctNewMsg, 0, 1)); err != nil || len(dp.recs) != 1 || dp.recs[0] != r {
			t.Fatalf("decoded %+v (%v), want %+v", dp.recs, err, r)
		}
	})
}

// TestParseDumpAllocs: decoding a dump's datagram into the reused slice
// allocates nothing.
func TestParseDumpAllocs(t *testing.T) {
	b := slices.Concat(encodeCT(tcpRec, ctNewMsg, 0, 5), encodeCT(pingRec, ctNewMsg, 0, 5))
	d := &ctDumper{seq: 5, recs: make([]ctRec, 0, 8)}
	if n := testing.AllocsPerRun(100, func() {
		d.recs = d.recs[:0]
		if _, err := d.parse(b); err != nil || len(d.recs) != 2 {
			t.Fatalf("parse: %d entries, %v", len(d.recs), err)
		}
	}); n != 0 {
		t.Errorf("parsing a datagram allocates %.1f times, want none", n)
	}
}
