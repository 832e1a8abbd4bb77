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
			if err := c.mapSlots(base + n); err != nil {
				b.Fatal(err)
			}
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

// TestMapSlots: the slots map is mapped as far as slots were handed out,
// by whole chunks, never past the map; a longer mapping replaces it.
func TestMapSlots(t *testing.T) {
	c := openCounter(t, Options{MaxSockets: 131072})
	if len(c.slots) == 0 || len(c.slots)%mapChunk != 0 || len(c.slots) > 4*mapChunk {
		t.Fatalf("mapped %d bytes at start, want a few chunks of %d", len(c.slots), mapChunk)
	}
	for _, n := range []int{20_000, 10, 131072, 1 << 20} {
		if err := c.mapSlots(n); err != nil {
			t.Fatal(err)
		}
		if want := min(n, 131072) * slotSize; len(c.slots) < want || len(c.slots) > 131072*slotSize {
			t.Errorf("after mapSlots(%d): %d bytes mapped, want %d to %d", n, len(c.slots), want, 131072*slotSize)
		}
		_ = c.slots[len(c.slots)-1] // the last byte is mapped (a fault otherwise)
	}
}
