package monitor

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

	tr := newPeerTracker("/proc", 0, nil, time.Now)
	defer tr.close()
	var peer *peerNS
	var local netip.AddrPort
	nettest.Eventually(t, 10*time.Second, func() error {
		tr.scan(0, true)
		// Other tests' namespaces may hold the same address.
		peer = nil
		for _, x := range tr.lookup(p.WatchedIP4) {
			if x.label == p.Watched {
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
		rows, err := parseProcNet(strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.remote.Port() == 6101 {
				local = r.local
				return nil
			}
		}
		return fmt.Errorf("no client socket yet")
	})
	remote := netip.AddrPortFrom(p.PeerIP4, 6101)

	ino, found, err := peer.socket(unix.IPPROTO_TCP, local, remote, true)
	if err != nil || !found || ino == 0 {
		t.Fatalf("sock_diag in %s: inode %d found %v err %v", p.Watched, ino, found, err)
	}
	// The same through /proc/PID/net.
	peer.close()
	byProc := &peerNS{ino: peer.ino, label: peer.label, path: peer.path, pid: cli.Process.Pid, noDiag: true}
	ino2, found, err := byProc.socket(unix.IPPROTO_TCP, local, remote, true)
	if err != nil || !found || ino2 != ino {
		t.Errorf("/proc/PID/net in %s: inode %d found %v err %v, want %d", p.Watched, ino2, found, err, ino)
	}
	// Another peer's socket is not found.
	if _, found, _ := byProc.socket(unix.IPPROTO_TCP, netip.AddrPortFrom(p.WatchedIP4, 1), remote, true); found {
		t.Errorf("found a socket on a port nothing uses")
	}
	// A namespace with no process and no sock_diag is unreadable.
	gone := &peerNS{label: "gone", path: "/nonexistent"}
	if _, _, err := gone.socket(unix.IPPROTO_TCP, local, remote, true); err == nil {
		t.Errorf("a namespace that cannot be read gave no error")
	}
}
