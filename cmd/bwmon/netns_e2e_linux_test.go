package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// gatewayAgent runs bwmon watching the gateway of r, as it would on a
// host of containers or a router, with the extra [conntrack] lines.
func gatewayAgent(t *testing.T, r *nettest.Routed, conntrackLines string) *agent {
	t.Helper()
	return gatewayAgentMode(t, r, conntrackLines, "auto")
}

// gatewayAgentMode is gatewayAgent counting in [socket] mode mode.
func gatewayAgentMode(t *testing.T, r *nettest.Routed, conntrackLines, mode string) *agent {
	t.Helper()
	return startAgent(t, fmt.Sprintf("[conntrack]\nmanage = true\n%s\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", conntrackLines, r.Gateway)+socketSection(mode))
}

// expectNetNS checks that app's processes are labelled with namespace ns.
func expectNetNS(t *testing.T, a *agent, app, ns string) {
	t.Helper()
	got, _ := a.app(app)
	if !slices.Contains(got.NetNS, ns) {
		t.Errorf("app %s: netns %q, want it to name %q", app, got.NetNS, ns)
	}
}

// TestContainerBehindNAT: a process in a namespace behind masquerade (the
// Docker default) uploads to a remote host; bwmon watches the gateway,
// whose table holds the flow with the gateway's address, and finds the
// socket in the inside namespace.
func TestContainerBehindNAT(t *testing.T) {
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { containerBehindNAT(t, m.mode) })
	}
}

func containerBehindNAT(t *testing.T, mode string) {
	r := nettest.NewRouted(t)
	r.Masquerade(t)
	nettest.EngageConntrack(t, r.Outside) // the reference counters
	a := gatewayAgentMode(t, r, "", mode)

	dst := func(port int) string { return fmt.Sprintf("%s:%d", r.OutsideIP, port) }
	for _, tc := range []struct {
		name     string
		proto    uint8
		port     uint16
		srv, cli []string
	}{
		{"natup", protoTCP, 5101, []string{"tcp-sink", dst(5101)}, []string{"tcp-send", dst(5101), strconv.Itoa(8 << 20)}},
		{"natdown", protoTCP, 5102, []string{"tcp-serve", dst(5102), strconv.Itoa(4 << 20)}, []string{"tcp-recv", dst(5102), strconv.Itoa(4 << 20)}},
		{"natudp", protoUDP, 5103, []string{"udp-sink", dst(5103)}, []string{"udp-send", dst(5103), strconv.Itoa(2 << 20), "1200"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := nettest.Generator(t, "srv")
			nettest.StartServer(t, r.Outside, srv, tc.srv...)
			gen, app := nettest.Generator(t, tc.name)
			nettest.RunOK(t, 30*time.Second, r.Inside, gen, append([]string{"-linger", "3s"}, tc.cli...)...)
			orig, reply := nettest.ConntrackBytes(t, r.Outside, nettest.ToPort(tc.proto, tc.port))
			expectApp(t, a, app, reply, orig)
			expectNetNS(t, a, app, r.Inside)
		})
	}
	s := a.snapshot()
	if len(s.Forwarded.Hosts) != 0 || s.Unattributed.BytesIn+s.Unattributed.BytesOut > 0 {
		b, _ := json.Marshal(s)
		t.Errorf("NATed container traffic should all be attributed, got forwarded or unattributed bytes: %s", b)
	}
}

// TestPortForwardToContainer: a remote client connects to the gateway's
// published port, DNATed to a server in the inside namespace: the server's
// bytes are its process's.
func TestPortForwardToContainer(t *testing.T) {
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { portForwardToContainer(t, m.mode) })
	}
}

func portForwardToContainer(t *testing.T, mode string) {
	r := nettest.NewRouted(t)
	r.ForwardPort(t, 8080, 5201)
	nettest.EngageConntrack(t, r.Outside)
	a := gatewayAgentMode(t, r, "", mode)

	srv, srvApp := nettest.Generator(t, "pubsrv")
	nettest.StartServer(t, r.Inside, srv, "tcp-serve", fmt.Sprintf("%s:5201", r.InsideIP), strconv.Itoa(4<<20))
	// A server started long before its client: no longer a young process,
	// and it sends its answer and closes within a tick.
	time.Sleep(3 * time.Second)
	cli, _ := nettest.Generator(t, "remotecli")
	nettest.RunOK(t, 30*time.Second, r.Outside, cli, "-linger", "3s", "tcp-recv", fmt.Sprintf("%s:8080", r.GatewayOutIP), strconv.Itoa(4<<20))
	orig, reply := nettest.ConntrackBytes(t, r.Outside, nettest.ToPort(protoTCP, 8080))
	// The server answered: the reply direction is what it sent.
	expectApp(t, a, srvApp, orig, reply)
	expectNetNS(t, a, srvApp, r.Inside)
}

// TestForwarded: the gateway routes between two hosts, no NAT, no local
// socket: the bytes are in the forwarded section under the pair of hosts.
func TestForwarded(t *testing.T) {
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { forwarded(t, m.mode) })
	}
}

func forwarded(t *testing.T, mode string) {
	r := nettest.NewRouted(t)
	nettest.EngageConntrack(t, r.Outside)
	a := gatewayAgentMode(t, r, "", mode)

	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, r.Outside, srv, "tcp-sink", fmt.Sprintf("%s:5301", r.OutsideIP))
	gen, app := nettest.Generator(t, "routed")
	nettest.RunOK(t, 30*time.Second, r.Inside, gen, "-linger", "3s", "tcp-send", fmt.Sprintf("%s:5301", r.OutsideIP), strconv.Itoa(6<<20))
	orig, reply := nettest.ConntrackBytes(t, r.Outside, nettest.ToPort(protoTCP, 5301))

	var got model.ForwardedHosts
	nettest.Eventually(t, 10*time.Second, func() error {
		s := a.snapshot()
		for _, h := range s.Forwarded.Hosts {
			if h.Inside == r.InsideIP.String() && h.Remote == r.OutsideIP.String() {
				got = h
			}
		}
		if !within(got.BytesOut, orig, 0.05) || !within(got.BytesIn, reply, 0.05) {
			b, _ := json.Marshal(s.Forwarded)
			return fmt.Errorf("forwarded %s -> %s: out %d in %d, want %d %d (±5%%); forwarded section: %s", r.InsideIP, r.OutsideIP, got.BytesOut, got.BytesIn, orig, reply, b)
		}
		return nil
	})
	t.Logf("accuracy forwarded: out %d/%d = %.4f, in %d/%d = %.4f", got.BytesOut, orig, ratio(got.BytesOut, orig), got.BytesIn, reply, ratio(got.BytesIn, reply))
	if _, ok := a.app(app); ok {
		t.Errorf("routed traffic was attributed to app %s, want it only under forwarded", app)
	}
	if u := a.snapshot().Unattributed; u.BytesIn+u.BytesOut > 0 {
		t.Errorf("routed traffic left %d/%d bytes unattributed", u.BytesIn, u.BytesOut)
	}

	t.Run("forwarded = false", func(t *testing.T) {
		b := gatewayAgent(t, r, "forwarded = false")
		gen, _ := nettest.Generator(t, "routed2")
		nettest.RunOK(t, 30*time.Second, r.Inside, gen, "-linger", "3s", "tcp-send", fmt.Sprintf("%s:5301", r.OutsideIP), strconv.Itoa(1<<20))
		n := b.n
		nettest.Eventually(t, 10*time.Second, func() error {
			if b.snapshotCount() < n+3 {
				return fmt.Errorf("waiting for ticks")
			}
			return nil
		})
		s := b.snapshot()
		if len(s.Forwarded.Hosts) != 0 || s.Forwarded.BytesOut != 0 || s.Unattributed.BytesOut != 0 {
			j, _ := json.Marshal(s)
			t.Errorf("with forwarded = false routed bytes should not be counted: %s", j)
		}
	})
}

func (a *agent) snapshotCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// TestNamespaceGone: a namespace whose process bwmon followed disappears
// mid-run: no error loop, no socket kept in it, and counting goes on.
func TestNamespaceGone(t *testing.T) {
	r := nettest.NewRouted(t)
	r.Masquerade(t)
	a := gatewayAgent(t, r, "")
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", a.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, r.Outside, srv, "tcp-sink", fmt.Sprintf("%s:5401", r.OutsideIP))

	// A second inside namespace, behind the same gateway, that goes away.
	gone := nettest.NewNetNS(t)
	dev := gone + "g"
	nettest.MustIP(t, "link", "add", "gw"+dev[len(dev)-8:], "netns", r.Gateway, "type", "veth", "peer", "name", dev, "netns", gone)
	gwDev := "gw" + dev[len(dev)-8:]
	nettest.MustIP(t, "-n", r.Gateway, "addr", "add", "10.78.3.1/24", "dev", gwDev)
	nettest.MustIP(t, "-n", gone, "addr", "add", "10.78.3.2/24", "dev", dev)
	nettest.MustIP(t, "-n", r.Gateway, "link", "set", gwDev, "up")
	nettest.MustIP(t, "-n", gone, "link", "set", dev, "up")
	nettest.MustIP(t, "-n", gone, "route", "add", "default", "via", "10.78.3.1")
	before := fds()

	// Paced over half a second: this tests a namespace going away, not the
	// race against a connection shorter than bwmon's first look at a
	// brand-new namespace.
	gen, app := nettest.Generator(t, "doomed")
	nettest.RunOK(t, 30*time.Second, gone, gen, "-rate", "2000000", "-linger", "2s", "tcp-send", fmt.Sprintf("%s:5401", r.OutsideIP), strconv.Itoa(1<<20))
	nettest.Eventually(t, 10*time.Second, func() error {
		if u, ok := a.app(app); !ok || u.BytesOut < 1<<20 {
			b, _ := json.Marshal(a.snapshot())
			return fmt.Errorf("app %s not counted yet: %s", app, b)
		}
		return nil
	})
	nettest.MustIP(t, "netns", "del", gone)

	// Within two rescans bwmon lets go of the namespace.
	nettest.Eventually(t, 15*time.Second, func() error {
		if n := fds(); n > before {
			return fmt.Errorf("bwmon holds %d fds, %d before the namespace came", n, before)
		}
		return nil
	})
	// Counting goes on.
	gen2, app2 := nettest.Generator(t, "survivor")
	nettest.RunOK(t, 30*time.Second, r.Inside, gen2, "-linger", "2s", "tcp-send", fmt.Sprintf("%s:5401", r.OutsideIP), strconv.Itoa(1<<20))
	nettest.Eventually(t, 10*time.Second, func() error {
		if u, ok := a.app(app2); !ok || u.BytesOut < 1<<20 {
			return fmt.Errorf("app %s not counted after the namespace went away", app2)
		}
		return nil
	})
	if n := strings.Count(a.logs.String(), "level=ERROR") + strings.Count(a.logs.String(), "level=WARN"); n > 2 {
		t.Errorf("bwmon logged %d warnings or errors after a namespace went away:\n%s", n, a.logs.String())
	}
}

// TestAllNamespaces: traffic that never leaves a namespace (a container
// talking to itself over its loopback) is counted, once, with
// namespaces = "all", and not at all without it; traffic NATed out of a
// namespace is still counted once.
func TestAllNamespaces(t *testing.T) {
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { allNamespaces(t, m.mode) })
	}
}

func allNamespaces(t *testing.T, mode string) {
	r := nettest.NewRouted(t)
	r.Masquerade(t)
	nettest.EngageConntrack(t, r.Outside)
	all := startAgent(t, "[conntrack]\nmanage = true\nnamespaces = \"all\"\n"+socketSection(mode))
	own := startAgent(t, "[conntrack]\nmanage = false\n"+socketSection(mode))

	const n = 4 << 20
	app := loopback(t, all, r.Inside, 5501, n)
	expectNetNS(t, all, app, r.Inside)
	if u, ok := own.app(app); ok && u.BytesOut > 0 {
		t.Errorf("namespaces = own counted %d bytes of another namespace's loopback, want none", u.BytesOut)
	}

	// NATed out of a namespace: the inside namespace's table and the
	// gateway's both hold the flow; it is counted once.
	sink, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, r.Outside, sink, "tcp-sink", fmt.Sprintf("%s:5502", r.OutsideIP))
	up, upApp := nettest.Generator(t, "allnat")
	nettest.RunOK(t, 30*time.Second, r.Inside, up, "-linger", "3s", "tcp-send", fmt.Sprintf("%s:5502", r.OutsideIP), strconv.Itoa(n))
	orig, reply := nettest.ConntrackBytes(t, r.Outside, nettest.ToPort(protoTCP, 5502))
	expectApp(t, all, upApp, reply, orig)

	// A namespace that comes and goes: bwmon reads its table while it
	// lives (its sockets there show as more open files), then lets go.
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", all.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	brief := nettest.NewNetNS(t)
	holder := nettest.Start(t, brief, sink, "tcp-sink", "127.0.0.1:5503")
	nettest.Eventually(t, 15*time.Second, func() error {
		if n := fds(); n <= before {
			return fmt.Errorf("bwmon holds %d fds, as before namespace %s came: not reading it", n, brief)
		}
		return nil
	})
	_ = holder.Process.Kill()
	nettest.MustIP(t, "netns", "del", brief)
	nettest.Eventually(t, 15*time.Second, func() error {
		if n := fds(); n > before {
			return fmt.Errorf("bwmon holds %d fds, %d before namespace %s came and went", n, before, brief)
		}
		return nil
	})
	if logs := all.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Count(logs, "level=WARN") > 2 {
		t.Errorf("bwmon complained about namespaces coming and going:\n%s", logs)
	}
}

// TestServiceCapabilitiesContainer runs the agent as bwmon.service does
// (user nobody, no CAP_SYS_ADMIN: it cannot enter other namespaces) on a
// gateway with a masqueraded namespace behind it: the namespace's
// addresses and sockets are read from /proc/PID/net instead.
func TestServiceCapabilitiesContainer(t *testing.T) {
	nettest.RequireRoot(t)
	r := nettest.NewRouted(t)
	r.Masquerade(t)
	nettest.EngageConntrack(t, r.Outside)
	dir, bin, stateDir := serviceDir(t)
	path := writeConfig(t, dir, fmt.Sprintf("[state]\ndir = %q\n[http]\nlisten = \"\"\n", stateDir))

	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, r.Outside, srv, "tcp-sink", fmt.Sprintf("%s:5601", r.OutsideIP))
	// A container always has a process (its init): without CAP_SYS_ADMIN
	// bwmon reads the namespace's addresses through one. And the agent
	// runs in the gateway namespace, where the kernel sends no process
	// events, so a newcomer's namespace is not found on the event path.
	nettest.StartServer(t, r.Inside, srv, "tcp-sink", fmt.Sprintf("%s:5699", r.InsideIP))
	a := followAgent(t, path, asService(t, r.Gateway, bin, "-config", path, "-output", "json", "-log-level", "info"))

	gen, app := nettest.Generator(t, "capsnat")
	nettest.RunOK(t, 30*time.Second, r.Inside, gen, "-linger", "3s", "tcp-send", fmt.Sprintf("%s:5601", r.OutsideIP), strconv.Itoa(2<<20))
	orig, reply := nettest.ConntrackBytes(t, r.Outside, nettest.ToPort(protoTCP, 5601))
	expectApp(t, a, app, reply, orig)
}
