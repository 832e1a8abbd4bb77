package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestUDPLive runs udp-live in a namespace whose conntrack counts, with
// its sockets numbered across a change of destination port (-first), and
// checks that every socket is a flow of its own, moving size bytes about
// once a second.
func TestUDPLive(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Watched)
	gen, _ := nettest.Generator(t, "live")
	const port, size = 7300, 100
	for _, port := range []int{port, port + 1} {
		nettest.StartServer(t, p.Peer, gen, "udp-sink", fmt.Sprintf("0.0.0.0:%d", port)) // no ICMP back
	}
	const n, first = 2000, portsPerDest - 1000 // 1,000 sockets to each port
	nettest.Start(t, p.Watched, gen, "-first", strconv.Itoa(first), "udp-live", fmt.Sprintf("%s:%d", p.PeerIP4, port), strconv.Itoa(n), strconv.Itoa(size))

	c, err := conntrack.Dial(&netlink.Config{NetNS: nettest.NetNSFD(t, p.Watched)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	nettest.Eventually(t, 10*time.Second, func() error {
		flows, err := c.Dump(nil)
		if err != nil {
			return err
		}
		perPort := map[uint16]int{}
		moved := 0
		for _, f := range flows {
			if f.TupleOrig.Proto.Protocol != 17 {
				continue
			}
			perPort[f.TupleOrig.Proto.DestinationPort]++
			if o := f.CountersOrig; o.Packets >= 2 {
				moved++
				if o.Bytes != o.Packets*(size+28) {
					return fmt.Errorf("flow %v: %d bytes in %d packets, want %d each", f.TupleOrig, o.Bytes, o.Packets, size+28)
				}
			}
		}
		if perPort[port] != n/2 || perPort[port+1] != n/2 || moved != n {
			return fmt.Errorf("flows to port %d: %d, to %d: %d (want %d each); %d of %d sent twice or more",
				port, perPort[port], port+1, perPort[port+1], n/2, moved, n)
		}
		return nil
	})
	// Once a second each: two datagrams a flow take about a second.
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("every flow sent twice only after %s", el)
	}
}
