package flows

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/classify"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// benchFlows makes n UDP flows from the host to many peers, each local
// end owned by one of 1,000 processes, and a resolver that knows them.
func benchFlows(n int) ([]ctnetlink.Rec, *fakeResolver) {
	r := &fakeResolver{local: map[netip.Addr]bool{hostIP: true}, owners: map[netip.AddrPort]*model.Process{}}
	recs := make([]ctnetlink.Rec, n)
	procs := make([]*model.Process, 1000)
	for i := range procs {
		procs[i] = &model.Process{PID: 1000 + i, StartTime: 1, Exe: "/usr/bin/app"}
	}
	for i := range recs {
		local := netip.AddrPortFrom(hostIP, uint16(1024+i%60000))
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(i))
		r.owners[local] = procs[i%len(procs)]
		recs[i] = ctnetlink.Rec{ID: uint32(i), Proto: 17, Orig: ctnetlink.Tuple{Src: local.Addr(), Dst: peer.Addr(), SPort: local.Port(), DPort: peer.Port()},
			Reply: ctnetlink.Tuple{Src: peer.Addr(), Dst: local.Addr(), SPort: peer.Port(), DPort: local.Port()}}
	}
	return recs, r
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTableMemory reports the live heap a table of 100,000 flows
// holds per flow: after the first dump (baseline, owners still unknown)
// and once every owner is known (the steady state).
func BenchmarkTableMemory(b *testing.B) {
	const n = 100_000
	recs, r := benchFlows(n)
	var base, resolved float64
	for b.Loop() {
		before := heapInUse()
		ft := New(Options{})
		// As at start: owners are looked up after the dump.
		applyDumpDeferred(ft, recs, r, true)
		base = float64(heapInUse()-before) / n
		var mu sync.Mutex
		ft.ResolvePending(r, &mu, func() bool { return false })
		ft.pending = nil // the list's room, kept for the next dump, is not the table's
		resolved = float64(heapInUse()-before) / n
		runtime.KeepAlive(ft)
	}
	b.ReportMetric(base, "B/flow-baseline")
	b.ReportMetric(resolved, "B/flow-resolved")
}

// BenchmarkApplyDump measures turning a dump of 100,000 flows into
// per-process deltas, once every flow is known (the steady state of a
// tick): the per-flow cost of bwmon's own work after the kernel's.
func BenchmarkApplyDump(b *testing.B) { benchApplyDump(b, Options{}) }

// BenchmarkApplyDumpClasses is BenchmarkApplyDump with destination
// classes (the built-in ones and two of a configuration): the cost they
// add to a tick, beside BenchmarkApplyDump's.
func BenchmarkApplyDumpClasses(b *testing.B) {
	tb, err := classify.New(classify.Config{Rules: []classify.Rule{
		{Name: "lab", CIDR: []string{"10.1.0.0/17", "fd00:1::/32"}},
		{Name: "vpc", CIDR: []string{"10.0.0.0/8"}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	benchApplyDump(b, Options{Classes: tb})
}

func benchApplyDump(b *testing.B, o Options) {
	const n = 100_000
	recs, r := benchFlows(n)
	ft := New(o)
	applyDump(ft, recs, r) // baseline
	applyDump(ft, recs, r) // resolve
	c := model.NewMonitorEntryCollection(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range recs {
			recs[j].OrigBytes += 100
			recs[j].ReplyBytes += 10
		}
		applyDump(ft, recs, r)
		ft.Drain(c, time.Unix(int64(i), 0))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/flow")
}
