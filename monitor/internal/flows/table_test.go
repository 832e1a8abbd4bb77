package flows

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// fakeResolver answers from tables: local addresses, and owners by local
// endpoint. An endpoint in pending stays unresolved until Final.
type fakeResolver struct {
	local   map[netip.Addr]bool
	owners  map[netip.AddrPort]*model.Process
	pending map[netip.AddrPort]bool
	// elsewhere holds inside addresses whose namespace's own table
	// counts their flows.
	elsewhere map[netip.Addr]bool
	// sockets holds ends a socket counter counts (ReasonAtSocket).
	sockets map[netip.AddrPort]bool
	calls   int
}

func (f *fakeResolver) IsLocal(a netip.Addr) bool { return a.IsLoopback() || f.local[a] }

func (f *fakeResolver) Resolve(proto uint8, local, remote netip.AddrPort, level Level) (model.Info, bool) {
	f.calls++
	if f.sockets[local] {
		return model.Info{Unattributed: ReasonAtSocket}, true
	}
	if f.pending[local] && level != Final {
		return model.Info{}, false
	}
	if p, ok := f.owners[local]; ok {
		return model.Info{Process: p}, true
	}
	if level != Final {
		return model.Info{}, false
	}
	return model.Info{Unattributed: model.ReasonNoSocket}, true
}

// CountedAtSocket implements Counted from sockets.
func (f *fakeResolver) CountedAtSocket(proto uint8, local, remote netip.AddrPort) bool {
	return f.sockets[local]
}

// resolveOuter answers a NATed end from owners, like a socket found in
// another namespace, and anything else with its pair of hosts.
func (f *fakeResolver) ResolveOuter(proto uint8, e *Ends, level Level) (model.Info, bool) {
	f.calls++
	if f.elsewhere[e.Local.Addr()] {
		return model.Info{Unattributed: ReasonElsewhere}, true
	}
	if f.sockets[e.Local] && e.NAT {
		return model.Info{Unattributed: ReasonAtSocket}, true
	}
	if p, ok := f.owners[e.Local]; ok && e.NAT {
		return model.Info{Process: p}, true
	}
	if e.NAT && level != Final {
		return model.Info{}, false
	}
	return model.Info{Forwarded: &model.HostPair{Inside: e.Local.Addr(), Remote: e.Remote.Addr()}}, true
}

// natFlow makes a TCP flow whose reply tuple is reply (NAT).
func natFlow(id uint32, src, dst, replySrc, replyDst netip.AddrPort, orig, reply uint64) ctnetlink.Rec {
	return ctnetlink.Rec{ID: id, Proto: 6,
		Orig:      ctnetlink.Tuple{Src: src.Addr(), Dst: dst.Addr(), SPort: src.Port(), DPort: dst.Port()},
		Reply:     ctnetlink.Tuple{Src: replySrc.Addr(), Dst: replyDst.Addr(), SPort: replySrc.Port(), DPort: replyDst.Port()},
		OrigBytes: orig, ReplyBytes: reply}
}

var (
	hostIP = netip.MustParseAddr("10.0.0.1")
	peerIP = netip.MustParseAddr("10.0.0.9")
	curl   = &model.Process{PID: 10, StartTime: 1, Exe: "/usr/bin/curl", Cmdline: "curl x"}
	nginx  = &model.Process{PID: 20, StartTime: 1, Exe: "/usr/sbin/nginx", Cmdline: "nginx: worker"}
)

// tcpFlow makes a TCP flow from src to dst with no NAT.
func tcpFlow(id uint32, src, dst netip.AddrPort, orig, reply uint64) ctnetlink.Rec {
	return natFlow(id, src, dst, dst, src, orig, reply)
}

func drainTable(t *Table) map[model.Key][2]uint64 {
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(100, 0)
	t.Drain(c, now)
	out := map[model.Key][2]uint64{}
	for _, u := range c.Usage(now) {
		out[u.Entry.Key] = [2]uint64{u.In, u.Out}
	}
	return out
}

func TestFlowTable(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	srv := netip.AddrPortFrom(peerIP, 443)
	lcli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 50000)
	lsrv := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 8080)
	ext1 := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 1000)
	ext2 := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), 80)
	inbound := netip.AddrPortFrom(hostIP, 80)
	ctr := netip.AddrPortFrom(netip.MustParseAddr("172.17.0.2"), 40000)
	ctrSrv := netip.AddrPortFrom(netip.MustParseAddr("172.17.0.3"), 80)
	masq := netip.AddrPortFrom(hostIP, 61000)
	fwd := netip.AddrPortFrom(hostIP, 8080)
	kc, kn := model.KeyProcess(curl), model.KeyProcess(nginx)

	type step func(ft *Table, r *fakeResolver)
	dump := func(fs ...ctnetlink.Rec) step {
		return func(ft *Table, r *fakeResolver) { applyDump(ft, fs, r) }
	}
	newEv := func(f ctnetlink.Rec) step {
		return func(ft *Table, r *fakeResolver) { onNew(ft, &f, r) }
	}
	destroy := func(f ctnetlink.Rec) step {
		return func(ft *Table, r *fakeResolver) { ft.OnDestroy(&f, r) }
	}
	get := func(fs ...ctnetlink.Rec) step {
		return func(ft *Table, r *fakeResolver) { ft.ApplyCounters(fs, r) }
	}
	// dumpFirst lists f in a dump before its NEW event is handled.
	dumpFirst := func(f ctnetlink.Rec) step {
		return func(ft *Table, r *fakeResolver) {
			pending := r.pending
			r.pending = map[netip.AddrPort]bool{}
			for a := range r.owners {
				r.pending[a] = true // the dump's lookups find nothing yet
			}
			applyDump(ft, []ctnetlink.Rec{f}, r)
			r.pending = pending
		}
	}
	tests := []struct {
		name    string
		opts    Options
		owners  map[netip.AddrPort]*model.Process
		pending map[netip.AddrPort]bool
		outside map[netip.Addr]bool // fakeResolver.elsewhere
		steps   []step
		want    map[model.Key][2]uint64 // in, out
	}{
		{
			name:   "bytes before start are not counted",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps:  []step{dump(tcpFlow(1, cli, srv, 1000, 5000)), dump(tcpFlow(1, cli, srv, 1300, 9000))},
			want:   map[model.Key][2]uint64{kc: {4000, 300}},
		},
		{
			name:   "new flow counts from zero, destroy adds the final bytes",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps: []step{dump(), newEv(tcpFlow(2, cli, srv, 0, 0)),
				dump(tcpFlow(2, cli, srv, 100, 1000)), destroy(tcpFlow(2, cli, srv, 150, 1600))},
			want: map[model.Key][2]uint64{kc: {1600, 150}},
		},
		{
			name:   "a stale dump after destroy does not count again",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps: []step{dump(), newEv(tcpFlow(3, cli, srv, 0, 0)),
				destroy(tcpFlow(3, cli, srv, 200, 2000)), dump(tcpFlow(3, cli, srv, 180, 1900))},
			want: map[model.Key][2]uint64{kc: {2000, 200}},
		},
		{
			name:   "a flow born and gone between dumps is counted once",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps:  []step{dump(), newEv(tcpFlow(4, cli, srv, 0, 0)), destroy(tcpFlow(4, cli, srv, 70, 700)), dump()},
			want:   map[model.Key][2]uint64{kc: {700, 70}},
		},
		{
			name:   "destroy before the first dump belongs to flows older than bwmon",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps:  []step{destroy(tcpFlow(5, cli, srv, 70, 700)), dump()},
			want:   map[model.Key][2]uint64{},
		},
		{
			name:   "loopback counts for both ends",
			owners: map[netip.AddrPort]*model.Process{lcli: curl, lsrv: nginx},
			steps:  []step{dump(), newEv(tcpFlow(6, lcli, lsrv, 0, 0)), dump(tcpFlow(6, lcli, lsrv, 5000, 300))},
			want:   map[model.Key][2]uint64{kc: {300, 5000}, kn: {5000, 300}},
		},
		{
			name:   "ignore_local drops loopback",
			opts:   Options{IgnoreLocal: true},
			owners: map[netip.AddrPort]*model.Process{lcli: curl, lsrv: nginx},
			steps:  []step{dump(), newEv(tcpFlow(7, lcli, lsrv, 0, 0)), dump(tcpFlow(7, lcli, lsrv, 5000, 300))},
			want:   map[model.Key][2]uint64{},
		},
		{
			name:  "a routed flow is forwarded, inside host = initiator",
			steps: []step{dump(), dump(tcpFlow(8, ext1, ext2, 40, 60))},
			want:  map[model.Key][2]uint64{model.KeyForwarded(model.HostPair{Inside: ext1.Addr(), Remote: ext2.Addr()}): {60, 40}},
		},
		{
			name:  "forwarded = false drops routed flows",
			opts:  Options{IgnoreForwarded: true},
			steps: []step{dump(), dump(tcpFlow(8, ext1, ext2, 40, 60))},
			want:  map[model.Key][2]uint64{},
		},
		{
			name:   "masqueraded container: its socket's process, as the initiator",
			owners: map[netip.AddrPort]*model.Process{ctr: curl},
			steps: []step{dump(), newEv(natFlow(12, ctr, ext2, ext2, masq, 0, 0)),
				dump(natFlow(12, ctr, ext2, ext2, masq, 700, 9000))},
			want: map[model.Key][2]uint64{kc: {9000, 700}},
		},
		{
			name:   "port forwarded to a container: its socket's process, as the responder",
			owners: map[netip.AddrPort]*model.Process{ctrSrv: nginx},
			steps: []step{dump(), newEv(natFlow(13, ext1, fwd, ctrSrv, ext1, 0, 0)),
				dump(natFlow(13, ext1, fwd, ctrSrv, ext1, 300, 5000))},
			want: map[model.Key][2]uint64{kn: {300, 5000}},
		},
		{
			name: "masqueraded LAN host: forwarded, keyed by the inside host",
			steps: []step{dump(), newEv(natFlow(14, ctr, ext2, ext2, masq, 0, 0)),
				dump(natFlow(14, ctr, ext2, ext2, masq, 700, 9000)), dump(natFlow(14, ctr, ext2, ext2, masq, 700, 9000))},
			want: map[model.Key][2]uint64{model.KeyForwarded(model.HostPair{Inside: ctr.Addr(), Remote: ext2.Addr()}): {9000, 700}},
		},
		{
			name:    "a server socket found a tick late still gets every byte",
			owners:  map[netip.AddrPort]*model.Process{inbound: nginx},
			pending: map[netip.AddrPort]bool{inbound: true},
			steps: []step{dump(), newEv(tcpFlow(9, srv, inbound, 0, 0)),
				dump(tcpFlow(9, srv, inbound, 500, 8000)), dump(tcpFlow(9, srv, inbound, 600, 9000))},
			want: map[model.Key][2]uint64{kn: {600, 9000}},
		},
		{
			name:  "no socket: unattributed, not lost",
			steps: []step{dump(), newEv(tcpFlow(10, srv, inbound, 0, 0)), dump(tcpFlow(10, srv, inbound, 50, 0)), dump(tcpFlow(10, srv, inbound, 90, 0))},
			want:  map[model.Key][2]uint64{model.KeyUnattributed(model.ReasonNoSocket): {90, 0}},
		},
		{
			name:   "exclude drops the process's bytes",
			opts:   Options{Keep: func(cmdline string) bool { return !strings.HasPrefix(cmdline, "curl") }},
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps:  []step{dump(), newEv(tcpFlow(11, cli, srv, 0, 0)), dump(tcpFlow(11, cli, srv, 10, 10))},
			want:   map[model.Key][2]uint64{},
		},
		{
			name:   "counters read by GET between dumps",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps: []step{dump(), newEv(tcpFlow(15, cli, srv, 0, 0)), get(tcpFlow(15, cli, srv, 100, 1000)),
				get(tcpFlow(15, cli, srv, 150, 3000), tcpFlow(99, cli, srv, 5, 5)), dump(tcpFlow(15, cli, srv, 160, 3100))},
			want: map[model.Key][2]uint64{kc: {3100, 160}},
		},
		{
			name:   "a flow a dump listed first keeps the owner its NEW event found",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps: []step{dump(), dumpFirst(tcpFlow(16, cli, srv, 10, 100)), newEv(tcpFlow(16, cli, srv, 0, 0)),
				dump(tcpFlow(16, cli, srv, 20, 300))},
			want: map[model.Key][2]uint64{kc: {300, 20}},
		},
		{
			name:    "a flow another namespace's table counts is skipped",
			owners:  map[netip.AddrPort]*model.Process{ctr: curl},
			outside: map[netip.Addr]bool{ctr.Addr(): true},
			steps: []step{dump(), newEv(natFlow(17, ctr, ext2, ext2, masq, 0, 0)),
				dump(natFlow(17, ctr, ext2, ext2, masq, 700, 9000))},
			want: map[model.Key][2]uint64{},
		},
		{
			name:   "leave_old_outer: a flow leaving the namespace found in the first dump is skipped, its own loopback is not",
			opts:   Options{LeaveOldOuter: true},
			owners: map[netip.AddrPort]*model.Process{cli: curl, lcli: curl, lsrv: nginx},
			steps: []step{dump(tcpFlow(18, cli, srv, 10, 10), tcpFlow(19, lcli, lsrv, 10, 10)),
				dump(tcpFlow(18, cli, srv, 50, 500), tcpFlow(19, lcli, lsrv, 40, 30))},
			want: map[model.Key][2]uint64{kc: {20, 30}, kn: {30, 20}},
		},
		{
			name:   "a flow that vanished without DESTROY is dropped after three dumps",
			owners: map[netip.AddrPort]*model.Process{cli: curl},
			steps:  []step{dump(), newEv(tcpFlow(12, cli, srv, 0, 0)), dump(tcpFlow(12, cli, srv, 10, 10)), dump(), dump(), dump(), destroy(tcpFlow(12, cli, srv, 99, 99))},
			want:   map[model.Key][2]uint64{kc: {10, 10}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: tt.owners, pending: tt.pending, elsewhere: tt.outside}
			ft := New(tt.opts)
			got := map[model.Key][2]uint64{}
			for _, s := range tt.steps {
				s(ft, r)
				for k, v := range drainTable(ft) {
					got[k] = [2]uint64{got[k][0] + v[0], got[k][1] + v[1]}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s: got in/out %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// applyDump applies a whole dump at once, resolving in line (deferred:
// leaving the owners to ResolvePending).
func applyDump(ft *Table, recs []ctnetlink.Rec, r Resolver) { applyDumpDeferred(ft, recs, r, false) }

func applyDumpDeferred(ft *Table, recs []ctnetlink.Rec, r Resolver, deferred bool) {
	ft.BeginDump()
	ft.DumpBatch(recs, r)
	ft.EndDump(r, deferred)
}

// onNew handles a NEW event as the monitor's workers do.
func onNew(ft *Table, f *ctnetlink.Rec, r Resolver) {
	p := ft.PrepareNew(f, r)
	ft.InsertNew(&p)
}

// TestDeferredResolution checks that sides left to resolvePending (large
// dumps) get the same bytes as sides resolved in line.
func TestDeferredResolution(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	srv := netip.AddrPortFrom(peerIP, 443)
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{cli: curl}}
	ft := New(Options{})
	applyDumpDeferred(ft, nil, r, true)
	applyDumpDeferred(ft, []ctnetlink.Rec{tcpFlow(1, cli, srv, 100, 1000)}, r, true)
	if len(ft.pending) != 1 {
		t.Fatalf("pending = %d flows, want 1", len(ft.pending))
	}
	if got := drainTable(ft); len(got) != 0 {
		t.Fatalf("bytes booked before the owner is known: %v", got)
	}
	var mu sync.Mutex
	ft.ResolvePending(r, &mu, func() bool { return false })
	if len(ft.pending) != 0 || ft.slab.hold {
		t.Errorf("after ResolvePending: %d flows pending, slots held %v; want none", len(ft.pending), ft.slab.hold)
	}
	got := drainTable(ft)
	if want := [2]uint64{1000, 100}; got[model.KeyProcess(curl)] != want {
		t.Fatalf("after deferred resolution: %v, want curl %v", got, want)
	}
}

// TestPendingSlotsNotReused checks that a flow that ends while its owner
// is looked up outside the lock leaves its slot empty until donePending:
// the lookup must not land on a newer flow.
func TestPendingSlotsNotReused(t *testing.T) {
	cli := netip.AddrPortFrom(hostIP, 40000)
	cli2 := netip.AddrPortFrom(hostIP, 40001)
	srv := netip.AddrPortFrom(peerIP, 443)
	// cli2's owner is not known yet: the newer flow has a side to resolve.
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{cli: curl}}
	ft := New(Options{})
	applyDumpDeferred(ft, nil, r, true)
	applyDumpDeferred(ft, []ctnetlink.Rec{tcpFlow(1, cli, srv, 100, 1000)}, r, true)
	pending := ft.pending
	ft.pending = nil
	if len(pending) != 1 {
		t.Fatalf("pending = %d flows, want 1", len(pending))
	}
	// The flow ends, and another begins, before the lookup runs.
	ft.OnDestroy(&[]ctnetlink.Rec{tcpFlow(1, cli, srv, 150, 1500)}[0], r)
	onNew(ft, &[]ctnetlink.Rec{tcpFlow(2, cli2, srv, 0, 0)}[0], r)
	for i := range pending[0].sides {
		if _, _, ok := ft.beginResolve(pending[0], i); ok {
			t.Fatalf("side %d of an ended flow is still to resolve", i)
		}
	}
	ft.donePending(pending)
	if got, want := drainTable(ft)[model.KeyProcess(curl)], [2]uint64{1500, 150}; got != want {
		t.Errorf("curl: %v, want %v", got, want)
	}
	// Once done, freed slots serve new flows again.
	pages := len(ft.slab.pages)
	for id := range uint32(slabPage) {
		onNew(ft, &[]ctnetlink.Rec{tcpFlow(100+id, netip.AddrPortFrom(hostIP, uint16(20000+id)), srv, 0, 0)}[0], r)
		ft.OnDestroy(&[]ctnetlink.Rec{tcpFlow(100+id, netip.AddrPortFrom(hostIP, uint16(20000+id)), srv, 0, 0)}[0], r)
	}
	if len(ft.slab.pages) != pages {
		t.Errorf("slab grew from %d to %d pages for flows that each ended before the next", pages, len(ft.slab.pages))
	}
}

// TestCompact checks that the table gives back the room of a burst of
// flows once most have ended, not while a resolution holds slots, and
// that the flows left go on being counted.
func TestCompact(t *testing.T) {
	srv := netip.AddrPortFrom(peerIP, 443)
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{}}
	const n = 8 * slabPage
	var recs []ctnetlink.Rec
	for id := range uint32(n) {
		cli := netip.AddrPortFrom(hostIP, uint16(10000+id))
		r.owners[cli] = curl
		recs = append(recs, tcpFlow(id+1, cli, srv, 0, 0))
	}
	ft := New(Options{})
	applyDump(ft, nil, r)
	for i := range recs {
		onNew(ft, &recs[i], r)
	}
	// All but one in 16 end.
	var kept []ctnetlink.Rec
	for i := range recs {
		if i%16 == 0 {
			kept = append(kept, recs[i])
			continue
		}
		ft.OnDestroy(&recs[i], r)
	}
	drainTable(ft)
	if len(ft.slab.pages) != n/slabPage {
		t.Fatalf("%d pages for %d flows, want %d", len(ft.slab.pages), n, n/slabPage)
	}
	ft.slab.hold = true
	ft.Keys(nil)
	if len(ft.slab.pages) != n/slabPage {
		t.Fatalf("compacted to %d pages while slots were held", len(ft.slab.pages))
	}
	ft.slab.hold = false
	if keys := ft.Keys(nil); len(keys) != len(kept) {
		t.Fatalf("%d keys after the burst ended, want %d", len(keys), len(kept))
	}
	if len(ft.slab.pages) != 1 || ft.Len() != len(kept) || ft.compacted != 1 {
		t.Fatalf("after compaction: %d pages, %d flows, compacted %d times; want 1 page, %d flows, once", len(ft.slab.pages), ft.Len(), ft.compacted, len(kept))
	}
	for i := range kept {
		kept[i].OrigBytes, kept[i].ReplyBytes = 100, 1000
	}
	ft.ApplyCounters(kept, r)
	if got, want := drainTable(ft)[model.KeyProcess(curl)], [2]uint64{1000 * uint64(len(kept)), 100 * uint64(len(kept))}; got != want {
		t.Errorf("curl after compaction: %v, want %v", got, want)
	}
	// A table that small keeps its room.
	ft.Keys(nil)
	if ft.compacted != 1 {
		t.Errorf("compacted %d times, want once", ft.compacted)
	}
}

// TestDumpLeavesCountedAtSocket checks that with quiet events
// (BaselineDumps) a dump does not keep a flow a socket counter counts
// (every local end claimed), and keeps the others, counted from the dump.
func TestDumpLeavesCountedAtSocket(t *testing.T) {
	srv := netip.AddrPortFrom(peerIP, 443)
	counted := netip.AddrPortFrom(hostIP, 40000)
	other := netip.AddrPortFrom(hostIP, 40001)
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true},
		owners:  map[netip.AddrPort]*model.Process{other: curl},
		sockets: map[netip.AddrPort]bool{counted: true}}
	ft := New(Options{BaselineDumps: true})
	applyDump(ft, []ctnetlink.Rec{tcpFlow(1, counted, srv, 100, 1000), tcpFlow(2, other, srv, 100, 1000)}, r)
	if ft.Len() != 1 {
		t.Fatalf("%d flows kept, want 1 (the one no socket counter counts)", ft.Len())
	}
	applyDump(ft, []ctnetlink.Rec{tcpFlow(1, counted, srv, 200, 2000), tcpFlow(2, other, srv, 200, 2000)}, r)
	if got, want := drainTable(ft)[model.KeyProcess(curl)], [2]uint64{1000, 100}; ft.Len() != 1 || got != want {
		t.Errorf("after a second dump: %d flows, curl %v; want 1 flow, curl %v", ft.Len(), got, want)
	}
}
