package sockbpf

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
)

// fakeLive writes n live slots past those the host's sockets took, as the
// kernel would, and moves the map's next fresh slot past them; their
// cookies are 1<<40 + i.
func fakeLive(tb testing.TB, c *Counter, n int) {
	tb.Helper()
	next, err := c.stat(statNext)
	if err != nil {
		tb.Fatal(err)
	}
	base := int(next) + 64 // past the slots the host's sockets took
	for i := range n {
		at := base + i
		if err := c.mapWindow(at / windowSlots * windowSlots); err != nil {
			tb.Fatal(err)
		}
		s := (*sockbpfSlot)(unsafe.Pointer(&c.win[(at-c.winStart)*slotSize]))
		*s = sockbpfSlot{Cookie: uint64(1<<40 + i), Pid: uint32(i), Gen: 1, State: stateLive, Family: afInet, Proto: 6, BytesIn: uint64(i)}
		copy((*[16]byte)(unsafe.Pointer(&s.Comm))[:15], fmt.Sprintf("process-%d", i%500))
	}
	if err := c.objs.Stats.Update(uint32(statNext), uint64(base+n), ebpf.UpdateAny); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRead measures Read over n live sockets (slots written directly
// into the mapped array, as the kernel would): the agent's cost a tick.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := openCounter(b, Options{MaxSockets: 131072})
			fakeLive(b, c, n)
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

// TestReadWindows: Read reports the sockets of every window of the slots
// map, each once, and leaves at most one window mapped.
func TestReadWindows(t *testing.T) {
	c := openCounter(t, Options{MaxSockets: 3*windowSlots + 100})
	n := 2*windowSlots + 50 // three windows, or four
	fakeLive(t, c, n)
	for range 2 {
		seen := map[uint64]int{}
		if err := c.Read(func(s *Socket) {
			if s.Cookie >= 1<<40 {
				seen[s.Cookie]++
				if want := int(s.Cookie - 1<<40); s.PID != want || s.BytesIn != uint64(want) {
					t.Fatalf("socket %d: %+v, want PID and bytes in %d", s.Cookie, s, want)
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		if len(seen) != n {
			t.Fatalf("Read reported %d of the %d sockets", len(seen), n)
		}
		for k, m := range seen {
			if m != 1 {
				t.Fatalf("socket %d reported %d times", k, m)
			}
		}
		if len(c.win) > windowSlots*slotSize {
			t.Fatalf("%d bytes mapped after Read, want at most a window (%d)", len(c.win), windowSlots*slotSize)
		}
	}
}

// TestMapWindow: a window is mapped whole, never past the end of the map.
func TestMapWindow(t *testing.T) {
	max := 3*windowSlots + 100
	c := openCounter(t, Options{MaxSockets: max})
	for _, start := range []int{windowSlots, 0, 3 * windowSlots, 2 * windowSlots} {
		if err := c.mapWindow(start); err != nil {
			t.Fatal(err)
		}
		if want := min(windowSlots, max-start) * slotSize; len(c.win) != want || c.winStart != start {
			t.Errorf("window at %d: %d bytes from slot %d, want %d from %d", start, len(c.win), c.winStart, want, start)
		}
		_ = c.win[len(c.win)-1] // the last byte is mapped (a fault otherwise)
	}
}

// BenchmarkMapWindow measures what Read pays a window of slots when there
// is more than one: an munmap and an mmap of 1 MiB, and a read of each
// page.
func BenchmarkMapWindow(b *testing.B) {
	c := openCounter(b, Options{MaxSockets: 2 * windowSlots})
	i := 0
	for b.Loop() {
		i ^= 1
		if err := c.mapWindow(i * windowSlots); err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(c.win); off += 4096 {
			_ = c.win[off]
		}
	}
}
