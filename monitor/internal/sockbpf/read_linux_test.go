package sockbpf

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
)

// BenchmarkRead measures Read over n live sockets (slots written directly
// into the mapped array, as the kernel would): the agent's cost a tick.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := openCounter(b, Options{MaxSockets: 131072})
			next, err := c.stat(statNext)
			if err != nil {
				b.Fatal(err)
			}
			base := int(next) + 64 // past the slots the host's sockets took
			for i := range n {
				s := (*sockbpfSlot)(unsafe.Pointer(&c.slots[(base+i)*slotSize]))
				*s = sockbpfSlot{Cookie: uint64(1<<40 + i), Pid: uint32(i), Gen: 1, State: stateLive, Family: afInet, Proto: 6, BytesIn: uint64(i)}
				copy((*[16]byte)(unsafe.Pointer(&s.Comm))[:15], fmt.Sprintf("process-%d", i%500))
			}
			if err := c.objs.Stats.Update(uint32(statNext), uint64(base+n), ebpf.UpdateAny); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			seen := 0
			for b.Loop() {
				seen = 0
				if err := c.Read(func(s *Socket) {
					if s.Cookie >= 1<<40 {
						seen++
					}
				}); err != nil {
					b.Fatal(err)
				}
			}
			if seen != n {
				b.Fatalf("Read reported %d of the %d sockets", seen, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
		})
	}
}
