package sockbpf

import (
	"net"
	"os"
	"testing"
	"time"
)

// udpPair returns a connected UDP socket that has sent one datagram of
// 100 bytes to rx.
func udpSend(t *testing.T, rx net.PacketConn) *net.UDPConn {
	t.Helper()
	tx, err := net.Dial("udp4", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	return tx.(*net.UDPConn)
}

// sendClosed makes n UDP sockets one after another, each sending a
// datagram of 100 bytes to rx and closing, and returns their cookies.
func sendClosed(t *testing.T, rx net.PacketConn, n int) []uint64 {
	t.Helper()
	var cookies []uint64
	for range n {
		tx := udpSend(t, rx)
		cookies = append(cookies, cookie(t, tx))
		tx.Close()
	}
	return cookies
}

// TestMapFull: with every slot taken, new sockets get none and
// Stats.MapFull says how many; their bytes are counted all the same, under
// their creator in the overflow entries; once sockets close, their slots
// serve new ones.
func TestMapFull(t *testing.T) {
	c := openCounter(t, Options{MaxSockets: MinMaxSockets})
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var socks []*net.UDPConn
	for range 2 * MinMaxSockets {
		socks = append(socks, udpSend(t, rx))
	}
	live := 0
	var out, over uint64 // bytes out of this process's sockets: in slots, in overflow
	if err := c.Read(func(s *Socket) {
		switch {
		case s.Overflow && s.PID == os.Getpid():
			over += s.BytesOut
			if s.Comm != comm(t) {
				t.Errorf("overflow entry %+v: want comm %q", *s, comm(t))
			}
		case s.Overflow:
		case !s.Closed:
			live++
			if s.PID == os.Getpid() {
				out += s.BytesOut
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if live > MinMaxSockets || st.Live > MinMaxSockets || st.MapFull < MinMaxSockets {
		t.Fatalf("%d live sockets reported, stats %+v: want at most %d live and at least %d that found the map full", live, st, MinMaxSockets, MinMaxSockets)
	}
	if want := uint64(2 * MinMaxSockets * 128); out+over != want || over == 0 {
		t.Errorf("bytes out: %d in slots, %d in overflow; want %d in all, some in overflow", out, over, want)
	}
	for _, s := range socks {
		s.Close()
	}
	if err := c.Read(func(*Socket) {}); err != nil {
		t.Fatal(err)
	}
	// A slot is free again: a new socket is counted.
	tx := udpSend(t, rx)
	k := cookie(t, tx)
	tx.Close()
	if s := collect(t, c, k)[k]; s.BytesOut != 128 || s.PID != os.Getpid() {
		t.Errorf("socket after the map emptied: %+v, want 128 bytes out", s)
	}
}

// ringCounter opens a Counter whose ring buffer is pages pages (about 30
// close records a page) and a UDP receiver on loopback for its sockets.
func ringCounter(t *testing.T, pages int) (*Counter, net.PacketConn) {
	t.Helper()
	n := ringBytes
	t.Cleanup(func() { ringBytes = n })
	ringBytes = uint32(pages * os.Getpagesize())
	c := openCounter(t, Options{})
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	return c, rx
}

// TestRingFull: close records that do not fit the ring buffer stay in
// their slots; Read reports every socket closed once all the same, and
// Stats.RingLost counts the records the ring could not take.
func TestRingFull(t *testing.T) {
	c, rx := ringCounter(t, 1) // about 30 records
	want := sendClosed(t, rx, 100)
	got := collect(t, c, want...)
	slots := map[int]bool{}
	for _, k := range want {
		if s := got[k]; s.BytesOut != 128 || !s.Closed || s.Slot < 0 {
			t.Errorf("socket %d: %+v, want closed with 128 bytes out, at its slot", k, s)
		}
		slots[got[k].Slot] = true
	}
	// The records the ring took freed their slots for the next sockets;
	// the others kept theirs, each its own.
	if len(slots) < 50 {
		t.Errorf("closed at %d slots: want the records kept in their slots to name each its own", len(slots))
	}
	if st := c.Stats(); st.RingLost == 0 || st.Closed < 100 {
		t.Errorf("stats %+v: want close records the ring could not take counted, and 100 closed read", st)
	}
}

// TestRingDrained: the Counter's goroutine empties the ring buffer between
// Reads, so that more sockets close between two Reads than the ring holds
// without any record left in its slot (250 sockets, a ring of 120).
func TestRingDrained(t *testing.T) {
	c, rx := ringCounter(t, 4) // about 120 records
	var want []uint64
	for range 5 {
		want = append(want, sendClosed(t, rx, 50)...)
		time.Sleep(3 * drainEvery)
	}
	got := map[uint64]Socket{}
	if err := c.Read(func(s *Socket) {
		if s.Closed {
			got[s.Cookie] = *s
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if s := got[k]; s.BytesOut != 128 {
			t.Errorf("socket %d: %+v, want closed with 128 bytes out at the first Read", k, s)
		}
	}
	if st := c.Stats(); st.RingLost != 0 {
		t.Errorf("stats %+v: want no close record left in its slot", st)
	}
}
