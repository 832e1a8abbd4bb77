package nftct_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
)

// TestQuiet: with Quiet's table in a namespace, conntrack sends no event
// of the flows a local process's TCP or UDP socket starts, nor of TCP
// flows arriving for a local socket; a ping, inbound UDP and a TCP
// connection to a closed port keep theirs. The kernel decides: the test
// listens to the namespace's events as any listener would.
func TestQuiet(t *testing.T) {
	p := nettest.NewPair(t)
	fd := nettest.NetNSFD(t, p.Watched)
	if err := nftct.Quiet(fd, "bwmontest-quiet"); err != nil {
		t.Fatalf("adding the quiet table: %v", err)
	}
	nettest.EngageConntrack(t, p.Peer)
	c, err := conntrack.Dial(&netlink.Config{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := make(chan conntrack.Event, 4096)
	errs, err := c.Listen(evs, 1, []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy})
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := nettest.Generator(t, "quiet")
	hp := func(a fmt.Stringer, port int) string { return fmt.Sprintf("%s:%d", a, port) }
	nettest.StartServer(t, p.Peer, gen, "tcp-sink", hp(p.PeerIP4, 7001))
	nettest.StartServer(t, p.Peer, gen, "udp-sink", hp(p.PeerIP4, 7002))
	nettest.StartServer(t, p.Watched, gen, "tcp-sink", hp(p.WatchedIP4, 7003))
	nettest.StartServer(t, p.Watched, gen, "udp-sink", hp(p.WatchedIP4, 7004))
	nettest.StartServer(t, p.Watched, gen, "tcp-sink", fmt.Sprintf("[%s]:7006", p.WatchedIP6))

	nettest.RunOK(t, 10*time.Second, p.Watched, gen, "tcp-send", hp(p.PeerIP4, 7001), "10000")
	nettest.RunOK(t, 10*time.Second, p.Watched, gen, "udp-send", hp(p.PeerIP4, 7002), "10000", "1000")
	nettest.RunOK(t, 10*time.Second, p.Peer, gen, "tcp-send", hp(p.WatchedIP4, 7003), "10000")
	nettest.RunOK(t, 10*time.Second, p.Peer, gen, "tcp-send", fmt.Sprintf("[%s]:7006", p.WatchedIP6), "10000")
	nettest.RunOK(t, 10*time.Second, p.Peer, gen, "udp-send", hp(p.WatchedIP4, 7004), "10000", "1000")
	nettest.RunOK(t, 10*time.Second, p.Watched, gen, "ping", p.PeerIP4.String(), "3", "100")
	// Nothing listens on 7005: the kernel answers with a reset.
	_ = nettest.Start(t, p.Peer, gen, "tcp-send", hp(p.WatchedIP4, 7005), "100")

	want := map[string]bool{"udp/7004": true, "tcp/7005": true, "icmp": true}
	quiet := map[string]bool{"tcp/7001": true, "udp/7002": true, "tcp/7003": true, "tcp/7006": true}
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(seen) < len(want) || !timeUp(deadline) {
		select {
		case ev := <-evs:
			if ev.Flow == nil {
				continue
			}
			o := ev.Flow.TupleOrig
			k := "icmp"
			switch o.Proto.Protocol {
			case 6:
				k = fmt.Sprintf("tcp/%d", o.Proto.DestinationPort)
			case 17:
				k = fmt.Sprintf("udp/%d", o.Proto.DestinationPort)
			}
			seen[k] = true
		case err := <-errs:
			t.Fatalf("listening to conntrack events: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if timeUp(deadline) {
			break
		}
	}
	for k := range quiet {
		if seen[k] {
			t.Errorf("an event of %s: the flow of a local socket is not quiet", k)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no event of %s: it must keep its events (no local process's socket)", k)
		}
	}
	if t.Failed() {
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Logf("events seen: %v", keys)
	}
	pids, err := nftct.QuietAgents(fd, os.Getpid(), func(int) bool { return true })
	if err != nil || len(pids) != 0 {
		t.Errorf("QuietAgents = %v, %v: the tests' table is nobody's agent", pids, err)
	}
}

func timeUp(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
