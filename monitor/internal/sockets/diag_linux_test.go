package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
)

func addrPort(a net.Addr) netip.AddrPort { return netip.MustParseAddrPort(a.String()) }

// dialDiag opens a sock_diag socket in the test's namespace, closed at
// the end of the test.
func dialDiag(t *testing.T) *Diag {
	t.Helper()
	d, err := DialDiag(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// loopbackPair is a TCP connection over loopback: the listener, the
// client's end and the server's, closed at the end of the test.
func loopbackPair(t *testing.T) (net.Listener, net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return ln, c, sc
}

func TestDiagLookup(t *testing.T) {
	_, tc, _ := loopbackPair(t)
	uc, err := net.Dial("udp6", "[::1]:9") // connected: no datagram is sent
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tcpL, tcpR := addrPort(tc.LocalAddr()), addrPort(tc.RemoteAddr())
	udpL, udpR := addrPort(uc.LocalAddr()), addrPort(uc.RemoteAddr())
	unused := netip.AddrPortFrom(tcpL.Addr(), 1)

	d := dialDiag(t)
	tests := []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          uint64 // inode; 0: not found
	}{
		{"tcp client", unix.IPPROTO_TCP, tcpL, tcpR, nettest.SocketInode(t, tc.(*net.TCPConn))},
		{"udp6 connected", unix.IPPROTO_UDP, udpL, udpR, nettest.SocketInode(t, uc.(*net.UDPConn))},
		{"no such tcp socket", unix.IPPROTO_TCP, unused, tcpR, 0},
		{"no such udp socket", unix.IPPROTO_UDP, unused, tcpR, 0},
	}
	// Twice over: answers must keep matching their requests.
	for round := range 2 {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", tt.name, round), func(t *testing.T) {
				s, found, err := d.Lookup(tt.proto, tt.local, tt.remote)
				if err != nil {
					t.Fatal(err)
				}
				if found != (tt.want != 0) || s.Inode != tt.want {
					t.Errorf("Lookup = inode %d found %v, want inode %d", s.Inode, found, tt.want)
				}
				if !found {
					return
				}
				if s.UID != uint32(os.Getuid()) || s.Cookie == 0 || s.Local != tt.local || s.Remote != tt.remote {
					t.Errorf("Lookup = %+v; want uid %d, a cookie, ends %s and %s", s, os.Getuid(), tt.local, tt.remote)
				}
			})
		}
	}
}

// TestLookupAccepted: a server's socket has no inode until the server
// accepts it; the event path waits a moment for that, and the listener
// it came from is found by its local address.
func TestLookupAccepted(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := dialDiag(t)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server's end, seen from the server.
	local, remote := addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())

	s, found, err := d.Lookup(unix.IPPROTO_TCP, local, remote)
	if err != nil || !found || s.Inode != 0 || s.State != TCPEstablished {
		t.Fatalf("before accept: Lookup = %+v found %v err %v, want an established socket with no inode", s, found, err)
	}
	l, ok := d.Listener(local)
	if want := nettest.SocketInode(t, ln.(*net.TCPListener)); !ok || l != want {
		t.Fatalf("Listener(%s) = %d %v, want %d", local, l, ok, want)
	}
	if _, ok := d.Listener(netip.AddrPortFrom(local.Addr(), 1)); ok {
		t.Errorf("listener on port 1 found, want none")
	}

	accepted := make(chan net.Conn, 1)
	go func() {
		time.Sleep(acceptWait / 5)
		sc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- sc
	}()
	s, found, err = d.LookupAccepted(unix.IPPROTO_TCP, local, remote)
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	if want := nettest.SocketInode(t, sc.(*net.TCPConn)); err != nil || !found || s.Inode != want {
		t.Fatalf("LookupAccepted = %+v found %v err %v, want inode %d", s, found, err, want)
	}
}

// TestDiagList: a dump lists every socket with its protocol, inode and
// cookie, the cookie a lookup gives the same socket.
func TestDiagList(t *testing.T) {
	ln, c, sc := loopbackPair(t)
	d := dialDiag(t)
	want := map[uint64]string{
		nettest.SocketInode(t, ln.(*net.TCPListener)): "listener",
		nettest.SocketInode(t, c.(*net.TCPConn)):      "client",
		nettest.SocketInode(t, sc.(*net.TCPConn)):     "server",
	}
	got := map[uint64]Socket{}
	if err := d.List(unix.IPPROTO_TCP, unix.AF_INET, func(s Socket) { got[s.Inode] = s }); err != nil {
		t.Fatal(err)
	}
	for ino, what := range want {
		s, ok := got[ino]
		if !ok || s.Cookie == 0 || s.Proto != unix.IPPROTO_TCP {
			t.Errorf("the %s's socket (inode %d): %+v, listed %v; want it with a cookie, as TCP", what, ino, s, ok)
		}
	}
	cl, found, err := d.Lookup(unix.IPPROTO_TCP, addrPort(c.LocalAddr()), addrPort(c.RemoteAddr()))
	if err != nil || !found || cl.Cookie != got[cl.Inode].Cookie {
		t.Errorf("Lookup = %+v (%v, %v), listed %+v: want the same cookie", cl, found, err, got[cl.Inode])
	}
	if s := got[nettest.SocketInode(t, ln.(*net.TCPListener))]; s.State != TCPListen || s.Local != addrPort(ln.Addr()) {
		t.Errorf("listener listed as %+v, want state %d on %s", s, TCPListen, ln.Addr())
	}
	// The socket is reused for lookups after a dump.
	if _, found, err := d.Lookup(unix.IPPROTO_TCP, addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())); err != nil || !found {
		t.Errorf("Lookup after List: %v, %v", found, err)
	}
}

// diagMsg is an inet_diag_msg answer for request seq: state, uid, inode,
// cookie and IPv4 ends.
func diagMsg(seq uint32, state uint8, uid, inode uint32) []byte {
	p := make([]byte, sizeofDiagMsg)
	p[0], p[1] = unix.AF_INET, state
	binary.BigEndian.PutUint16(p[4:], 40000)
	binary.BigEndian.PutUint16(p[6:], 443)
	copy(p[8:], []byte{10, 0, 0, 1})
	copy(p[24:], []byte{192, 0, 2, 7})
	binary.NativeEndian.PutUint32(p[44:], 0xdeadbeef)
	binary.NativeEndian.PutUint32(p[48:], 7)
	binary.NativeEndian.PutUint32(p[64:], uid)
	binary.NativeEndian.PutUint32(p[68:], inode)
	return nltest.Msg(sockDiagByFamily, seq, p)
}

// diagSocket is what diagMsg decodes to.
func diagSocket(state uint8, uid uint32, inode uint64) Socket {
	return Socket{Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("192.0.2.7:443"),
		State: state, UID: uid, Inode: inode, Cookie: 7<<32 | 0xdeadbeef}
}

// TestParseAnswer reads the kernel's answers to a socket lookup: the
// socket, none (ENOENT), an error, an answer to an earlier request,
// malformed input.
func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name      string
		datagram  []byte
		want      Socket
		wantFound bool
		wantDone  bool
		wantErr   error
	}{
		{"socket", diagMsg(7, TCPEstablished, 1000, 4242), diagSocket(TCPEstablished, 1000, 4242), true, true, nil},
		{"none", nltest.Err(unix.ENOENT, 7), Socket{}, false, true, nil},
		{"error", nltest.Err(unix.EPERM, 7), Socket{}, false, true, unix.EPERM},
		{"an earlier answer, then this one", slices.Concat(diagMsg(6, TCPListen, 0, 1), diagMsg(7, TCPEstablished, 0, 2)), diagSocket(TCPEstablished, 0, 2), true, true, nil},
		{"only an earlier answer", diagMsg(6, TCPListen, 0, 1), Socket{}, false, false, nil},
		{"short message", nltest.Msg(sockDiagByFamily, 7, []byte{2, 1}), Socket{}, false, true, nil},
		{"done", nltest.Msg(unix.NLMSG_DONE, 7, nil), Socket{}, false, true, nil},
		{"length past the end", diagMsg(7, TCPEstablished, 0, 2)[:40], Socket{}, false, true, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, found, done, err := parseAnswer(tt.datagram, 7)
			if s != tt.want || found != tt.wantFound || done != tt.wantDone || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("parseAnswer = %+v, found %v, done %v, %v; want %+v, %v, %v, %v", s, found, done, err, tt.want, tt.wantFound, tt.wantDone, tt.wantErr)
			}
		})
	}
}

// TestParseList reads a dump's datagrams: sockets of this dump, its end,
// its error.
func TestParseList(t *testing.T) {
	tests := []struct {
		name     string
		datagram []byte
		want     []uint64 // inodes
		wantDone bool
		wantErr  bool
	}{
		{"two", slices.Concat(diagMsg(3, TCPListen, 0, 1), diagMsg(3, TCPEstablished, 0, 2)), []uint64{1, 2}, false, false},
		{"an earlier dump's skipped, then done", slices.Concat(diagMsg(2, TCPListen, 0, 9), diagMsg(3, TCPListen, 0, 1), nltest.Msg(unix.NLMSG_DONE, 3, make([]byte, 4))), []uint64{1}, true, false},
		{"error", nltest.Err(unix.EPERM, 3), nil, true, true},
		{"malformed", diagMsg(3, TCPListen, 0, 1)[:30], nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			done, err := parseList(tt.datagram, 3, func(s Socket) { got = append(got, s.Inode) })
			if done != tt.wantDone || (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("parseList = %v, done %v, %v; want %v, %v, an error %v", got, done, err, tt.want, tt.wantDone, tt.wantErr)
			}
		})
	}
}

// FuzzParseAnswer: no datagram makes the sock_diag decoders panic, and a
// socket is only reported in a finished answer.
func FuzzParseAnswer(f *testing.F) {
	f.Add(diagMsg(7, TCPEstablished, 1000, 4242), uint32(7))
	f.Add(slices.Concat(diagMsg(6, TCPListen, 0, 1), nltest.Err(unix.ENOENT, 7)), uint32(7))
	f.Add(diagMsg(7, TCPEstablished, 0, 2)[:40], uint32(7))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		if _, found, done, err := parseAnswer(b, seq); found && (!done || err != nil) {
			t.Fatalf("found a socket with done %v, err %v", done, err)
		}
		_, _ = parseList(b, seq, func(Socket) {})
	})
}

// TestDiagLookupAllocs: a lookup allocates nothing (at start every flow
// of a large table is looked up).
func TestDiagLookupAllocs(t *testing.T) {
	_, c, _ := loopbackPair(t)
	d := dialDiag(t)
	local, remote := addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())
	if n := testing.AllocsPerRun(100, func() {
		if _, found, err := d.Lookup(unix.IPPROTO_TCP, local, remote); err != nil || !found {
			t.Fatalf("Lookup: found %v, %v", found, err)
		}
	}); n != 0 {
		t.Errorf("a lookup allocates %.1f times, want none", n)
	}
}
