package monitor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inodeOf returns the socket inode behind c.
func inodeOf(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := rc.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestSockDiagLookup(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tc, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	uc, err := net.Dial("udp6", "[::1]:9") // connected: no datagram is sent
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	ap := func(a net.Addr) netip.AddrPort { return netip.MustParseAddrPort(a.String()) }
	tcpL, tcpR := ap(tc.LocalAddr()), ap(tc.RemoteAddr())
	udpL, udpR := ap(uc.LocalAddr()), ap(uc.RemoteAddr())
	unused := netip.AddrPortFrom(tcpL.Addr(), 1)

	d, err := dialSockDiag(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tests := []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          uint64 // inode; 0: not found
	}{
		{"tcp client", unix.IPPROTO_TCP, tcpL, tcpR, inodeOf(t, tc.(*net.TCPConn))},
		{"udp6 connected", unix.IPPROTO_UDP, udpL, udpR, inodeOf(t, uc.(*net.UDPConn))},
		{"no such tcp socket", unix.IPPROTO_TCP, unused, tcpR, 0},
		{"no such udp socket", unix.IPPROTO_UDP, unused, tcpR, 0},
	}
	// Twice over: answers must keep matching their requests.
	for round := range 2 {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", tt.name, round), func(t *testing.T) {
				s, found, err := d.lookup(tt.proto, tt.local, tt.remote)
				if err != nil {
					t.Fatal(err)
				}
				if found != (tt.want != 0) || s.inode != tt.want {
					t.Errorf("lookup = inode %d found %v, want inode %d", s.inode, found, tt.want)
				}
				if found && s.uid != uint32(os.Getuid()) {
					t.Errorf("uid = %d, want %d", s.uid, os.Getuid())
				}
			})
		}
	}
}
