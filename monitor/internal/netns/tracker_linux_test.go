package netns

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// TestPeerSocket finds a connected socket of another namespace by its
// tuple, by sock_diag there and by /proc/PID/net, as bwmon does without
// CAP_SYS_ADMIN.
func TestPeerSocket(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	gen, _ := nettest.Generator(t, "peersock")
	nettest.StartServer(t, p.Peer, gen, "tcp-sink", fmt.Sprintf("%s:6101", p.PeerIP4))
	cli := nettest.Start(t, p.Watched, gen, "-rate", "1000", "tcp-send", fmt.Sprintf("%s:6101", p.PeerIP4), "100000")

	tr := NewTracker(Options{})
	defer tr.Close()
	var peer *Peer
	var local netip.AddrPort
	nettest.Eventually(t, 10*time.Second, func() error {
		tr.scan(0, true)
		// Other tests' namespaces may hold the same address.
		peer = nil
		for _, x := range tr.Lookup(p.WatchedIP4) {
			if x.Label() == p.Watched {
				peer = x
			}
		}
		if peer == nil {
			return fmt.Errorf("namespace %s not found holding %s", p.Watched, p.WatchedIP4)
		}
		// The client's port, from its namespace's socket table.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cli.Process.Pid) + "/net/tcp")
		if err != nil {
			return err
		}
		rows, err := sockets.ParseProcNet(strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Remote.Port() == 6101 {
				local = r.Local
				return nil
			}
		}
		return fmt.Errorf("no client socket yet")
	})
	remote := netip.AddrPortFrom(p.PeerIP4, 6101)

	s, found, err := peer.sk.Lookup(unix.IPPROTO_TCP, local, remote, true)
	if err != nil || !found || s.Inode == 0 {
		t.Fatalf("sock_diag in %s: %+v found %v err %v", p.Watched, s, found, err)
	}
	// The same by the address, as the resolver asks.
	byAddr := false
	for _, sk := range tr.FindSockets(p.WatchedIP4, nil) {
		if s2, found, _ := sk.Lookup(unix.IPPROTO_TCP, local, remote, false); found && s2.Inode == s.Inode {
			byAddr = true
		}
	}
	if !byAddr {
		t.Errorf("FindSockets(%s): no namespace's lookup finds the socket", p.WatchedIP4)
	}
	// The same through /proc/PID/net: the namespace cannot be entered.
	peer.close()
	byProc := tr.adopt(&Peer{ino: peer.ino, label: peer.label, path: "/nonexistent", pid: cli.Process.Pid})
	s2, found, err := byProc.sk.Lookup(unix.IPPROTO_TCP, local, remote, true)
	if err != nil || !found || s2.Inode != s.Inode {
		t.Errorf("/proc/PID/net in %s: %+v found %v err %v, want inode %d", p.Watched, s2, found, err, s.Inode)
	}
	// Another peer's socket is not found.
	if _, found, _ := byProc.sk.Lookup(unix.IPPROTO_TCP, netip.AddrPortFrom(p.WatchedIP4, 1), remote, true); found {
		t.Errorf("found a socket on a port nothing uses")
	}
	// A namespace with no process and no sock_diag is unreadable.
	gone := tr.adopt(&Peer{label: "gone", path: "/nonexistent"})
	if _, _, err := gone.sk.Lookup(unix.IPPROTO_TCP, local, remote, true); err == nil {
		t.Errorf("a namespace that cannot be read gave no error")
	}
}

// TestProcNetAddrs reads a container's addresses from the files of one of
// its processes, as bwmon does when it may not enter the namespace; the
// fixtures are a Docker container's /proc/PID/net/fib_trie and if_inet6.
func TestProcNetAddrs(t *testing.T) {
	fib, err := os.ReadFile("testdata/fib_trie")
	if err != nil {
		t.Fatal(err)
	}
	got := parseFibTrieLocal(string(fib))
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("172.17.0.2")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fib_trie local addresses %v, want %v (each once; not the /8 route, the broadcast or the network)", got, want)
	}
	v6, err := os.ReadFile("testdata/if_inet6")
	if err != nil {
		t.Fatal(err)
	}
	got = parseIfInet6(string(v6))
	want = []netip.Addr{netip.MustParseAddr("fd00::2"), netip.MustParseAddr("::1"), netip.MustParseAddr("fe80::fc:ff:fe00:1")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("if_inet6 addresses %v, want %v", got, want)
	}
}

// FuzzNamespaceAddrFiles: no fib_trie or if_inet6 text makes their
// parsers panic, and every address they give is valid.
func FuzzNamespaceAddrFiles(f *testing.F) {
	for _, file := range []string{"testdata/fib_trie", "testdata/if_inet6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("  |-- 10.0.0.1\n     /32 host LOCAL\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range append(parseFibTrieLocal(s), parseIfInet6(s)...) {
			if !a.IsValid() {
				t.Fatalf("an invalid address from %q", s)
			}
		}
	})
}
