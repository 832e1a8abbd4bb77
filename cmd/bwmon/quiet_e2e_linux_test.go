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
	stop  func() // closes the listener, once
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
	e.stop = sync.OnceFunc(func() { c.Close(); close(evs); <-done })
	t.Cleanup(e.stop)
	return e
}

// waitQuiet waits for agent a's table that silences conntrack's events
// in the namespace fd.
func waitQuiet(t *testing.T, fd int, a *agent) {
	t.Helper()
	nettest.Eventually(t, 10*time.Second, func() error {
		if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 1 || pids[0] != a.cmd.Process.Pid {
			return fmt.Errorf("quiet tables of agents %v (%v), want the agent's (%d)", pids, err, a.cmd.Process.Pid)
		}
		return nil
	})
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
// events until the agent next looks for listeners, but still those of
// what conntrack counts (a ping the kernel answers). The table goes with
// the agent. Once the agent finds a listener started after it, it gives
// the events back while that listener runs, counting every byte once
// still; a listener running before the agent starts keeps every event:
// the agent leaves them on.
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
		started := time.Now()
		waitQuiet(t, fd, a)
		ev := listenEvents(t, p.Watched)
		gen, app := nettest.Generator(t, "quietcli")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "300", "tcp-send", hostPort(p.PeerIP4, 5801), "2048")
		// Inbound: the server's accepted connections.
		peer, _ := nettest.Generator(t, "quietpeer")
		nettest.RunOK(t, 60*time.Second, p.Peer, peer, "-conns", "20", "tcp-send", hostPort(p.WatchedIP4, 5802), "100000")
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
		// The agent looks for new listeners every 10 s: until then this
		// one is not known to it.
		if d := time.Since(started); d > 9*time.Second {
			t.Fatalf("the connections ended %v after the agent started: past its first look for listeners (10 s), their silence proves nothing", d.Round(time.Millisecond))
		}
		in, out := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5801))
		expectApp(t, a, app, out, in)
		in, out = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5802))
		expectApp(t, a, localApp, in, out)
		a.stop(t)
		if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 0 {
			t.Errorf("after the agent stopped: quiet tables of %v (%v), want none", pids, err)
		}
	})

	t.Run("a listener started later", func(t *testing.T) {
		a := startAgent(t, cfg, "-log-level", "info")
		waitQuiet(t, fd, a)
		// A port of its own: the peer's table still holds the flows
		// of the subtest before.
		lsrv, _ := nettest.Generator(t, "latesrv")
		nettest.StartServer(t, p.Peer, lsrv, "tcp-sink", hostPort(p.PeerIP4, 5803))
		gen, app := nettest.Generator(t, "latecli")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "50", "tcp-send", hostPort(p.PeerIP4, 5803), "2048")
		// conntrackd started after the agent (at boot, in parallel):
		// within 10 s the agent gives the events back, in this namespace.
		ev := listenEvents(t, p.Watched)
		nettest.Eventually(t, 25*time.Second, func() error {
			if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 0 {
				return fmt.Errorf("quiet tables of %v (%v) with a listener running, want none", pids, err)
			}
			return nil
		})
		a.waitLog(t, "another program now listens to conntrack's events")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "50", "tcp-send", hostPort(p.PeerIP4, 5803), "2048")
		nettest.Eventually(t, 5*time.Second, func() error {
			if n := ev.of(5803); n < 50 {
				return fmt.Errorf("the listener saw %d events of 50 connections, want their NEW events at least", n)
			}
			return nil
		})
		// Every byte once, before and after: counted at the socket, not
		// again by conntrack now that it announces the flows.
		in, out := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5803))
		expectApp(t, a, app, out, in)
		// The listener gone, the agent silences the events again after
		// two looks (20 s), and still counts every byte once.
		ev.stop()
		nettest.Eventually(t, 45*time.Second, func() error {
			if pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true }); err != nil || len(pids) != 1 || pids[0] != a.cmd.Process.Pid {
				return fmt.Errorf("quiet tables of agents %v (%v) with the listener gone, want the agent's (%d) again", pids, err, a.cmd.Process.Pid)
			}
			return nil
		})
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "50", "tcp-send", hostPort(p.PeerIP4, 5803), "2048")
		in, out = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5803))
		expectApp(t, a, app, out, in)
		a.stop(t)
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
