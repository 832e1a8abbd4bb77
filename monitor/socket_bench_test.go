package monitor

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// liveSource reports n live connected UDP sockets of one process at each
// Read, each a slot of its own, each 128 bytes further than at the last
// Read: what the kernel's counters look like under the live flows bench.
type liveSource struct {
	socks []sockbpf.Socket
}

func newLiveSource(n int) *liveSource {
	s := &liveSource{socks: make([]sockbpf.Socket, n)}
	for i := range s.socks {
		s.socks[i] = sockbpf.Socket{Cookie: uint64(i + 1), PID: 1000, Comm: "gen", NetNSCookie: 42, Type: 2, Proto: protoUDP, TupleSeq: 2,
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), uint16(10000+i%50000)),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i / 50000)}), 9100), Slot: i}
	}
	return s
}

func (s *liveSource) Read(fn func(*sockbpf.Socket)) error {
	for i := range s.socks {
		s.socks[i].BytesOut += 128
		fn(&s.socks[i])
	}
	return nil
}
func (s *liveSource) ExeName(int, string) string { return "" }
func (s *liveSource) Stats() sockbpf.Stats       { return sockbpf.Stats{Live: len(s.socks)} }
func (s *liveSource) Close() error               { return nil }

// localResolver: 10.0.0.0/24 is local, nothing is looked up.
type localResolver struct{}

func (localResolver) IsLocal(a netip.Addr) bool { return a.Is4() && a.As4()[2] == 0 }
func (localResolver) Resolve(uint8, netip.AddrPort, netip.AddrPort, flows.Level) (model.Info, bool) {
	return model.Info{}, false
}
func (localResolver) ResolveOuter(uint8, *flows.Ends, flows.Level) (model.Info, bool) {
	return model.Info{}, false
}

// unforked is a process table of one process, p, which never forked and
// holds every socket inode from holdsFrom on (none if 0).
type unforked struct {
	p         *model.Process
	holdsFrom uint64
}

func (u unforked) Process(pid int) *model.Process {
	if pid == u.p.PID {
		return u.p
	}
	return nil
}
func (unforked) ForkedSince(int, time.Time) bool { return false }
func (u unforked) HolderPID(ino uint64) (int, bool) {
	return u.p.PID, u.holdsFrom != 0 && ino >= u.holdsFrom
}
func (unforked) Refresh() error { return nil }

func newBenchCounter(src socketSource) *socketCounter {
	p := &model.Process{PID: 1000, StartTime: 1, Comm: "gen", Exe: "/usr/bin/gen", Cmdline: "gen"}
	return newSocketCounter(socketOptions{src: src, procs: unforked{p: p}, owners: localResolver{}, netns: 42, home: 42, claims: newClaims()})
}

// BenchmarkSocketTick is a tick of the socket monitor at 100,000 live
// sockets: steady (every socket known, every one moved bytes), and the
// intake of 100,000 new sockets in one tick. It reports the cost
// per socket and the heap each socket holds.
func BenchmarkSocketTick(b *testing.B) {
	const n = 100_000
	b.Run("steady", func(b *testing.B) {
		src := newLiveSource(n)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s := newBenchCounter(src)
		now := time.Unix(1000, 0)
		c := model.NewMonitorEntryCollection(time.Hour)
		for s.live < n {
			if err := s.collect(c, now); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ResetTimer()
		for b.Loop() {
			if err := s.collect(c, now); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Second)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/socket")
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "heapB/socket")
	})
	b.Run("intake", func(b *testing.B) { benchIntake(b, n, nil) })
	// Sockets older than the agent (PID 0): placed by the namespace's
	// list of sockets and the process table's map of inodes.
	b.Run("older", func(b *testing.B) {
		benchIntake(b, n, func(src *liveSource, s *socketCounter) {
			for i := range src.socks {
				src.socks[i].PID, src.socks[i].Comm = 0, ""
			}
			s.o.procs = unforked{p: s.o.procs.(unforked).p, holdsFrom: 1}
			s.o.listOlder = func(f func(sockets.Socket)) error {
				for i := range n {
					f(sockets.Socket{Cookie: uint64(i + 1), Inode: uint64(i + 1)})
				}
				return nil
			}
		})
	})
}

// benchIntake times one tick that takes on n new sockets, made ready by
// prep (nil: live sockets of a known process).
func benchIntake(b *testing.B, n int, prep func(*liveSource, *socketCounter)) {
	var taken int
	for b.Loop() {
		b.StopTimer()
		src := newLiveSource(n)
		s := newBenchCounter(src)
		if prep != nil {
			prep(src, s)
		}
		s.perTick = n
		c := model.NewMonitorEntryCollection(time.Hour)
		runtime.GC()
		b.StartTimer()
		if err := s.collect(c, time.Unix(1000, 0)); err != nil {
			b.Fatal(err)
		}
		taken += s.live
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(taken), "ns/new-socket")
	b.ReportMetric(float64(taken)/float64(b.N), "new/tick")
}
