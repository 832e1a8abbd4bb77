package sockbpf

import (
	"net"
	"testing"
)

// TestTupleSeq: Socket.TupleSeq changes exactly when the programs may have
// noted a new tuple: an unconnected UDP socket that sends to one peer and
// then to another is seen at the new peer with a new TupleSeq, and with
// the same TupleSeq while its tuple cannot have changed.
func TestTupleSeq(t *testing.T) {
	c := openCounter(t, Options{})
	var rx [2]net.PacketConn
	for i := range rx {
		var err error
		if rx[i], err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer rx[i].Close()
	}
	tx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	k := cookie(t, tx.(*net.UDPConn))
	send := func(to, n int) {
		for range n {
			if _, err := tx.WriteTo(make([]byte, 10), rx[to].LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func() Socket {
		t.Helper()
		var s Socket
		if err := c.Read(func(x *Socket) {
			if x.Cookie == k {
				s = *x
			}
		}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	send(0, 1)
	first := read()
	if first.TupleSeq == 0 || first.Remote.String() != rx[0].LocalAddr().String() {
		t.Fatalf("after its first datagram: %+v, want a TupleSeq and the first peer", first)
	}
	// The rest of its first tupleEvery datagrams, the last to the second
	// peer: not noted.
	send(0, tupleEvery-2)
	send(1, 1)
	if s := read(); s.TupleSeq != first.TupleSeq || s.Remote != first.Remote || s.PacketsOut != tupleEvery {
		t.Errorf("after %d datagrams: %+v, want TupleSeq %d and the first peer still", tupleEvery, s, first.TupleSeq)
	}
	send(1, 1)
	if s := read(); s.TupleSeq == first.TupleSeq || s.Remote.String() != rx[1].LocalAddr().String() {
		t.Errorf("after %d datagrams: %+v, want a new TupleSeq and the second peer", tupleEvery+1, s)
	}
}
