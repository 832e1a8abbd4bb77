package sockbpf

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestShortConnectionsAttributed: one process makes 3,000 back-to-back
// 2 KiB TCP connections from a test namespace; at least 99.5% of their
// IP-layer bytes, as the peer's conntrack counts them, are reported
// under its PID (issue 14; conntrack-only bwmon attributes 86-89%).
func TestShortConnectionsAttributed(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	gen, _ := nettest.Generator(t, "bpfconns")
	const port, conns, size = 5601, 3000, 2048
	nettest.StartServer(t, p.Peer, gen, "tcp-sink", ":"+strconv.Itoa(port))

	c := openCounter(t, Options{})
	var (
		mu      sync.Mutex
		byPID   = map[int]uint64{}
		sockets = map[int]int{}
		pid     int
	)
	read := func() {
		err := c.Read(func(s *Socket) {
			// Only the closed sockets' final figures are summed.
			if !s.Closed || s.Proto != unix.IPPROTO_TCP || s.Remote != netip.AddrPortFrom(p.PeerIP4, port) {
				return
			}
			mu.Lock()
			byPID[s.PID] += s.BytesIn + s.BytesOut
			sockets[s.PID]++
			mu.Unlock()
		})
		if err != nil {
			t.Error(err)
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				read()
			}
		}
	}()

	cmd := exec.Command("ip", "netns", "exec", p.Watched, gen, "-conns", strconv.Itoa(conns), "tcp-send",
		netip.AddrPortFrom(p.PeerIP4, port).String(), strconv.Itoa(size))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid = cmd.Process.Pid // ip netns exec execs the program: same PID
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bwgen: %v", err)
	}
	took := time.Since(start)
	orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(unix.IPPROTO_TCP, port))
	ref := orig + reply
	nettest.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if sockets[pid] < conns {
			return fmt.Errorf("%d of %d connections reported closed under PID %d", sockets[pid], conns, pid)
		}
		return nil
	})
	close(stop)
	<-stopped
	read()
	mu.Lock()
	defer mu.Unlock()
	share := float64(byPID[pid]) / float64(ref)
	t.Logf("%d connections in %s: %d of %d bytes (%.4f) under PID %d; by PID: %v; stats %+v", conns, took.Round(time.Millisecond), byPID[pid], ref, share, pid, byPID, c.Stats())
	if share < 0.995 || share > 1.005 {
		t.Errorf("%.4f of the bytes under the client's PID, want ≥ 0.995 (and no more than what conntrack counted)", share)
	}
}
