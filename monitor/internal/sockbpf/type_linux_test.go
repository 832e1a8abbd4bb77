package sockbpf

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSocketType: each socket reports its type: stream for TCP (the
// client, the listener and the accepted socket, which the programs give
// a slot at sock_ops), datagram for UDP, raw for a raw ICMP socket, and
// the type of a socket adopted at a packet (older than the programs).
func TestSocketType(t *testing.T) {
	// Created before Open: adopted at its first packet.
	oldRx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer oldRx.Close()
	c := openCounter(t, Options{})

	var lc net.ListenConfig
	lc.SetMultipathTCP(false) // plain TCP: an accepted MPTCP socket has no packets of its own
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	if _, err := cl.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	udp, err := net.Dial("udp4", oldRx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := udp.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := oldRx.ReadFrom(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	raw, rawk := rawSocket(t, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	defer unix.Close(raw)
	echo := []byte{8, 0, 0xf7, 0xfe, 0, 1, 0, 0} // checksum precomputed
	if err := unix.Sendto(raw, echo, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}

	got := map[uint64]Socket{}
	if err := c.Read(func(s *Socket) { got[s.Cookie] = *s }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cookie  uint64
		want    uint8
		adopted bool
	}{
		{"tcp client", cookie(t, cl.(*net.TCPConn)), unix.SOCK_STREAM, false},
		{"tcp listener", cookie(t, ln.(*net.TCPListener)), unix.SOCK_STREAM, false},
		{"tcp accepted", cookie(t, sv.(*net.TCPConn)), unix.SOCK_STREAM, false},
		{"udp", cookie(t, udp.(*net.UDPConn)), unix.SOCK_DGRAM, false},
		{"udp adopted", cookie(t, oldRx.(*net.UDPConn)), unix.SOCK_DGRAM, true},
		{"raw icmp", rawk, unix.SOCK_RAW, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := got[tc.cookie]
			if !ok {
				t.Fatalf("socket %d not reported", tc.cookie)
			}
			if s.Type != tc.want || s.Adopted != tc.adopted {
				t.Errorf("%+v: want type %d, adopted %v", s, tc.want, tc.adopted)
			}
		})
	}
}
