package sockbpf

import (
	"testing"
)

// TestHomeSlots: a socket takes its home slot (cookie & (home - 1)) when
// that is free, else a spill slot, and each home slot is free to be taken
// again once its socket is read closed, whether its close record went
// through the ring buffer or was left in the slot (a ring of one page).
func TestHomeSlots(t *testing.T) {
	c, rx := ringCounter(t, 1)
	if c.home != windowSlots {
		t.Fatalf("%d home slots by default, want %d (a window)", c.home, windowSlots)
	}
	want := sendClosed(t, rx, 300)
	got := collect(t, c, want...)
	homed := 0
	for _, k := range want {
		s := got[k]
		if s.BytesOut != 128 || !s.Closed {
			t.Errorf("socket %d: %+v, want closed with 128 bytes out", k, s)
		}
		if s.Slot < c.home {
			if s.Slot != int(k&uint64(c.home-1)) {
				t.Errorf("socket %d in home slot %d, another's: its own is %d", k, s.Slot, k&uint64(c.home-1))
			}
			homed++
		}
	}
	// The host's own sockets hold a few home slots, and a socket whose
	// home was one of them went to a spill slot.
	if homed < len(want)*9/10 {
		t.Errorf("%d of %d sockets in their home slots, want nearly all", homed, len(want))
	}
	if st := c.Stats(); st.RingLost == 0 {
		t.Errorf("stats %+v: want close records left in their slots (a ring of one page)", st)
	}
	// The home slots of the sockets read closed can be taken again
	// (cookie_out 0), unless a new socket has taken one already.
	if err := c.mapWindow(0); err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		i := got[k].Slot
		if i >= c.home {
			continue
		}
		s := c.slotAt(i * slotSize)
		if s.State != stateLive && s.CookieOut != 0 {
			t.Errorf("home slot %d, read closed: state %d, cookie_out %#x: want it free to take (0)", i, s.State, s.CookieOut)
		}
	}
}
