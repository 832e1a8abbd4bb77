package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
)

// ctEvents listens to the conntrack events of namespace ns, as any
// listener (conntrackd, `conntrack -E`) would, counting them by
// destination port (0 for ICMP).
type ctEvents struct {
	mu    sync.Mutex
	ports map[uint16]int
}

func listenEvents(t *testing.T, ns string) *ctEvents {
	t.Helper()
	c, err := conntrack.Dial(&netlink.Config{NetNS: nettest.NetNSFD(t, ns)})
	if err != nil {
		t.Fatal(err)
	}
	evs := make(chan conntrack.Event, 8192)
	if _, err := c.Listen(evs, 1, []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy}); err != nil {
		t.Fatal(err)
	}
	e := &ctEvents{ports: map[uint16]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range evs {
			if ev.Flow != nil {
				e.mu.Lock()
				e.ports[ev.Flow.TupleOrig.Proto.DestinationPort]++
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.Close(); close(evs); <-done })
	return e
}

func (e *ctEvents) of(port uint16) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ports[port]
}

// TestSocketQuietConntrack: counting at the socket, the agent silences
// conntrack's events of the flows it counts there (nftct.Quiet), and
// still counts every byte of 300 back-to-back connections and of a
// server's accepted ones; a listener started after it sees none of their
// events, but still those of what conntrack counts (a ping the kernel
// answers). The table goes with the agent. A listener running before the
// agent starts keeps every event: the agent leaves them on.
func TestSocketQuietConntrack(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	fd := nettest.NetNSFD(t, p.Watched)
	cfg := fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched) + socketSection(socketOn)
	srv, _ := nettest.Generator(t, "quietsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5801))
	local, localApp := nettest.Generator(t, "quietlsrv")
	nettest.StartServer(t, p.Watched, local, "tcp-sink", hostPort(p.WatchedIP4, 5802))

	t.Run("quiet", func(t *testing.T) {
		a := startAgent(t, cfg)
		nettest.Eventually(t, 10*time.Second, func() error {
			if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 1 || pids[0] != a.cmd.Process.Pid {
				return fmt.Errorf("quiet tables of agents %v (%v), want the agent's (%d)", pids, err, a.cmd.Process.Pid)
			}
			return nil
		})
		ev := listenEvents(t, p.Watched)
		gen, app := nettest.Generator(t, "quietcli")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "300", "tcp-send", hostPort(p.PeerIP4, 5801), "2048")
		in, out := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5801))
		expectApp(t, a, app, out, in)
		// Inbound: the server's accepted connections.
		peer, _ := nettest.Generator(t, "quietpeer")
		nettest.RunOK(t, 60*time.Second, p.Peer, peer, "-conns", "20", "tcp-send", hostPort(p.WatchedIP4, 5802), "100000")
		in, out = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5802))
		expectApp(t, a, localApp, in, out)
		nettest.RunOK(t, 10*time.Second, p.Peer, peer, "ping", p.WatchedIP4.String(), "3", "100")
		nettest.Eventually(t, 5*time.Second, func() error {
			if ev.of(0) == 0 {
				return fmt.Errorf("no event of the ping the kernel answered: conntrack's own flows must keep theirs")
			}
			return nil
		})
		if n, m := ev.of(5801), ev.of(5802); n+m != 0 {
			t.Errorf("a listener saw %d events of the connections made and %d of those accepted: want none", n, m)
		}
		a.stop(t)
		if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 0 {
			t.Errorf("after the agent stopped: quiet tables of %v (%v), want none", pids, err)
		}
	})

	t.Run("another listener", func(t *testing.T) {
		ev := listenEvents(t, p.Watched)
		a := startAgent(t, cfg)
		gen, _ := nettest.Generator(t, "loudcli")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "20", "tcp-send", hostPort(p.PeerIP4, 5801), "2048")
		nettest.Eventually(t, 5*time.Second, func() error {
			if n := ev.of(5801); n < 20 {
				return fmt.Errorf("the listener saw %d events of 20 connections, want their NEW events at least", n)
			}
			return nil
		})
		if pids, _ := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); len(pids) != 0 {
			t.Errorf("quiet tables of %v beside another listener, want none", pids)
		}
		a.stop(t)
	})
}
