package sockbpf

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
)

// TestIndexStale: the packets' index (sock_index) is only a fast way to a
// slot. Entries that point at another socket's slot, or at none, cost the
// packets the slow way (socket-local storage) and are set right again;
// no byte lands in the wrong slot. Run with the sockets in their home
// slots (the index is not theirs) and in spill slots (one home slot, held
// by another socket: the index is their fast way).
func TestIndexStale(t *testing.T) {
	t.Run("home", func(t *testing.T) { indexStale(t, false) })
	t.Run("spill", func(t *testing.T) { indexStale(t, true) })
}

func indexStale(t *testing.T, spill bool) {
	if spill {
		t.Cleanup(func() { homeSlotsFor = homeSlots })
		homeSlotsFor = func(int) int { return 1 }
	}
	c := openCounter(t, Options{MaxSockets: 64})
	if spill {
		// The one home slot goes to this socket unless another has it.
		holder, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
	}
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.Dial("udp4", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	send := func(n int) {
		buf := make([]byte, 100)
		for range n {
			if _, err := tx.Write(buf); err != nil {
				t.Fatal(err)
			}
			if _, _, err := rx.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	size := c.objs.SockIndex.MaxEntries()
	clobber := func(slot uint32) {
		for k := range size {
			if err := c.objs.SockIndex.Update(k, slot, ebpf.UpdateExist); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(5)
	txk, rxk := cookie(t, tx.(*net.UDPConn)), cookie(t, rx.(*net.UDPConn))
	// Every entry at the receiver's slot: the sender's packets must not
	// count there (nor the receiver's in the sender's).
	var rxSlot uint32
	found := false
	if err := c.Read(func(s *Socket) {}); err != nil {
		t.Fatal(err)
	}
	for i := range len(c.win) / slotSize { // MaxSockets 64: one window
		s := c.slotAt(i * slotSize)
		if s.State == stateLive && s.Cookie == rxk {
			rxSlot, found = uint32(i), true
		}
	}
	if !found {
		t.Fatal("the receiver has no live slot")
	}
	if spill && int(rxSlot) < c.home {
		t.Fatalf("the receiver is in home slot %d: want a spill slot", rxSlot)
	}
	clobber(rxSlot)
	send(5)
	clobber(^uint32(0)) // no slot at all
	send(5)
	tx.Close()
	rx.Close()
	got := collect(t, c, txk, rxk)
	const want = 15 * 128
	if s, r := got[txk], got[rxk]; s.BytesOut != want || s.BytesIn != 0 || r.BytesIn != want || r.BytesOut != 0 {
		t.Errorf("sender out %d in %d, receiver in %d out %d: want %d each way, nothing the other", s.BytesOut, s.BytesIn, r.BytesIn, r.BytesOut, want)
	}
}

func TestIndexSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want uint32
	}{
		{"min", MinMaxSockets, 64},
		{"above a power of two", MinMaxSockets + 1, 128},
		{"default", DefaultMaxSockets, DefaultMaxSockets},
		{"max", MaxMaxSockets, MaxMaxSockets},
		{"odd", 100_000, 131072},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := indexSize(tc.n); got != tc.want {
				t.Errorf("indexSize(%d) = %d, want %d", tc.n, got, tc.want)
			}
		})
	}
}
