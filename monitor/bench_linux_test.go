package monitor

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

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
		ft := newFlowTable(&ConntrackConfig{})
		ft.deferResolve = true // as at start: owners are looked up after the dump
		ft.applyDump(recs, r)
		base = float64(heapInUse()-before) / n
		for _, fl := range ft.pending {
			for i := range fl.list() {
				if e, level, ok := ft.beginResolve(fl, i); ok {
					info, found := r.resolve(fl.proto, e.local, e.remote, level)
					ft.endResolve(fl, i, info, found)
				}
			}
		}
		ft.pending = nil
		resolved = float64(heapInUse()-before) / n
		runtime.KeepAlive(ft)
	}
	b.ReportMetric(base, "B/flow-baseline")
	b.ReportMetric(resolved, "B/flow-resolved")
}

// BenchmarkApplyDump measures turning a dump of 100,000 flows into
// per-process deltas, once every flow is known (the steady state of a
// tick): the per-flow cost of bwmon's own work after the kernel's.
func BenchmarkApplyDump(b *testing.B) {
	const n = 100_000
	recs, r := benchFlows(n)
	ft := newFlowTable(&ConntrackConfig{})
	ft.applyDump(recs, r) // baseline
	ft.applyDump(recs, r) // resolve
	c := model.NewMonitorEntryCollection(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range recs {
			recs[j].OrigBytes += 100
			recs[j].ReplyBytes += 10
		}
		ft.applyDump(recs, r)
		ft.drain(c, time.Unix(int64(i), 0))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/flow")
}

// BenchmarkInodeMap measures recording the sockets of a process that
// holds 8 (the scale test's processes) and 10,000 (a busy server).
func BenchmarkInodeMap(b *testing.B) {
	for _, n := range []int{8, 10_000} {
		b.Run(map[int]string{8: "8-sockets", 10_000: "10000-sockets"}[n], func(b *testing.B) {
			t, err := newProcTable("/proc", time.Now, newIdentityResolver(nil))
			if err != nil {
				b.Fatal(err)
			}
			inodes := make([]uint64, n)
			for i := range inodes {
				inodes[i] = uint64(1_000_000 + i)
			}
			t.mu.Lock()
			e := t.add(4242, &model.Process{PID: 4242}, false)
			t.mu.Unlock()
			b.ReportAllocs()
			for b.Loop() {
				t.mu.Lock()
				t.setSockets(4242, e, inodes, int64(n))
				t.mu.Unlock()
			}
		})
	}
}
