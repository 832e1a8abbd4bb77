package sockbpf

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// openCounter opens a Counter on the cgroup v2 root, closed at cleanup,
// and checks that it leaks no file descriptor.
func openCounter(tb testing.TB, o Options) *Counter {
	tb.Helper()
	nettest.RequireRoot(tb)
	// The runtime's poller opens its descriptors once, at the first
	// pollable file: before the count.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	files := nettest.OpenFiles(tb)
	goroutines := runtime.NumGoroutine()
	c, err := Open(o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			tb.Errorf("second Close: %v", err)
		}
		if n := nettest.OpenFiles(tb); n > files {
			tb.Errorf("%d open files after Close, %d before Open", n, files)
		}
		// Close waits for the drain goroutine; others of the test may
		// take a moment to return.
		for end := time.Now().Add(time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			tb.Errorf("%d goroutines after Close, %d before Open", n, goroutines)
		}
	})
	return c
}

// cookie returns the socket cookie of c (SO_COOKIE).
func cookie(tb testing.TB, c syscall.Conn) uint64 {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var v uint64
	if cerr := rc.Control(func(fd uintptr) { v, err = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE) }); cerr != nil {
		tb.Fatal(cerr)
	}
	if err != nil {
		tb.Fatalf("SO_COOKIE: %v", err)
	}
	return v
}

// collect reads c until want's cookies have all been reported closed (at
// most 10 s) and returns every socket reported, by cookie: the last
// report of each.
func collect(tb testing.TB, c *Counter, want ...uint64) map[uint64]Socket {
	tb.Helper()
	got := map[uint64]Socket{}
	closed := map[uint64]int{}
	nettest.Eventually(tb, 10*time.Second, func() error {
		if err := c.Read(func(s *Socket) {
			got[s.Cookie] = *s
			if s.Closed {
				closed[s.Cookie]++
			}
		}); err != nil {
			tb.Fatalf("Read: %v", err)
		}
		for _, k := range want {
			if closed[k] == 0 {
				return fmt.Errorf("socket %d not reported closed yet (seen: %v)", k, got[k].Cookie != 0)
			}
		}
		return nil
	})
	for k, n := range closed {
		if n > 1 {
			tb.Errorf("socket %d reported closed %d times", k, n)
		}
	}
	return got
}

func comm(tb testing.TB) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		tb.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// TestUDPExact: datagrams of known size between two sockets on loopback
// are counted exactly (payload + 8 bytes UDP + 20 IPv4 / 40 IPv6) with
// their owner and tuple, once each side, and reported closed once.
func TestUDPExact(t *testing.T) {
	c := openCounter(t, Options{})
	for _, tc := range []struct {
		name, network, addr string
		hdr                 uint64
		family              uint8
	}{
		{"ipv4", "udp4", "127.0.0.1:0", 28, unix.AF_INET},
		{"ipv6", "udp6", "[::1]:0", 48, unix.AF_INET6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rx, err := net.ListenPacket(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := net.Dial(tc.network, rx.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			const n, size = 10, 1000
			buf := make([]byte, size)
			for range n {
				if _, err := tx.Write(buf); err != nil {
					t.Fatal(err)
				}
				if _, _, err := rx.ReadFrom(buf); err != nil {
					t.Fatal(err)
				}
			}
			txk, rxk := cookie(t, tx.(*net.UDPConn)), cookie(t, rx.(*net.UDPConn))
			tx.Close()
			rx.Close()
			got := collect(t, c, txk, rxk)
			want := uint64(n * (size + tc.hdr))
			s, r := got[txk], got[rxk]
			if s.BytesOut != want || s.PacketsOut != n || s.BytesIn != 0 {
				t.Errorf("sender: out %d B %d packets, in %d B; want out %d B %d packets", s.BytesOut, s.PacketsOut, s.BytesIn, want, n)
			}
			if r.BytesIn != want || r.PacketsIn != n || r.BytesOut != 0 {
				t.Errorf("receiver: in %d B %d packets, out %d B; want in %d B %d packets", r.BytesIn, r.PacketsIn, r.BytesOut, want, n)
			}
			for _, k := range []Socket{s, r} {
				if k.PID != os.Getpid() || k.Comm != comm(t) || k.Proto != unix.IPPROTO_UDP || k.Family != tc.family || k.NetNSCookie == 0 || k.Adopted {
					t.Errorf("socket %+v: want PID %d comm %q proto UDP family %d, a netns cookie", k, os.Getpid(), comm(t), tc.family)
				}
			}
			if s.Local.String() != tx.LocalAddr().String() || s.Remote.String() != rx.LocalAddr().String() {
				t.Errorf("sender's tuple %s -> %s, want %s -> %s", s.Local, s.Remote, tx.LocalAddr(), rx.LocalAddr())
			}
			if r.Local.String() != rx.LocalAddr().String() || r.Remote.String() != tx.LocalAddr().String() {
				t.Errorf("receiver's tuple %s <- %s, want %s <- %s", r.Local, r.Remote, rx.LocalAddr(), tx.LocalAddr())
			}
		})
	}
}

// TestTCPLiveThenClosed: a connection on loopback is reported live with
// its counters while open, and once closed with its final counters: both
// ends, the accepted one under the listener's owner, with every packet
// sent after close() (FIN, last ACK) in the final figures.
func TestTCPLiveThenClosed(t *testing.T) {
	c := openCounter(t, Options{})
	var lc net.ListenConfig
	lc.SetMultipathTCP(false) // plain TCP: TestMPTCP has the other
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	const payload = 100_000
	go func() { _, _ = cl.Write(make([]byte, payload)) }()
	if _, err := io.ReadFull(sv, make([]byte, payload)); err != nil {
		t.Fatal(err)
	}
	lnk, clk, svk := cookie(t, ln.(*net.TCPListener)), cookie(t, cl.(*net.TCPConn)), cookie(t, sv.(*net.TCPConn))

	live := map[uint64]Socket{}
	if err := c.Read(func(s *Socket) { live[s.Cookie] = *s }); err != nil {
		t.Fatal(err)
	}
	for _, k := range []uint64{lnk, clk, svk} {
		s, ok := live[k]
		if !ok || s.Closed {
			t.Fatalf("socket %d: %+v, want it live", k, s)
		}
		if s.PID != os.Getpid() || s.Comm != comm(t) || s.Proto != unix.IPPROTO_TCP || s.Family != unix.AF_INET || s.Adopted {
			t.Errorf("socket %+v: want PID %d, TCP, IPv4", s, os.Getpid())
		}
	}
	if s := live[clk]; s.BytesOut < payload || s.Local.String() != cl.LocalAddr().String() || s.Remote.String() != cl.RemoteAddr().String() {
		t.Errorf("client while open: %+v, want ≥ %d bytes out, %s -> %s", s, payload, cl.LocalAddr(), cl.RemoteAddr())
	}

	cl.Close()
	if _, err := io.ReadAll(sv); err != nil {
		t.Fatal(err)
	}
	sv.Close()
	ln.Close()
	got := collect(t, c, lnk, clk, svk)
	cs, ss, ls := got[clk], got[svk], got[lnk]
	// Every packet of the client is one of the server's: the handshake's
	// SYN, SYN-ACK and ACK are the listener's.
	if cs.BytesOut != ss.BytesIn+ls.BytesIn || cs.PacketsOut != ss.PacketsIn+ls.PacketsIn ||
		cs.BytesIn != ss.BytesOut+ls.BytesOut || cs.PacketsIn != ss.PacketsOut+ls.PacketsOut {
		t.Errorf("client out %d B/%d packets, in %d B/%d; server in %d B/%d, out %d B/%d; listener in %d B/%d, out %d B/%d: want them mirrored",
			cs.BytesOut, cs.PacketsOut, cs.BytesIn, cs.PacketsIn, ss.BytesIn, ss.PacketsIn, ss.BytesOut, ss.PacketsOut, ls.BytesIn, ls.PacketsIn, ls.BytesOut, ls.PacketsOut)
	}
	if !ls.Listener || ls.Remote.IsValid() || ls.PacketsIn != 2 || ls.PacketsOut != 1 || cs.Listener || ss.Listener {
		t.Errorf("listener %+v: want Listener, no remote, the handshake (2 packets in, 1 out)", ls)
	}
	if cs.BytesOut < payload+52*3 {
		t.Errorf("client %+v: want ≥ %d bytes out", cs, payload+52*3)
	}
	// A close record names the slot its socket had while live.
	for _, k := range []uint64{lnk, clk, svk} {
		if got[k].Slot != live[k].Slot || got[k].Slot < 0 {
			t.Errorf("socket %d: closed at slot %d, live at %d: want the same", k, got[k].Slot, live[k].Slot)
		}
	}
	// Read no longer reports them.
	if err := c.Read(func(s *Socket) {
		if s.Cookie == clk || s.Cookie == svk || s.Cookie == lnk {
			t.Errorf("socket %d reported again after its close: %+v", s.Cookie, *s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Closed < 3 || st.MapFull != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestMPTCP: Go listens with MPTCP by default; the kernel's subflows,
// which carry the bytes, get the owner of the MPTCP socket the server
// holds, and are reported closed when the connection ends.
func TestMPTCP(t *testing.T) {
	c := openCounter(t, Options{})
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	d.SetMultipathTCP(true)
	cl, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := sv.(*net.TCPConn).MultipathTCP(); err != nil || !ok {
		nettest.Missing(t, "MPTCP is not enabled here (sysctl net.mptcp.enabled=1): %v", err)
	}
	const payload = 50_000
	go func() { _, _ = cl.Write(make([]byte, payload)); cl.Close() }()
	if _, err := io.ReadAll(sv); err != nil {
		t.Fatal(err)
	}
	sv.Close()
	ln.Close()
	// The subflows' cookies are not the descriptors': find them by tuple.
	var client, server *Socket
	nettest.Eventually(t, 10*time.Second, func() error {
		if err := c.Read(func(s *Socket) {
			k := *s
			switch {
			case !s.Closed || s.Listener:
			case s.Local.String() == cl.LocalAddr().String() && s.Remote.String() == ln.Addr().String():
				client = &k
			case s.Local.String() == ln.Addr().String() && s.Remote.String() == cl.LocalAddr().String():
				server = &k
			}
		}); err != nil {
			t.Fatal(err)
		}
		if client == nil || server == nil {
			return fmt.Errorf("subflows not reported closed yet: client %v server %v", client, server)
		}
		return nil
	})
	for _, s := range []*Socket{client, server} {
		if s.PID != os.Getpid() || s.Comm != comm(t) || s.Proto != unix.IPPROTO_TCP || s.Adopted {
			t.Errorf("subflow %+v: want PID %d", *s, os.Getpid())
		}
	}
	if client.BytesOut < payload || server.BytesIn < payload {
		t.Errorf("client out %d, server in %d: want ≥ %d", client.BytesOut, server.BytesIn, payload)
	}
}

// TestAdopted: a socket created before Open is counted from its first
// packet after it, with PID 0 (user space finds its owner by its cookie).
func TestAdopted(t *testing.T) {
	nettest.RequireRoot(t)
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.Dial("udp4", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := openCounter(t, Options{})
	if _, err := tx.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	txk := cookie(t, tx.(*net.UDPConn))
	tx.Close()
	rx.Close()
	s := collect(t, c, txk)[txk]
	if !s.Adopted || s.PID != 0 || s.BytesOut != 128 || s.Local.String() != tx.LocalAddr().String() {
		t.Errorf("adopted socket %+v: want PID 0, 128 bytes out from %s", s, tx.LocalAddr())
	}
	if st := c.Stats(); st.Adopted == 0 {
		t.Errorf("stats %+v: want adopted sockets counted", st)
	}
}
