package owners

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/procs"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// TestEarlyInode: a client's socket closed (time-wait, no inode) by the time
// the event path looks it up is still tied to its process by the inode the
// event reader found while it was open.
func TestEarlyInode(t *testing.T) {
	ln, r, d := lookupFixture(t)

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
	if err := r.procs.FullScan(); err != nil { // its sockets known, as a recent owner's are
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

// lookupFixture is a TCP listener on loopback, a resolver of this
// namespace whose process table has read every process once, and a
// sock_diag socket, closed at the end of the test.
func lookupFixture(t *testing.T) (net.Listener, *Resolver, *sockets.Diag) {
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
	ns, _ := netns.Open("")
	sk := sockets.NewNamespace(1, ns, 1, sockets.NewCache(time.Now))
	t.Cleanup(func() { sk.Close() })
	r, err := New(Options{Sockets: sk, Addresses: ns.Addresses, Procs: pt})
	if err != nil {
		t.Fatal(err)
	}
	return ln, r, d
}

// TestListenerHolder: a connection the server accepted and closed before
// it was looked up (its socket orphaned, no inode) is the listener's
// holder's from its first tick, not on the event path (where it may not
// be accepted yet); with no listener there any more, it has no owner.
func TestListenerHolder(t *testing.T) {
	ln, r, d := lookupFixture(t)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// The server's end of the flow: its local address is the listener's.
	local, remote := netip.MustParseAddrPort(sc.LocalAddr().String()), netip.MustParseAddrPort(sc.RemoteAddr().String())
	sc.Close() // the server closes first: orphaned in FIN-WAIT-2
	time.Sleep(50 * time.Millisecond)
	if s, found, _ := d.Lookup(unix.IPPROTO_TCP, local, remote); !found || s.Inode != 0 {
		t.Fatalf("after close: lookup = %+v found %v, want a socket with no inode", s, found)
	}
	if info, ok := r.Resolve(unix.IPPROTO_TCP, local, remote, flows.Quick); ok {
		t.Errorf("event path: %+v, want no answer yet", info)
	}
	for _, level := range []flows.Level{flows.Tick, flows.Final} {
		info, ok := r.Resolve(unix.IPPROTO_TCP, local, remote, level)
		if !ok || info.Process == nil || info.Process.PID != os.Getpid() {
			t.Errorf("level %d: %+v %v, want the listener's holder, this process (%d)", level, info, ok, os.Getpid())
		}
	}
	// The client's end, closed too, has no listener on its port: no
	// owner known by it.
	c.Close()
	time.Sleep(50 * time.Millisecond)
	if info, ok := r.Resolve(unix.IPPROTO_TCP, remote, local, flows.Tick); ok {
		t.Errorf("client's end: %+v, want no answer (no listener on its port)", info)
	}
	ln.Close()
	if info, ok := r.Resolve(unix.IPPROTO_TCP, local, remote, flows.Final); !ok || info.Process != nil || info.Unattributed != model.ReasonNoProcess {
		t.Errorf("listener closed: %+v %v, want unattributed %s", info, ok, model.ReasonNoProcess)
	}
}

// TestListenerHolderNotPID1: a listener held by PID 1 (systemd's
// Accept=yes hands each connection to a process of its own) names no
// owner; nor does a listener whose holder is not known.
func TestListenerHolderNotPID1(t *testing.T) {
	nginx := &model.Process{PID: 800, Exe: "/usr/sbin/nginx"}
	systemd := &model.Process{PID: 1, Exe: "/usr/lib/systemd/systemd"}
	procs := &fakeProcs{holders: map[uint64]*model.Process{500: nginx, 501: systemd}}
	r := &Resolver{procs: procs}
	at := netip.MustParseAddrPort("10.0.0.1:80")
	for _, tt := range []struct {
		listener uint64
		want     *model.Process
	}{{500, nginx}, {501, nil}, {502, nil}, {0, nil}} {
		got := r.listenerHolder(func(netip.AddrPort) (uint64, bool) { return tt.listener, tt.listener != 0 }, at)
		if got != tt.want {
			t.Errorf("listener %d: %v, want %v", tt.listener, got, tt.want)
		}
	}
}
