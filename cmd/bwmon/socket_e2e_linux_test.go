package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
)

// Counting at the socket ([socket] mode): the key end-to-end tests run in
// both modes (countModes), and these check the mode itself: what the agent
// says and serves when it counts at the socket, when it falls back to
// conntrack, and when it must not.

const (
	socketOn  = "on"
	socketOff = "off"
)

// countModes are the [socket] modes the key end-to-end tests run in: at
// the socket ("on": the test fails where the eBPF programs cannot load)
// and with conntrack alone.
var countModes = []struct{ name, mode string }{{"socket", socketOn}, {"conntrack", socketOff}}

// socketSection is the [socket] table for mode, to append to a config.
func socketSection(mode string) string { return fmt.Sprintf("\n[socket]\nmode = %q\n", mode) }

// monitorStats is what GET /api/v1/stats says of one monitor.
type monitorStats struct {
	CountMode     string `json:"count_mode"`
	CountFallback string `json:"count_fallback"`
	Sockets       int    `json:"sockets"`
	MapFull       uint64 `json:"sockets_map_full"`
	RingLost      uint64 `json:"sockets_ring_lost"`
}

// httpGet fetches url and returns its body, failing t unless it answers 200.
func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	var body []byte
	nettest.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		body, err = io.ReadAll(resp.Body)
		return err
	})
	return body
}

// conntrackStats returns the stats of the agent's monitor "conntrack".
func conntrackStats(t *testing.T, addr string) monitorStats {
	t.Helper()
	var st struct {
		Monitors map[string]monitorStats `json:"monitors"`
	}
	nettest.Eventually(t, 10*time.Second, func() error {
		if err := json.Unmarshal(httpGet(t, "http://"+addr+"/api/v1/stats"), &st); err != nil {
			return err
		}
		if _, ok := st.Monitors["conntrack"]; !ok {
			return fmt.Errorf("no monitor stats yet: %+v", st.Monitors)
		}
		return nil
	})
	return st.Monitors["conntrack"]
}

// TestSocketModeStats: counting at the socket, the agent says so in its
// stats and metrics, and counts the sockets it follows.
func TestSocketModeStats(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	addr := nettest.FreeAddr(t)
	a := startAgent(t, fmt.Sprintf("[http]\nlisten = %q\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", addr, p.Watched)+socketSection(socketOn))
	srv, srvApp := nettest.Generator(t, "statsrv")
	nettest.StartServer(t, p.Watched, srv, "tcp-sink", fmt.Sprintf("127.0.0.1:%d", 5701))
	_ = srvApp
	st := conntrackStats(t, addr)
	if st.CountMode != "socket" || st.CountFallback != "" {
		t.Errorf("stats: count_mode %q, count_fallback %q; want \"socket\" and none", st.CountMode, st.CountFallback)
	}
	metrics := string(httpGet(t, "http://"+addr+"/metrics"))
	for _, want := range []string{`bwmon_monitor_count_mode{mode="socket",monitor="conntrack"} 1`,
		`bwmon_monitor_socket_losses_total{kind="map_full",monitor="conntrack"} 0`, `bwmon_monitor_sockets{monitor="conntrack"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if strings.Contains(a.logs.String(), "counting with conntrack alone") {
		t.Errorf("the agent says it fell back:\n%s", a.logs.String())
	}
}

// TestSocketFallback: where the programs cannot load — no cgroup v2 in the
// agent's mount namespace — mode = "auto" counts with conntrack alone,
// says why once in the log and in the stats and metrics, and still
// attributes; without CAP_BPF, CAP_PERFMON (and CAP_SYS_ADMIN, which
// stands for both) mode = "on" refuses to start, saying why.
func TestSocketFallback(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	bin := nettest.Build(t, "./cmd/bwmon")
	dir := t.TempDir()
	noCgroup := func(args ...string) *exec.Cmd {
		// A mount namespace of its own without the cgroup v2 mounts.
		script := `awk '$3 == "cgroup2" { print $2 }' /proc/self/mounts | while read -r m; do umount -l "$m"; done; exec "$0" "$@"`
		return exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, bin}, args...)...)
	}
	noBPF := func(args ...string) *exec.Cmd {
		// Root, less the two capabilities and CAP_SYS_ADMIN, from exec on.
		argv := append([]string{"--inh-caps=-bpf,-perfmon,-sys_admin", "--bounding-set=-bpf,-perfmon,-sys_admin", bin}, args...)
		return exec.Command("setpriv", argv...)
	}
	section := fmt.Sprintf("[state]\ndir = %q\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", dir, p.Watched)

	t.Run("auto", func(t *testing.T) {
		addr := nettest.FreeAddr(t)
		path := writeConfig(t, t.TempDir(), section+fmt.Sprintf("[http]\nlisten = %q\n", addr)+socketSection("auto"))
		a := followAgent(t, path, noCgroup("-config", path, "-output", "json", "-log-level", "warn"))
		const line = "counting with conntrack alone"
		a.waitLog(t, line)
		if n := strings.Count(a.logs.String(), line); n != 1 {
			t.Errorf("the agent said %d times that it counts with conntrack alone, want once:\n%s", n, a.logs.String())
		}
		if !strings.Contains(a.logs.String(), "cgroup") {
			t.Errorf("the fallback's log line does not say what is missing:\n%s", a.logs.String())
		}
		st := conntrackStats(t, addr)
		if st.CountMode != "conntrack" || !strings.Contains(st.CountFallback, "cgroup") {
			t.Errorf("stats: count_mode %q, count_fallback %q; want \"conntrack\" and why", st.CountMode, st.CountFallback)
		}
		if m := string(httpGet(t, "http://"+addr+"/metrics")); !strings.Contains(m, `bwmon_monitor_count_mode{mode="conntrack",monitor="conntrack"} 1`) {
			t.Errorf("/metrics does not say the monitor counts with conntrack")
		}
		// And it counts.
		srv, _ := nettest.Generator(t, "srv")
		nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5702))
		gen, app := nettest.Generator(t, "fallback")
		nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "tcp-send", hostPort(p.PeerIP4, 5702), "1000000")
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5702))
		expectApp(t, a, app, reply, orig)
	})

	t.Run("on", func(t *testing.T) {
		path := writeConfig(t, t.TempDir(), section+"[http]\nlisten = \"\"\n"+socketSection(socketOn))
		cmd := noBPF("-config", path, "-output", "none")
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("mode = \"on\" without CAP_BPF: the agent ran on")
		}
		if err == nil || !strings.Contains(string(out), "CAP_BPF") || !strings.Contains(string(out), `mode = \"on\"`) && !strings.Contains(string(out), `mode = "on"`) {
			t.Errorf("mode = \"on\" without CAP_BPF: exit %v, want a failure saying why and how to fix it; output:\n%s", err, out)
		}
	})
}

// copyBinary copies the program at path under a unique name, so that its
// bytes form an app of their own, and returns the copy and its app name.
func copyBinary(t *testing.T, path, name string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("%s-%06d", name, rand.IntN(1_000_000))
	dst := filepath.Join(t.TempDir(), app)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst, app
}

// TestSocketHandedOver: a shell opens a connection and hands it to the
// program it starts (as inetd, or a parent passing a socket to what it
// execs), then closes its own copy and waits. Counted at the socket, the
// bytes are the program's that holds and uses the socket, not its
// creator's.
func TestSocketHandedOver(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(socketOn))
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5710))
	parent, parentApp := copyBinary(t, "/bin/bash", "hparent")
	child, childApp := copyBinary(t, "/bin/bash", "hchild")
	// The child writes 2 MiB over 3 s (builtins only: it is the one
	// process writing), so the socket is read while it lives. Processes
	// it forks inherit the socket without using it: a sleep that lives
	// through the writes, and seq (a command substitution); each is read
	// after the child, and is not its user.
	const n, size = 32, 65536
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/5710; %s -c 'sleep 5 </dev/null >/dev/null 2>&1 & for i in $(seq %d); do printf "%%*s" %d "" >&3; sleep 0.1 3>&-; done' & exec 3>&-; wait`, p.PeerIP4, child, n, size)
	nettest.RunOK(t, 30*time.Second, p.Watched, parent, "-c", script)
	var orig, reply uint64
	nettest.Eventually(t, 20*time.Second, func() error {
		if orig, reply = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5710)); orig < n*size {
			return fmt.Errorf("the peer received %d bytes so far", orig)
		}
		return nil
	})
	expectApp(t, a, childApp, reply, orig)
	if u, ok := a.app(parentApp); ok && u.BytesOut > orig/20 {
		t.Errorf("the shell that handed the socket over got %d of %d bytes out", u.BytesOut, orig)
	}
	for _, inherited := range []string{"sleep", "seq"} {
		if u, ok := a.app(inherited); ok && u.BytesOut > 0 {
			t.Errorf("%s, which only inherited the socket, got %d of %d bytes out", inherited, u.BytesOut, orig)
		}
	}
}

// TestSocketMapFull: with room for 64 sockets at once ([socket]
// max_sockets) and a host holding more, the sockets that found the map
// full are counted by conntrack: every byte of 100 connections at a time
// is the app's, once, and the stats and /metrics count the sockets that
// found no room.
func TestSocketMapFull(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	addr := nettest.FreeAddr(t)
	a := startAgent(t, fmt.Sprintf("[http]\nlisten = %q\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", addr, p.Watched)+socketSection(socketOn)+"max_sockets = 64\n")
	srv, _ := nettest.Generator(t, "fullsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", fmt.Sprintf("%s:5711", p.PeerIP4))
	gen, app := nettest.Generator(t, "fullcli")
	nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "300", "-parallel", "100", "-linger", "1s", "tcp-send", fmt.Sprintf("%s:5711", p.PeerIP4), "100000")
	orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5711))
	expectApp(t, a, app, reply, orig)
	st := conntrackStats(t, addr)
	if st.CountMode != "socket" || st.MapFull == 0 {
		t.Errorf("stats %+v: want counting at the socket, sockets that found the map full counted", st)
	}
	if !strings.Contains(string(httpGet(t, "http://"+addr+"/metrics")), `bwmon_monitor_socket_losses_total{kind="map_full",monitor="conntrack"} `) {
		t.Errorf("/metrics has no map_full losses")
	}
	if u := a.snapshot().Unattributed; u.BytesIn+u.BytesOut > 0 {
		t.Errorf("%d/%d bytes unattributed, want none", u.BytesIn, u.BytesOut)
	}
}

// TestSocketThreadNamed: a program makes its connection on a worker thread
// with a name of its own (as tokio's, Java's and browsers' workers are).
// Counted at the socket, its bytes are its app's from the tick in which
// they moved, not the thread name's, and not three ticks late (as when
// the programs recorded the thread's comm and the monitor took the
// process for another one until it asked /proc who held the socket).
func TestSocketThreadNamed(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(socketOn))
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5712))
	gen, app := nettest.Generator(t, "threaded")
	thread := fmt.Sprintf("wrk-%d", rand.IntN(1e6))
	const size, rate = 600_000, 200_000 // 3 s
	nettest.Start(t, p.Watched, gen, "-thread", thread, "-rate", fmt.Sprint(rate), "-linger", "30s",
		"tcp-send", hostPort(p.PeerIP4, 5712), fmt.Sprint(size))
	var first int
	nettest.Eventually(t, 10*time.Second, func() error {
		if orig, _ := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5712)); orig == 0 {
			return fmt.Errorf("no bytes through the peer yet")
		}
		first = a.ticks()
		return nil
	})
	nettest.Eventually(t, 10*time.Second, func() error {
		if u, ok := a.app(app); !ok || u.BytesOut == 0 {
			return fmt.Errorf("app %s has no bytes yet", app)
		}
		return nil
	})
	// The tick that read the first bytes, or the one after it.
	if late := a.ticks() - first; late > 2 {
		t.Errorf("app %s had its first bytes %d ticks after the peer saw them, want at most 2", app, late)
	} else {
		t.Logf("app %s had its first bytes %d tick(s) after the peer saw them", app, late)
	}
	var orig, reply uint64
	nettest.Eventually(t, 20*time.Second, func() error {
		if orig, reply = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5712)); orig < size {
			return fmt.Errorf("the peer received %d of %d bytes so far", orig, size)
		}
		return nil
	})
	expectApp(t, a, app, reply, orig)
	if u, ok := a.app(thread); ok {
		t.Errorf("the thread's name is an app of its own: %+v", u)
	}
}

// TestSocketClosedBeforePeer: a client sends and closes at once, and the
// server closes 300 ms after it (as a server slow to hang up): each
// client socket's own FIN is acknowledged first, and the kernel turns it
// into a time-wait socket before the server's FIN comes, which it
// answers. Counted at the socket, those two last packets pass after the
// socket's final counters; the agent books them from conntrack's entry of
// the flow, so the app's bytes are the flows' to a thousandth, over IPv4
// and IPv6.
func TestSocketClosedBeforePeer(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(socketOn))
	for _, tt := range []struct {
		name string
		peer netip.Addr
		port uint16
	}{{"IPv4", p.PeerIP4, 5714}, {"IPv6", p.PeerIP6, 5715}} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := nettest.Generator(t, "srv")
			nettest.StartServer(t, p.Peer, srv, "-linger", "300ms", "tcp-sink", hostPort(tt.peer, int(tt.port)))
			gen, app := nettest.Generator(t, "closer")
			const conns = 200
			nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-conns", fmt.Sprint(conns), "-parallel", "8", "tcp-churn", hostPort(tt.peer, int(tt.port)), "1000")
			var orig, reply uint64
			nettest.Eventually(t, 20*time.Second, func() error {
				// Both ends closed: the flows' counters are final.
				var closed int
				orig, reply = nettest.ConntrackBytes(t, p.Peer, func(f conntrack.Flow) bool {
					if f.TupleOrig.Proto.Protocol != protoTCP || f.TupleOrig.Proto.DestinationPort != tt.port {
						return false
					}
					if f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State >= 7 { // TIME_WAIT, CLOSE
						closed++
					}
					return true
				})
				if closed < conns {
					return fmt.Errorf("%d of %d connections closed at both ends", closed, conns)
				}
				return nil
			})
			want := orig + reply
			var got uint64
			nettest.Eventually(t, 10*time.Second, func() error {
				u, _ := a.app(app)
				if got = u.BytesIn + u.BytesOut; got < want-want/1000 || got > want+want/1000 {
					return fmt.Errorf("app %s: %d bytes, the flows %d (%.4f); want them to a thousandth", app, got, want, float64(got)/float64(want))
				}
				return nil
			})
			t.Logf("app %s: %d bytes, the flows %d (%.5f)", app, got, want, float64(got)/float64(want))
		})
	}
}
