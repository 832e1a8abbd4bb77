package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestOlderConnection: a connection made before the agent starts, with
// conntrack counting it from its first packet, goes on moving bytes
// through the agent's start. Its process gets the bytes moved since the
// start, once: never more than the whole connection's IP-layer bytes in
// the peer's conntrack (the socket monitor and conntrack both counting it
// would give up to twice the part after the start), and at least a part
// of them. In both modes.
func TestOlderConnection(t *testing.T) {
	nettest.RequireRoot(t)
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { olderConnection(t, m.mode) })
	}
}

func olderConnection(t *testing.T, mode string) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)    // the reference counters
	nettest.EngageConntrack(t, p.Watched) // counting the connection from its start
	nettest.Build(t, "./cmd/bwmon")       // before the connection: the agent starts a moment into it
	addr := fmt.Sprintf("%s:5431", p.PeerIP4)
	srv, _ := nettest.Generator(t, "oldsink")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", addr)
	gen, app := nettest.Generator(t, "oldconn")
	const rate, secs = 2 << 20, 6
	wait := startBefore(t, p.Watched, gen, "-rate", strconv.Itoa(rate), "tcp-send", addr, strconv.Itoa(rate*secs))
	time.Sleep(1500 * time.Millisecond)
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(mode))
	wait(30 * time.Second)
	orig, _ := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5431))
	// Its last bytes are in once the app's figure stays put over more
	// than two ticks.
	var out uint64
	lastChange := time.Now()
	nettest.Eventually(t, 15*time.Second, func() error {
		got, _ := a.app(app)
		if got.BytesOut != out {
			out, lastChange = got.BytesOut, time.Now()
		}
		if time.Since(lastChange) < 2500*time.Millisecond {
			return fmt.Errorf("app %s's bytes out still grow (%d)", app, out)
		}
		return nil
	})
	t.Logf("%s: %d bytes out of the connection's %d (IP layer, the peer's conntrack): %.3f", app, out, orig, ratio(out, orig))
	if out > orig {
		t.Errorf("app %s: %d bytes out, more than the whole connection's %d: counted twice", app, out, orig)
	}
	// The agent starts 1.5 s into 6 s, and may take a second more.
	if ratio(out, orig) < 0.4 {
		t.Errorf("app %s: %d bytes out of the connection's %d: want what it moved since the agent's start (more than 0.4 of it)", app, out, orig)
	}
}

// startBefore starts generator gen in namespace ns with args, a process
// that predates the agent the test starts next, and returns a function
// that waits for it to end well, at most for a given time. The test kills
// it by its PID if it still runs at the end.
func startBefore(t *testing.T, ns, gen string, args ...string) (wait func(time.Duration)) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, gen}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // a no-op once it ended
	return func(d time.Duration) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s, started before the agent: %v", gen, err)
			}
		case <-time.After(d):
			t.Fatalf("%s, started before the agent, did not end within %s", gen, d)
		}
	}
}
