package owners

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// TestEarlyInode: a client's socket closed (time-wait, no inode) by the time
// the event path looks it up is still tied to its process by the inode the
// event reader found while it was open.
func TestEarlyInode(t *testing.T) {
	ln, pt, d := lookupFixture(t)
	ns, _ := netns.Open("")
	sk := sockets.NewNamespace(1, ns, 1, sockets.NewCache(time.Now))
	defer sk.Close()
	r, err := New(Options{Sockets: sk, Addresses: ns.Addresses, Procs: pt})
	if err != nil {
		t.Fatal(err)
	}

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
	if err := pt.FullScan(); err != nil { // its sockets known, as a recent owner's are
		t.Fatal(err)
	}
	r.NoteEarly(d, local, remote)
	c.Close() // the client closes first: time-wait
	time.Sleep(50 * time.Millisecond)
	if s, found, _ := d.Lookup(unix.IPPROTO_TCP, local, remote); !found || s.Inode != 0 {
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
func lookupFixture(t *testing.T) (net.Listener, *procs.Table, *sockets.Diag) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	pt, err := procs.Open(procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pt.Close() })
	d, err := sockets.DialDiag(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return ln, pt, d
}
