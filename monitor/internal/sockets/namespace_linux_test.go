package sockets

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// ownSource reaches the test's own namespace: sock_diag unless noDiag,
// the tables from /proc/self/net. It counts what it opens.
type ownSource struct {
	noDiag bool
	dials  atomic.Int32
	reads  atomic.Int32
}

func (s *ownSource) DialDiag() (*Diag, error) {
	s.dials.Add(1)
	if s.noDiag {
		return nil, errors.New("entering the namespace: operation not permitted")
	}
	return DialDiag(0)
}

func (s *ownSource) ReadTable(name string) ([]Socket, error) {
	s.reads.Add(1)
	f, err := os.Open("/proc/self/net/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseProcNet(f)
}

// TestNamespaceLookup finds the same sockets by sock_diag and, where it
// cannot be had, in the /proc/net tables, by the one matching rule.
func TestNamespaceLookup(t *testing.T) {
	_, tc, _ := loopbackPair(t)
	uc, err := net.Dial("udp4", "127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tcpL, tcpR := addrPort(tc.LocalAddr()), addrPort(tc.RemoteAddr())
	udpL, udpR := addrPort(uc.LocalAddr()), addrPort(uc.RemoteAddr())
	tcpIno, udpIno := nettest.SocketInode(t, tc.(*net.TCPConn)), nettest.SocketInode(t, uc.(*net.UDPConn))
	tests := []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          uint64
	}{
		{"tcp", unix.IPPROTO_TCP, tcpL, tcpR, tcpIno},
		{"udp", unix.IPPROTO_UDP, udpL, udpR, udpIno},
		{"tcp, another peer port", unix.IPPROTO_TCP, tcpL, netip.AddrPortFrom(tcpR.Addr(), tcpR.Port()+1), 0},
		{"no such socket", unix.IPPROTO_TCP, netip.AddrPortFrom(tcpL.Addr(), 1), tcpR, 0},
	}
	for _, via := range []struct {
		name   string
		noDiag bool
	}{{"sock_diag", false}, {"proc net", true}} {
		src := &ownSource{noDiag: via.noDiag}
		n := NewNamespace(1, src, 2, NewCache(time.Now))
		for _, tt := range tests {
			t.Run(via.name+"/"+tt.name, func(t *testing.T) {
				s, found, err := n.Lookup(tt.proto, tt.local, tt.remote, false)
				if err != nil || s.Inode != tt.want || found != (tt.want != 0) {
					t.Errorf("Lookup = %+v, %v, %v; want inode %d", s, found, err, tt.want)
				}
			})
		}
		if via.noDiag && src.dials.Load() != 1 {
			t.Errorf("%s: tried sock_diag %d times in a namespace without it, want once", via.name, src.dials.Load())
		}
		if !via.noDiag && src.reads.Load() != 0 {
			t.Errorf("%s: read %d tables with sock_diag at hand", via.name, src.reads.Load())
		}
		n.Close()
		if _, _, err := n.Lookup(unix.IPPROTO_TCP, tcpL, tcpR, false); !errors.Is(err, ErrGone) {
			t.Errorf("%s: Lookup after Close: %v, want ErrGone", via.name, err)
		}
	}
}

// TestNamespaceRawICMP: an ICMP flow's socket is a ping socket by its echo
// ID, else a raw ICMP socket, found in the tables.
func TestNamespaceRawICMP(t *testing.T) {
	nettest.RequireRoot(t)
	c, err := net.ListenPacket("ip4:icmp", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := NewNamespace(1, &ownSource{}, 1, NewCache(time.Now))
	defer n.Close()
	local, remote := netip.MustParseAddrPort("127.0.0.1:4242"), netip.MustParseAddrPort("127.0.0.2:0")
	s, found, err := n.Lookup(unix.IPPROTO_ICMP, local, remote, true)
	if want := nettest.SocketInode(t, c.(*net.IPConn)); err != nil || !found || s.Inode != want {
		t.Errorf("Lookup = %+v, %v, %v; want the raw socket, inode %d", s, found, err, want)
	}
	if _, found, _ := n.Lookup(unix.IPPROTO_ICMPV6, netip.MustParseAddrPort("[::1]:4242"), netip.MustParseAddrPort("[::1]:0"), true); found {
		t.Errorf("an ICMPv6 flow matched an IPv4 raw socket")
	}
}

// TestNamespacePool: concurrent lookups share at most maxDiag sockets,
// which Close releases, those in use once their lookup ends.
func TestNamespacePool(t *testing.T) {
	_, tc, _ := loopbackPair(t)
	local, remote := addrPort(tc.LocalAddr()), addrPort(tc.RemoteAddr())
	src := &ownSource{}
	n := NewNamespace(1, src, 2, NewCache(time.Now))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, found, err := n.Lookup(unix.IPPROTO_TCP, local, remote, false); err != nil || !found {
					t.Errorf("Lookup: %v, %v", found, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if d := src.dials.Load(); d < 1 || d > 2 {
		t.Errorf("%d sock_diag sockets opened for 16 concurrent lookups, want 1 or 2", d)
	}
	fds := nettest.OpenFiles(t)
	n.Close()
	n.Close()
	if after := nettest.OpenFiles(t); after != fds-int(src.dials.Load()) {
		t.Errorf("%d files open after Close, %d before: want its %d sockets closed", after, fds, src.dials.Load())
	}
}
