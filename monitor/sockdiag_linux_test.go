package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
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

// TestAcceptedLater: a server's socket has no inode until the server
// accepts it; the event path waits a moment for that, and the listener it
// came from names the server that will hold it.
func TestAcceptedLater(t *testing.T) {
	ln, procs, d := lookupFixture(t) // the server started long ago

	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server's end, seen from the server.
	local, remote := netip.MustParseAddrPort(c.RemoteAddr().String()), netip.MustParseAddrPort(c.LocalAddr().String())

	s, found, err := d.lookup(unix.IPPROTO_TCP, local, remote)
	if err != nil || !found || s.inode != 0 || s.state != tcpEstab {
		t.Fatalf("before accept: lookup = %+v found %v err %v, want an established socket with no inode", s, found, err)
	}
	l, ok := d.listener(local)
	if want := inodeOf(t, ln.(*net.TCPListener)); !ok || l != want {
		t.Fatalf("listener(%s) = %d %v, want %d", local, l, ok, want)
	}
	if _, ok := d.listener(netip.AddrPortFrom(local.Addr(), 1)); ok {
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
	s, found, err = d.lookupAccepted(unix.IPPROTO_TCP, local, remote)
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	want := inodeOf(t, sc.(*net.TCPConn))
	if err != nil || !found || s.inode != want {
		t.Fatalf("lookupAccepted = %+v found %v err %v, want inode %d", s, found, err, want)
	}
	p := procs.ownerByListener(want, l)
	if p == nil || p.PID != os.Getpid() {
		t.Fatalf("ownerByListener = %+v, want this process (%d)", p, os.Getpid())
	}
	if p := procs.ownerByListener(want+1<<40, l); p != nil {
		t.Errorf("ownerByListener of a socket nobody holds = PID %d, want none", p.PID)
	}
}

// TestEarlyInode: a client's socket closed (time-wait, no inode) by the time
// the event path looks it up is still tied to its process by the inode the
// event reader found while it was open.
func TestEarlyInode(t *testing.T) {
	ln, procs, d := lookupFixture(t)
	ns, _ := openNetNS("")
	r, err := newResolver(ns, procs, time.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	local, remote := netip.MustParseAddrPort(c.LocalAddr().String()), netip.MustParseAddrPort(c.RemoteAddr().String())
	if err := procs.fullScan(); err != nil { // its sockets known, as a recent owner's are
		t.Fatal(err)
	}
	r.noteEarly(d, local, remote)
	c.Close() // the client closes first: time-wait
	time.Sleep(50 * time.Millisecond)
	if s, found, _ := d.lookup(unix.IPPROTO_TCP, local, remote); !found || s.inode != 0 {
		t.Fatalf("after close: lookup = %+v found %v, want a socket with no inode (time-wait)", s, found)
	}

	info, ok := r.Resolve(unix.IPPROTO_TCP, local, remote, flows.Quick)
	if !ok || info.Process == nil || info.Process.PID != os.Getpid() {
		t.Fatalf("resolve = %+v %v, want this process (%d)", info, ok, os.Getpid())
	}
	if _, ok := r.Resolve(unix.IPPROTO_TCP, local, remote, flows.Quick); ok {
		t.Errorf("the early inode answered twice, want it taken once")
	}
}

// lookupFixture is a TCP listener on loopback, a process table that has
// read every process once, and a sock_diag socket, closed at the end of
// the test.
func lookupFixture(t *testing.T) (net.Listener, *procTable, *sockDiag) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	procs, err := newProcTable("/proc", time.Now, newIdentityResolver(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := procs.fullScan(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(procs.wait)
	d, err := dialSockDiag(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return ln, procs, d
}

// diagMsg is an inet_diag_msg answer for request seq: state, uid, inode.
func diagMsg(seq uint32, state uint8, uid, inode uint32) []byte {
	p := make([]byte, sizeofDiagMsg)
	p[0], p[1] = unix.AF_INET, state
	binary.NativeEndian.PutUint32(p[64:], uid)
	binary.NativeEndian.PutUint32(p[68:], inode)
	return nltest.Msg(20, seq, p) // SOCK_DIAG_BY_FAMILY
}

// TestParseDiagAnswer reads the kernel's answers to a socket lookup: the
// socket, none (ENOENT), an error, an answer to an earlier request,
// malformed input.
func TestParseDiagAnswer(t *testing.T) {
	tests := []struct {
		name      string
		datagram  []byte
		want      diagSocket
		wantFound bool
		wantDone  bool
		wantErr   error
	}{
		{"socket", diagMsg(7, tcpEstab, 1000, 4242), diagSocket{state: tcpEstab, uid: 1000, inode: 4242}, true, true, nil},
		{"none", nltest.Err(unix.ENOENT, 7), diagSocket{}, false, true, nil},
		{"error", nltest.Err(unix.EPERM, 7), diagSocket{}, false, true, unix.EPERM},
		{"an earlier answer, then this one", slices.Concat(diagMsg(6, tcpListen, 0, 1), diagMsg(7, tcpEstab, 0, 2)), diagSocket{state: tcpEstab, inode: 2}, true, true, nil},
		{"only an earlier answer", diagMsg(6, tcpListen, 0, 1), diagSocket{}, false, false, nil},
		{"short message", nltest.Msg(20, 7, []byte{2, 1}), diagSocket{}, false, true, nil},
		{"done", nltest.Msg(unix.NLMSG_DONE, 7, nil), diagSocket{}, false, true, nil},
		{"length past the end", diagMsg(7, tcpEstab, 0, 2)[:40], diagSocket{}, false, true, errMalformedDiag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, found, done, err := parseDiagAnswer(tt.datagram, 7)
			if d != tt.want || found != tt.wantFound || done != tt.wantDone || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("parseDiagAnswer = %+v, found %v, done %v, %v; want %+v, %v, %v, %v", d, found, done, err, tt.want, tt.wantFound, tt.wantDone, tt.wantErr)
			}
		})
	}
}

// FuzzParseDiagAnswer: no datagram makes the sock_diag decoder panic, and
// a socket is only reported in a finished answer.
func FuzzParseDiagAnswer(f *testing.F) {
	f.Add(diagMsg(7, tcpEstab, 1000, 4242), uint32(7))
	f.Add(slices.Concat(diagMsg(6, tcpListen, 0, 1), nltest.Err(unix.ENOENT, 7)), uint32(7))
	f.Add(diagMsg(7, tcpEstab, 0, 2)[:40], uint32(7))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		if _, found, done, err := parseDiagAnswer(b, seq); found && (!done || err != nil) {
			t.Fatalf("found a socket with done %v, err %v", done, err)
		}
	})
}

// TestSockDiagLookupAllocs: a lookup allocates nothing (at start every
// flow of a large table is looked up).
func TestSockDiagLookupAllocs(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := dialSockDiag(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	local, remote := netip.MustParseAddrPort(c.LocalAddr().String()), netip.MustParseAddrPort(c.RemoteAddr().String())
	if n := testing.AllocsPerRun(100, func() {
		if _, found, err := d.lookup(unix.IPPROTO_TCP, local, remote); err != nil || !found {
			t.Fatalf("lookup: found %v, %v", found, err)
		}
	}); n != 0 {
		t.Errorf("a lookup allocates %.1f times, want none", n)
	}
}
