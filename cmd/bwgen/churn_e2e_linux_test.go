package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestTCPChurn runs tcp-churn against tcp-churn-sink over three ports, at
// a pace, and checks with the peer's conntrack that every connection was
// made, a flow of its own, spread evenly over the ports, carrying its
// bytes, and that they took the time the pace asks.
func TestTCPChurn(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	gen, _ := nettest.Generator(t, "churn")
	const port, ports, n, size, cps = 7400, 3, 600, 1000, 2000
	nettest.StartServer(t, p.Peer, gen, "-parallel", "4", "-ports", strconv.Itoa(ports), "tcp-churn-sink", fmt.Sprintf("%s:%d", p.PeerIP4, port))
	start := time.Now()
	nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-cps", strconv.Itoa(cps), "-conns", strconv.Itoa(n), "-parallel", "4", "-ports", strconv.Itoa(ports),
		"tcp-churn", fmt.Sprintf("%s:%d", p.PeerIP4, port), strconv.Itoa(size))
	if took, least := time.Since(start), time.Duration(n-1)*time.Second/cps-paceSlack; took < least {
		t.Errorf("%d connections at %d/s took %v, want at least %v", n, cps, took, least)
	}
	nettest.Eventually(t, 10*time.Second, func() error {
		for i := range ports {
			flows, closed := 0, 0
			orig, _ := nettest.ConntrackBytes(t, p.Peer, func(f conntrack.Flow) bool {
				if f.TupleOrig.Proto.Protocol != 6 || f.TupleOrig.Proto.DestinationPort != uint16(port+i) {
					return false
				}
				flows++
				if f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State >= 7 { // TIME_WAIT or CLOSE: both ends closed
					closed++
				}
				return true
			})
			// Each connection's data, and its SYN, ACK and FIN: more than
			// size bytes, less than twice.
			if want := n / ports; flows != want || closed != want || orig < uint64(want*size) || orig > uint64(2*want*size) {
				return fmt.Errorf("port %d: %d flows (%d closed), %d bytes from the client; want %d connections of %d bytes, all closed",
					port+i, flows, closed, orig, want, size)
			}
		}
		return nil
	})
}
