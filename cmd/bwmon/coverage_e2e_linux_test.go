package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
	"github.com/bwmon/bwmon/model"
)

// iface returns the line of interface name in a's last tick.
func (a *agent) iface(name string) (model.Interface, bool) {
	s := a.snapshot()
	if s == nil {
		return model.Interface{}, false
	}
	for _, l := range s.Interfaces {
		if l.Name == name {
			return l, true
		}
	}
	return model.Interface{}, false
}

func share(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestCoverage: in a quiet namespace, bulk TCP both ways over its link and
// over its loopback. The link's IP-layer bytes match the peer's conntrack
// reference within 1%, and bwmon explains at least 99% of them both ways
// (the loopback's bytes, counted for both ends in the apps, take no
// part). Then a raw AF_PACKET sender puts frames on the link that no IP
// socket sees: coverage out falls by what it sent, as said.
func TestCoverage(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer) // the reference counters
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched))
	lab := p.Watched + "a"
	const n = 32 << 20
	hp := func(addr fmt.Stringer, port int) string { return fmt.Sprintf("%s:%d", addr, port) }

	srv, _ := nettest.Generator(t, "covsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hp(p.PeerIP4, 5401))
	nettest.StartServer(t, p.Peer, srv, "tcp-serve", hp(p.PeerIP4, 5402), strconv.Itoa(n))
	losrv, _ := nettest.Generator(t, "covlo")
	nettest.StartServer(t, p.Watched, losrv, "tcp-sink", "127.0.0.1:5403")
	gen, app := nettest.Generator(t, "covgen")
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", hp(p.PeerIP4, 5401), strconv.Itoa(n))
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-recv", hp(p.PeerIP4, 5402), strconv.Itoa(n))
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", "127.0.0.1:5403", strconv.Itoa(n))
	orig, reply := nettest.ConntrackBytes(t, p.Peer, func(f conntrack.Flow) bool {
		return f.TupleOrig.Proto.Protocol == protoTCP && (f.TupleOrig.Proto.DestinationPort == 5401 || f.TupleOrig.Proto.DestinationPort == 5402)
	})

	var l model.Interface
	var c model.Coverage
	nettest.Eventually(t, 15*time.Second, func() error {
		var ok bool
		if l, ok = a.iface(lab); !ok {
			b, _ := json.Marshal(a.snapshot().Interfaces)
			return fmt.Errorf("no interface %s in %s", lab, b)
		}
		c = a.snapshot().Coverage
		if !within(l.BytesOut, orig, 0.01) || !within(l.BytesIn, reply, 0.01) {
			return fmt.Errorf("%s: IP bytes out %d, in %d; want the peer's reference %d, %d (±1%%)", lab, l.BytesOut, l.BytesIn, orig, reply)
		}
		if in, out := share(c.Last15m.In), share(c.Last15m.Out); !(in >= 0.99) || !(out >= 0.99) {
			b, _ := json.Marshal(c)
			return fmt.Errorf("coverage over 15 minutes in %.4f, out %.4f; want at least 0.99: %s", in, out, b)
		}
		return nil
	})
	if l.Role != model.RoleCounted || l.Kind != "veth" || l.LinkBytesOut-l.BytesOut != 14*l.PacketsOut {
		t.Errorf("%s: %+v; want a counted veth, 14 bytes a packet above the IP layer", lab, l)
	}
	if got, _ := a.app(app); got.BytesOut < 2*n {
		t.Errorf("app %s sent %d bytes, want the upload and the loopback's, at least %d: the loopback must count in the apps", app, got.BytesOut, 2*n)
	}
	w := c.Last15m
	t.Logf("coverage, quiet namespace, %d MiB up, down and over the loopback: in %.5f, out %.5f; %s IP bytes out %d / reference %d = %.5f, in %d / %d = %.5f; unexplained in %d, out %d bytes over %.0f s (ARP and neighbour discovery: no IP flow conntrack counts)",
		n>>20, share(w.In), share(w.Out), lab, l.BytesOut, orig, ratio(l.BytesOut, orig), l.BytesIn, reply, ratio(l.BytesIn, reply),
		int64(w.InterfaceBytesIn)-int64(w.AccountedBytesIn), int64(w.InterfaceBytesOut)-int64(w.AccountedBytesOut), w.SpanS)

	t.Run("an AF_PACKET sender lowers it", func(t *testing.T) {
		const frame, raw = 1500, n / 2
		before := a.snapshot().Coverage.Total
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "raw-eth", lab, strconv.Itoa(raw), strconv.Itoa(frame))
		frames := uint64((raw + frame - 1) / frame)
		rawIP := frames * (frame - 14) // what the interface's IP-layer figure takes them for
		want := float64(before.AccountedBytesOut) / float64(before.InterfaceBytesOut+rawIP)
		var got model.CoverageSpan
		nettest.Eventually(t, 10*time.Second, func() error {
			got = a.snapshot().Coverage.Total
			if out := share(got.Out); math.Abs(out-want) > 0.01 {
				return fmt.Errorf("coverage out since start %.4f, want %.4f (±0.01): %d raw bytes are on the link", out, want, raw)
			}
			return nil
		})
		if in := share(got.In); !(in >= 0.99) {
			t.Errorf("coverage in %.4f: the raw frames went out only, want it at least 0.99 still", in)
		}
		t.Logf("coverage out since start: %.5f before, %.5f after %d MiB of raw frames (%d frames): explained %d of %d IP-layer bytes",
			share(before.Out), share(got.Out), raw>>20, frames, got.AccountedBytesOut, got.InterfaceBytesOut)
	})
}

// TestCoverageRouted: a gateway's traffic crosses two of its interfaces,
// each byte in on one and out on the other; bwmon explains it whether
// the bytes go to the forwarded section (a routed LAN host) or to the
// process of a namespace behind masquerade (a container).
func TestCoverageRouted(t *testing.T) {
	for _, tc := range []struct {
		name string
		nat  bool
	}{{"forwarded", false}, {"masquerade", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := nettest.NewRouted(t)
			if tc.nat {
				r.Masquerade(t)
			}
			a := gatewayAgent(t, r, "")
			const n = 16 << 20
			srv, _ := nettest.Generator(t, "rsrv")
			nettest.StartServer(t, r.Outside, srv, "tcp-sink", fmt.Sprintf("%s:5411", r.OutsideIP))
			gen, _ := nettest.Generator(t, "rgen")
			nettest.RunOK(t, 60*time.Second, r.Inside, gen, "-linger", "2s", "tcp-send", fmt.Sprintf("%s:5411", r.OutsideIP), strconv.Itoa(n))
			var c model.Coverage
			nettest.Eventually(t, 15*time.Second, func() error {
				c = a.snapshot().Coverage
				in, out := share(c.Last15m.In), share(c.Last15m.Out)
				// Each byte came in on one interface and went out on the
				// other: the interfaces' sums in and out are each the
				// transfer's, its data one way and its ACKs the other.
				if c.Last15m.InterfaceBytesOut < n || c.Last15m.InterfaceBytesIn < n || !(in >= 0.99) || !(out >= 0.99) {
					b, _ := json.Marshal(c.Last15m)
					return fmt.Errorf("coverage in %.4f, out %.4f, want at least 0.99 over %d bytes in on one interface and out on the other: %s", in, out, n, b)
				}
				return nil
			})
			for _, dev := range []string{r.InsideDev, r.OutsideDev} {
				if l, ok := a.iface(dev); !ok || l.Role != model.RoleCounted || l.BytesIn+l.BytesOut < n {
					t.Errorf("%s: %+v, want a counted interface that carried the transfer", dev, l)
				}
			}
			t.Logf("coverage, %s through a gateway, %d MiB: in %.5f, out %.5f over %d and %d interface bytes",
				tc.name, n>>20, share(c.Last15m.In), share(c.Last15m.Out), c.Last15m.InterfaceBytesIn, c.Last15m.InterfaceBytesOut)
		})
	}
}

// TestCoverageOlderFlows: on a host where conntrack ran without accounting
// (nf_conntrack_acct=0, as the kernel starts), a connection that began
// before the agent keeps counters of zero after the agent switches
// accounting on: its bytes cross the interface but no app gets them, and
// coverage says so until it ends. A connection made after the start is
// explained again.
func TestCoverageOlderFlows(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	if err := nftct.Engage(nettest.NetNSFD(t, p.Watched), "bwmontest"); err != nil { // conntrack runs, not counting
		t.Fatal(err)
	}
	nettest.Build(t, "./cmd/bwmon") // before the older transfer: the agent starts a second into it
	srv, _ := nettest.Generator(t, "oldsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", fmt.Sprintf("%s:5421", p.PeerIP4))
	gen, app := nettest.Generator(t, "oldgen")
	const rate, secs = 2 << 20, 6
	wait := startBefore(t, p.Watched, gen, "-rate", strconv.Itoa(rate), "tcp-send", fmt.Sprintf("%s:5421", p.PeerIP4), strconv.Itoa(rate*secs))
	time.Sleep(time.Second)
	// Conntrack alone: at the socket the older connection is counted
	// from its first packet seen (an adopted socket), which is not what
	// this test is about.
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(socketOff))
	wait(30 * time.Second)
	// The interfaces are read once a tick: wait until what they sent
	// stays put over more than two ticks, so that the older transfer's
	// last bytes are in the figure the second half subtracts.
	var c model.CoverageSpan
	var last uint64
	lastChange := time.Now()
	nettest.Eventually(t, 15*time.Second, func() error {
		c = a.snapshot().Coverage.Total
		if c.InterfaceBytesOut != last {
			last, lastChange = c.InterfaceBytesOut, time.Now()
		}
		if c.InterfaceBytesOut < rate { // a second of it, at least, after the agent's start
			return fmt.Errorf("the interface sent %d bytes since the start, want some of the older transfer's, at least %d", c.InterfaceBytesOut, rate)
		}
		if time.Since(lastChange) < 2500*time.Millisecond {
			return fmt.Errorf("the interface's bytes out still grow (%d)", c.InterfaceBytesOut)
		}
		return nil
	})
	if out := share(c.Out); !(out < 0.05) {
		t.Errorf("coverage out %.4f while an older connection, not counted by the kernel, sent %d bytes: want it near 0", out, c.InterfaceBytesOut)
	}
	if got, ok := a.app(app); ok && got.BytesOut > rate/10 {
		t.Errorf("app %s got %d bytes of a connection the kernel did not count", app, got.BytesOut)
	}
	t.Logf("coverage out since start with a connection older than the agent and accounting off: %.5f (%d of %d bytes)", share(c.Out), c.AccountedBytesOut, c.InterfaceBytesOut)

	unexplained := c.InterfaceBytesOut
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", fmt.Sprintf("%s:5421", p.PeerIP4), strconv.Itoa(rate*secs))
	nettest.Eventually(t, 10*time.Second, func() error {
		c = a.snapshot().Coverage.Total
		if want := float64(c.InterfaceBytesOut-unexplained) / float64(c.InterfaceBytesOut); c.InterfaceBytesOut < unexplained+rate*secs || math.Abs(share(c.Out)-want) > 0.02 {
			return fmt.Errorf("coverage out %.4f, want about %.4f: the new connection explained, the older one not", share(c.Out), want)
		}
		return nil
	})
	t.Logf("after a new connection of as many bytes: %.5f", share(c.Out))
}

// TestCoverageAsService: with the service's user and capabilities only
// (no CAP_SYS_ADMIN), the agent reads its namespace's interfaces and
// explains a transfer.
func TestCoverageAsService(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	dir, bin, stateDir := serviceDir(t)
	path := writeConfig(t, dir, fmt.Sprintf("[state]\ndir = %q\nflush = \"1s\"\n", stateDir))
	a := followAgent(t, path, asService(t, p.Watched, bin, "-config", path, "-output", "json", "-log-level", "info"))
	srv, _ := nettest.Generator(t, "svcsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5431))
	gen, _ := nettest.Generator(t, "svcgen")
	nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "2s", "tcp-send", hostPort(p.PeerIP4, 5431), strconv.Itoa(8<<20))
	var c model.CoverageSpan
	nettest.Eventually(t, 10*time.Second, func() error {
		c = a.snapshot().Coverage.Last15m
		if c.InterfaceBytesOut < 8<<20 || !(share(c.Out) >= 0.99) {
			return fmt.Errorf("coverage %+v; want the 8 MiB sent, at least 0.99 explained", c)
		}
		return nil
	})
	if l, ok := a.iface(p.Watched + "a"); !ok || l.Role != model.RoleCounted {
		t.Errorf("the lab interface: %+v, %v", l, ok)
	}
	if strings.Contains(a.logs.String(), "not reading the network interfaces") {
		t.Errorf("the service's capabilities did not read the interfaces:\n%s", a.logs.String())
	}
}
