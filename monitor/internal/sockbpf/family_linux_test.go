package sockbpf

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// rawSocket opens a socket with socket(2) and returns its descriptor and
// cookie; it is closed by the caller.
func rawSocket(t *testing.T, family, typ, proto int) (int, uint64) {
	t.Helper()
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	k, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, k
}

// TestV4MappedIPv6: an IPv6 socket sending to a v4-mapped address sends
// IPv4 packets; it is reported as AF_INET with IPv4 addresses, its bytes
// those of the IPv4 packets.
func TestV4MappedIPv6(t *testing.T) {
	c := openCounter(t, Options{})
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	port := rx.LocalAddr().(*net.UDPAddr).Port
	fd, k := rawSocket(t, unix.AF_INET6, unix.SOCK_DGRAM, 0)
	to := &unix.SockaddrInet6{Port: port, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}}
	if err := unix.Sendto(fd, make([]byte, 100), 0, to); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	s := collect(t, c, k)[k]
	if s.Family != unix.AF_INET || s.BytesOut != 128 || s.Remote.String() != rx.LocalAddr().String() || !s.Local.Addr().Is4() || s.PID != os.Getpid() {
		t.Errorf("v4-mapped socket %+v: want AF_INET, 128 bytes out to %s", s, rx.LocalAddr())
	}
}

// TestRawICMP: a raw ICMP socket's echo request and the copy of the reply
// it receives are counted, under its protocol, without ports.
func TestRawICMP(t *testing.T) {
	c := openCounter(t, Options{})
	fd, k := rawSocket(t, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}
	echo = append(echo, make([]byte, 56)...)
	var sum uint32
	for i := 0; i < len(echo); i += 2 {
		sum += uint32(echo[i])<<8 | uint32(echo[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	echo[2], echo[3] = byte(^sum>>8), byte(^sum)
	if err := unix.Sendto(fd, echo, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	// The socket sees its own request and the reply (loopback).
	for range 2 {
		if _, _, err := unix.Recvfrom(fd, buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(fd)
	s := collect(t, c, k)[k]
	if s.Proto != unix.IPPROTO_ICMP || s.BytesOut != 84 || s.PacketsOut != 1 || s.BytesIn != 168 || s.Local.Port() != 0 || s.PID != os.Getpid() {
		t.Errorf("raw ICMP socket %+v: want proto 1, 84 bytes out, 168 in (request and reply), no ports", s)
	}
}
