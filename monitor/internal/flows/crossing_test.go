package flows

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// TestCrossed: the bytes a table books, mapped onto the namespace's
// interfaces: none for loopback, once for a local end, once in and once
// out for a routed flow whoever books it, none when nobody does.
func TestCrossed(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	srv := netip.AddrPortFrom(peerIP, 443)
	inbound := netip.AddrPortFrom(hostIP, 80)
	lcli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 50000)
	lsrv := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 8080)
	ext1 := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 1000)
	ext2 := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), 80)
	ctr := netip.AddrPortFrom(netip.MustParseAddr("172.17.0.2"), 40000)
	masq := netip.AddrPortFrom(hostIP, 61000)
	tests := []struct {
		name    string
		opts    Options
		owners  map[netip.AddrPort]*model.Process
		outside map[netip.Addr]bool
		sockets map[netip.AddrPort]bool
		flow    ctnetlink.Rec // seen at 0, then with these counters
		in, out uint64
	}{
		{name: "a client's connection: its bytes as it sees them", owners: map[netip.AddrPort]*model.Process{cli: curl},
			flow: tcpFlow(1, cli, srv, 300, 5000), in: 5000, out: 300},
		{name: "a server's connection: the responder's side", owners: map[netip.AddrPort]*model.Process{inbound: nginx},
			flow: tcpFlow(2, srv, inbound, 700, 9000), in: 700, out: 9000},
		{name: "no socket: unattributed, still accounted", flow: tcpFlow(3, srv, inbound, 90, 10), in: 90, out: 10},
		{name: "loopback crosses no interface", owners: map[netip.AddrPort]*model.Process{lcli: curl, lsrv: nginx},
			flow: tcpFlow(4, lcli, lsrv, 5000, 300)},
		{name: "ignore_local: nothing", opts: Options{IgnoreLocal: true}, owners: map[netip.AddrPort]*model.Process{lcli: curl, lsrv: nginx},
			flow: tcpFlow(5, lcli, lsrv, 5000, 300)},
		{name: "forwarded: each byte in and out", flow: tcpFlow(6, ext1, ext2, 40, 60), in: 100, out: 100},
		{name: "forwarded = false: nobody counts it", opts: Options{IgnoreForwarded: true}, flow: tcpFlow(7, ext1, ext2, 40, 60)},
		{name: "a container's process behind masquerade: routed, twice", owners: map[netip.AddrPort]*model.Process{ctr: curl},
			flow: natFlow(8, ctr, ext2, ext2, masq, 700, 9000), in: 9700, out: 9700},
		{name: "counted by the container's own table: still routed here", owners: map[netip.AddrPort]*model.Process{ctr: curl},
			outside: map[netip.Addr]bool{ctr.Addr(): true}, flow: natFlow(9, ctr, ext2, ext2, masq, 700, 9000), in: 9700, out: 9700},
		{name: "excluded process: nobody counts it", opts: Options{Keep: func(c string) bool { return !strings.HasPrefix(c, "curl") }},
			owners: map[netip.AddrPort]*model.Process{cli: curl}, flow: tcpFlow(10, cli, srv, 300, 5000)},
		{name: "counted at the socket: the socket counter books its coverage", sockets: map[netip.AddrPort]bool{cli: true},
			flow: tcpFlow(11, cli, srv, 300, 5000)},
		{name: "a container's socket counted at the socket: still routed here", sockets: map[netip.AddrPort]bool{ctr: true},
			flow: natFlow(12, ctr, ext2, ext2, masq, 700, 9000), in: 9700, out: 9700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: tt.owners, elsewhere: tt.outside, sockets: tt.sockets}
			ft := New(tt.opts)
			applyDump(ft, nil, r)
			zero := tt.flow
			zero.OrigBytes, zero.ReplyBytes = 0, 0
			onNew(ft, &zero, r)
			for range tickAttempts + 1 { // an owner not found is settled with a reason
				applyDump(ft, []ctnetlink.Rec{tt.flow}, r)
			}
			drainTable(ft)
			in, out := ft.TakeCrossed()
			if in != tt.in || out != tt.out {
				t.Errorf("crossed in %d, out %d; want %d, %d", in, out, tt.in, tt.out)
			}
			if in, out := ft.TakeCrossed(); in != 0 || out != 0 {
				t.Errorf("a second take gave %d, %d: want nothing", in, out)
			}
		})
	}
}

// TestKeysLeaveSocketCounted: the counters of a flow whose every end is
// counted at the socket are not read (Keys leaves it out); a flow with an
// end of conntrack's, or routed, is.
func TestKeysLeaveSocketCounted(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	cli2 := netip.AddrPortFrom(hostIP, 40001)
	srv := netip.AddrPortFrom(peerIP, 443)
	ctr := netip.AddrPortFrom(netip.MustParseAddr("172.17.0.2"), 40000)
	ext := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), 80)
	masq := netip.AddrPortFrom(hostIP, 61000)
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{cli2: curl},
		sockets: map[netip.AddrPort]bool{cli: true, ctr: true}}
	ft := New(Options{})
	applyDump(ft, nil, r)
	flows := []ctnetlink.Rec{tcpFlow(1, cli, srv, 10, 20), tcpFlow(2, cli2, srv, 10, 20), natFlow(3, ctr, ext, ext, masq, 10, 20)}
	for i := range flows {
		f := flows[i]
		onNew(ft, &f, r)
	}
	applyDump(ft, flows, r)
	keys := ft.Keys(nil)
	if len(keys) != 2 || ft.Len() != 3 {
		t.Fatalf("Keys gave %d of %d flows, want 2 (the socket-counted one left out)", len(keys), ft.Len())
	}
	for _, k := range keys {
		if k == ctnetlink.KeyOf(&flows[0]) {
			t.Errorf("Keys lists the flow counted at the socket")
		}
	}
}

// TestBaselineDumps: with quiet conntrack events a flow first listed by a
// later dump was never announced (its bytes so far are the socket
// counter's): it counts from there, where by default it counts from 0.
func TestBaselineDumps(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	srv := netip.AddrPortFrom(peerIP, 443)
	for _, tc := range []struct {
		baseline bool
		want     [2]uint64
	}{{false, [2]uint64{5500, 1300}}, {true, [2]uint64{500, 300}}} {
		r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{cli: curl}}
		ft := New(Options{BaselineDumps: tc.baseline})
		applyDump(ft, nil, r)
		applyDump(ft, []ctnetlink.Rec{tcpFlow(1, cli, srv, 1000, 5000)}, r)
		applyDump(ft, []ctnetlink.Rec{tcpFlow(1, cli, srv, 1300, 5500)}, r)
		got := drainTable(ft)[model.KeyProcess(curl)]
		if got != tc.want {
			t.Errorf("BaselineDumps %v: in, out %v, want %v", tc.baseline, got, tc.want)
		}
	}
}

// TestQuietTable: with quiet conntrack events (BaselineDumps) no DESTROY
// comes for a local flow counted at the socket: the table forgets such a
// flow a dump listed once it is counted at the socket, and a flow of
// conntrack's that no event announced once three GETs find it gone; an
// announced flow waits for its DESTROY, and a DESTROY of a flow the table
// does not know books nothing.
func TestQuietTable(t *testing.T) {
	sock := netip.AddrPortFrom(hostIP, 40000)
	tw := netip.AddrPortFrom(hostIP, 40001)  // a socket gone (time-wait), its claim expired
	ann := netip.AddrPortFrom(hostIP, 40002) // announced, counted at the socket
	srv := netip.AddrPortFrom(peerIP, 443)
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, sockets: map[netip.AddrPort]bool{sock: true, ann: true}}
	ft := New(Options{BaselineDumps: true})
	applyDump(ft, nil, r)
	announced := tcpFlow(3, ann, srv, 0, 0)
	onNew(ft, &announced, r)
	dumped := []ctnetlink.Rec{tcpFlow(1, sock, srv, 100, 200), tcpFlow(2, tw, srv, 100, 200), tcpFlow(3, ann, srv, 10, 20)}
	applyDump(ft, dumped, r)
	for range tickAttempts { // tw settles with a reason at its last attempt
		ft.ApplyCounters(dumped, r)
	}
	keys := ft.Keys(nil)
	if ft.Len() != 2 || len(keys) != 1 || keys[0] != ctnetlink.KeyOf(&dumped[1]) {
		t.Fatalf("after a dump: %d flows, keys %v; want 2 (the dumped socket-counted one forgotten) and tw's key", ft.Len(), keys)
	}
	for n := 1; n <= 3; n++ {
		ft.ForgetUnanswered(keys, nil)
		if want := 2 - n/3; ft.Len() != want {
			t.Fatalf("after %d unanswered GETs: %d flows, want %d", n, ft.Len(), want)
		}
	}
	gone := tcpFlow(9, netip.AddrPortFrom(hostIP, 40009), srv, 5000, 5000)
	ft.OnDestroy(&gone, r)
	if got := drainTable(ft); len(got) != 0 {
		t.Errorf("booked %v: a flow nobody announced, nor anything of tw or the socket-counted ones", got)
	}
	if ft.Len() != 1 {
		t.Errorf("%d flows: the announced flow must wait for its DESTROY", ft.Len())
	}
}

// TestKeysLeaveDone: a TCP connection in TIME_WAIT or CLOSE moves no more
// bytes: once resolved its counters are not read (its DESTROY brings the
// last ones); with quiet events (BaselineDumps) one no event announced is
// forgotten.
func TestKeysLeaveDone(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	srv := netip.AddrPortFrom(peerIP, 443)
	for _, quiet := range []bool{false, true} {
		r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{cli: curl}}
		ft := New(Options{BaselineDumps: quiet})
		applyDump(ft, nil, r)
		f := tcpFlow(1, cli, srv, 10, 20)
		applyDump(ft, []ctnetlink.Rec{f}, r)
		if n := len(ft.Keys(nil)); n != 1 {
			t.Fatalf("quiet %v: %d keys of a live connection, want 1", quiet, n)
		}
		f.Done = true
		ft.ApplyCounters([]ctnetlink.Rec{f}, r)
		if n := len(ft.Keys(nil)); n != 0 {
			t.Errorf("quiet %v: %d keys of a connection in TIME_WAIT, want none", quiet, n)
		}
		if want := map[bool]int{false: 1, true: 0}[quiet]; ft.Len() != want {
			t.Errorf("quiet %v: %d flows, want %d", quiet, ft.Len(), want)
		}
	}
}
