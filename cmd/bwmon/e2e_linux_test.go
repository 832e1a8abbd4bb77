package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
	"github.com/bwmon/bwmon/model"
)

// agent is a running bwmon binary with -output json.
type agent struct {
	cmd  *exec.Cmd
	path string             // the config file
	logs nettest.SyncBuffer // its stderr
	mu   sync.Mutex
	last *model.Snapshot
	n    int
	done chan error
}

// startAgent runs bwmon with the given config text and follows its JSON
// output. At cleanup it sends SIGTERM and checks for a clean exit. A config
// without a [state] table keeps its state in a temporary directory, never
// in the host's /var/lib/bwmon.
func startAgent(t *testing.T, cfg string, extra ...string) *agent {
	t.Helper()
	bin := nettest.Build(t, "./cmd/bwmon")
	if !strings.Contains(cfg, "[state]") {
		cfg += fmt.Sprintf("\n[state]\ndir = %q\n", t.TempDir())
	}
	path := filepath.Join(t.TempDir(), "bwmon.toml")
	if !strings.Contains(cfg, "[http]") { // not the default port: agents run side by side
		cfg += "\n[http]\nlisten = \"127.0.0.1:0\"\n"
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	level := "warn"
	if os.Getenv("BWMON_TEST_DEBUG") != "" {
		level = "debug"
	}
	return followAgent(t, path, exec.Command(bin, append([]string{"-config", path, "-output", "json", "-log-level", level}, extra...)...))
}

// followAgent starts cmd, a bwmon with -config path and -output json, and
// follows its output as startAgent does.
func followAgent(t *testing.T, path string, cmd *exec.Cmd) *agent {
	t.Helper()
	a := &agent{path: path, cmd: cmd, done: make(chan error, 1)}
	a.cmd.Stderr = io.MultiWriter(os.Stderr, &a.logs)
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var s model.Snapshot
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				continue
			}
			a.mu.Lock()
			a.last, a.n = &s, a.n+1
			a.mu.Unlock()
		}
		a.done <- a.cmd.Wait()
	}()
	t.Cleanup(func() { a.stop(t) })
	// Ready once the first tick is out.
	nettest.Eventually(t, 15*time.Second, func() error {
		if a.snapshot() == nil {
			return fmt.Errorf("bwmon printed no tick yet")
		}
		return nil
	})
	return a
}

func (a *agent) snapshot() *model.Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// stop sends SIGTERM and expects exit status 0 within 5 s.
func (a *agent) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("bwmon exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Errorf("bwmon did not exit within 5 s of SIGTERM")
	}
}

func (a *agent) app(name string) (model.AppUsage, bool) {
	s := a.snapshot()
	if s == nil {
		return model.AppUsage{}, false
	}
	for _, x := range s.Apps {
		if x.App == name {
			return x, true
		}
	}
	return model.AppUsage{}, false
}

// within reports whether got is within tol (relative) of want.
func within(got, want uint64, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol*float64(want)
}

func ratio(got, want uint64) float64 {
	if want == 0 {
		return math.Inf(1)
	}
	return float64(got) / float64(want)
}

// expectApp waits until app's totals are within 5% of the reference.
func expectApp(t *testing.T, a *agent, app string, wantIn, wantOut uint64) {
	t.Helper()
	var last model.AppUsage
	nettest.Eventually(t, 10*time.Second, func() error {
		got, ok := a.app(app)
		if !ok {
			b, _ := json.Marshal(a.snapshot())
			return fmt.Errorf("app %q not in bwmon's output; last tick: %s", app, b)
		}
		last = got
		if !within(got.BytesIn, wantIn, 0.05) || !within(got.BytesOut, wantOut, 0.05) {
			b, _ := json.Marshal(a.snapshot())
			return fmt.Errorf("app %q: in %d, out %d; want %d, %d (±5%%); last tick: %s", app, got.BytesIn, got.BytesOut, wantIn, wantOut, b)
		}
		return nil
	})
	t.Logf("accuracy %s: in %d/%d = %.4f, out %d/%d = %.4f ", app,
		last.BytesIn, wantIn, ratio(last.BytesIn, wantIn), last.BytesOut, wantOut, ratio(last.BytesOut, wantOut))
}

// loopback sends n bytes over 127.0.0.1:port between two generators in
// namespace ns, and expects a to count them once for each end: the
// client's out is the server's in, about n (there is no peer to read a
// reference from; loopback's 64 KiB MTU makes headers a fraction of a
// percent). It returns the client's app.
func loopback(t *testing.T, a *agent, ns string, port, n int) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv, srvApp := nettest.Generator(t, "losrv")
	nettest.StartServer(t, ns, srv, "tcp-sink", addr)
	gen, app := nettest.Generator(t, "locli")
	nettest.RunOK(t, 30*time.Second, ns, gen, "-linger", "3s", "tcp-send", addr, strconv.Itoa(n))
	var cli, sv model.AppUsage
	nettest.Eventually(t, 15*time.Second, func() error {
		var ok1, ok2 bool
		cli, ok1 = a.app(app)
		sv, ok2 = a.app(srvApp)
		if !ok1 || !ok2 || !within(cli.BytesOut, uint64(n), 0.05) || !within(sv.BytesIn, uint64(n), 0.05) {
			return fmt.Errorf("client out %d, server in %d; want about %d each", cli.BytesOut, sv.BytesIn, n)
		}
		// Counted at each socket, a few acknowledgements the kernel
		// sends for the client are seen arriving at the server but not
		// leaving the client: within 0.1%. From one conntrack flow the
		// two ends are the same counters.
		if !within(cli.BytesOut, sv.BytesIn, 0.001) || !within(cli.BytesIn, sv.BytesOut, 0.001) {
			return fmt.Errorf("client out/in %d/%d differ from server in/out %d/%d", cli.BytesOut, cli.BytesIn, sv.BytesIn, sv.BytesOut)
		}
		return nil
	})
	t.Logf("accuracy loopback in %s: client out %d / payload %d = %.4f; server in = client out", ns, cli.BytesOut, n, ratio(cli.BytesOut, uint64(n)))
	return app
}

// reasonsSince lists the unattributed bytes per reason between two ticks.
func reasonsSince(before, after model.Unattributed) string {
	var out []string
	for r, s := range after.Reasons {
		b := before.Reasons[r]
		if n := s.BytesIn + s.BytesOut - b.BytesIn - b.BytesOut; n > 0 {
			out = append(out, fmt.Sprintf("%s %d B", r, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

const (
	protoTCP  = 6
	protoUDP  = 17
	protoICMP = 1
)

// TestEndToEnd runs in both counting modes: at the socket (eBPF) and with
// conntrack alone.
func TestEndToEnd(t *testing.T) {
	nettest.RequireRoot(t)
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) { endToEnd(t, m.mode) })
	}
}

func endToEnd(t *testing.T, mode string) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer) // the reference counters
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)+socketSection(mode))

	hp := func(addr fmt.Stringer, port int) string {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	upload := func(t *testing.T, name string, proto uint8, server string, srvArgs []string, client []string, port uint16) {
		srv, _ := nettest.Generator(t, "srv")
		nettest.StartServer(t, p.Peer, srv, srvArgs...)
		gen, app := nettest.Generator(t, name)
		// -linger: these scenarios test accounting, not the race against a
		// process that lives a few milliseconds (tested on its own below).
		nettest.RunOK(t, 30*time.Second, p.Watched, gen, append([]string{"-linger", "3s"}, client...)...)
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(proto, port))
		// The client sent the original direction.
		expectApp(t, a, app, reply, orig)
	}

	t.Run("tcp upload ipv4", func(t *testing.T) {
		upload(t, "tcpup4", protoTCP, "", []string{"tcp-sink", hp(p.PeerIP4, 5001)},
			[]string{"tcp-send", hp(p.PeerIP4, 5001), strconv.Itoa(8 << 20)}, 5001)
	})
	t.Run("tcp download ipv4", func(t *testing.T) {
		upload(t, "tcpdown4", protoTCP, "", []string{"tcp-serve", hp(p.PeerIP4, 5002), strconv.Itoa(8 << 20)},
			[]string{"tcp-recv", hp(p.PeerIP4, 5002), strconv.Itoa(8 << 20)}, 5002)
	})
	t.Run("udp upload ipv4", func(t *testing.T) {
		upload(t, "udpup4", protoUDP, "", []string{"udp-sink", hp(p.PeerIP4, 5003)},
			[]string{"udp-send", hp(p.PeerIP4, 5003), strconv.Itoa(2 << 20), "1200"}, 5003)
	})
	t.Run("tcp upload ipv6", func(t *testing.T) {
		upload(t, "tcpup6", protoTCP, "", []string{"tcp-sink", hp(p.PeerIP6, 5004)},
			[]string{"tcp-send", hp(p.PeerIP6, 5004), strconv.Itoa(8 << 20)}, 5004)
	})
	t.Run("tcp download ipv6", func(t *testing.T) {
		upload(t, "tcpdown6", protoTCP, "", []string{"tcp-serve", hp(p.PeerIP6, 5005), strconv.Itoa(4 << 20)},
			[]string{"tcp-recv", hp(p.PeerIP6, 5005), strconv.Itoa(4 << 20)}, 5005)
	})
	t.Run("udp upload ipv6", func(t *testing.T) {
		upload(t, "udpup6", protoUDP, "", []string{"udp-sink", hp(p.PeerIP6, 5006)},
			[]string{"udp-send", hp(p.PeerIP6, 5006), strconv.Itoa(2 << 20), "1200"}, 5006)
	})
	t.Run("icmp echo ipv4", func(t *testing.T) {
		gen, app := nettest.Generator(t, "ping4")
		nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "ping", p.PeerIP4.String(), "50", "1000")
		orig, reply := nettest.ConntrackBytes(t, p.Peer, func(f conntrack.Flow) bool { return f.TupleOrig.Proto.Protocol == protoICMP })
		expectApp(t, a, app, reply, orig)
	})

	t.Run("loopback counts for both ends", func(t *testing.T) {
		loopback(t, a, p.Watched, 5010, 8<<20)
	})

	t.Run("20 short-lived processes", func(t *testing.T) {
		srv, _ := nettest.Generator(t, "srv")
		nettest.StartServer(t, p.Peer, srv, "tcp-sink", hp(p.PeerIP4, 5020))
		gen, app := nettest.Generator(t, "short")
		// All at once, each living a few milliseconds, all exiting
		// within one tick; over a 1 Gbit/s link, as a server's NIC.
		p.Shape(t, "1gbit")
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nettest.RunOK(t, 30*time.Second, p.Watched, gen, "tcp-send", hp(p.PeerIP4, 5020), strconv.Itoa(512<<10))
			}()
		}
		wg.Wait()
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5020))
		expectApp(t, a, app, reply, orig)
	})

	t.Run("3000 sequential connections from one process", func(t *testing.T) {
		// One process making one short request after another: each
		// connection lives about 0.2 ms over this link. Counted at the
		// socket, the kernel records each socket's owner when it is
		// created: at least 99.5% of the bytes are the process's. With
		// conntrack alone the socket may be closed before its flow's
		// event is read, so part of it is unattributed (a known gap,
		// see docs/design.md, Known limits). What must hold in both: no
		// byte is lost.
		srv, _ := nettest.Generator(t, "srv")
		nettest.StartServer(t, p.Peer, srv, "tcp-sink", hp(p.PeerIP4, 5030))
		before := a.snapshot().Unattributed
		gen, app := nettest.Generator(t, "seq")
		nettest.RunOK(t, 60*time.Second, p.Watched, gen, "-conns", "3000", "tcp-send", hp(p.PeerIP4, 5030), "2048")
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5030))
		var got model.AppUsage
		nettest.Eventually(t, 15*time.Second, func() error {
			got, _ = a.app(app)
			u := a.snapshot().Unattributed
			seen := got.BytesIn + got.BytesOut + (u.BytesIn - before.BytesIn) + (u.BytesOut - before.BytesOut)
			// Within 0.5%: every connection's bytes are in, one way or
			// the other, before the share attributed is read.
			if !within(seen, orig+reply, 0.005) {
				return fmt.Errorf("attributed %d + unattributed %d bytes, want %d in all", got.BytesIn+got.BytesOut, seen-got.BytesIn-got.BytesOut, orig+reply)
			}
			if mode == socketOn && ratio(got.BytesIn+got.BytesOut, orig+reply) < 0.995 {
				return fmt.Errorf("attributed %d of %d bytes (%.2f%%), want at least 99.5%% at the socket; the rest: %s", got.BytesIn+got.BytesOut, orig+reply,
					100*ratio(got.BytesIn+got.BytesOut, orig+reply), reasonsSince(before, a.snapshot().Unattributed))
			}
			return nil
		})
		t.Logf("accuracy %s (%s): attributed %.2f%% of %d bytes; the rest unattributed (%s)", app, mode, 100*ratio(got.BytesIn+got.BytesOut, orig+reply), orig+reply, reasonsSince(before, a.snapshot().Unattributed))
	})

	t.Run("a server's accepted connections", func(t *testing.T) {
		// The server runs in the watched namespace and has listened for
		// a while; clients from the peer connect, download and close.
		srv, srvApp := nettest.Generator(t, "acceptsrv")
		nettest.StartServer(t, p.Watched, srv, "tcp-serve", hp(p.WatchedIP4, 5040), strconv.Itoa(1<<20))
		time.Sleep(2 * time.Second)
		cli, _ := nettest.Generator(t, "remotecli")
		for i := 0; i < 3; i++ {
			nettest.RunOK(t, 30*time.Second, p.Peer, cli, "tcp-recv", hp(p.WatchedIP4, 5040), strconv.Itoa(1<<20))
		}
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5040))
		// The clients initiated: the server received orig, sent reply.
		// Counted at the socket, the kernel gives each accepted socket
		// its server's owner; with conntrack alone, a connection the
		// server answered and closed before it was looked up is its
		// listener's holder's.
		expectApp(t, a, srvApp, orig, reply)
	})

	t.Run("a server's short answers", func(t *testing.T) {
		// A server that has listened for a while answers 300 clients,
		// one after another, with 2 KiB each and closes: each accepted
		// socket lives a fraction of a millisecond. Counted at the
		// socket it has its server's owner from its creation; with
		// conntrack alone the accepted socket is most often gone
		// before it is looked up, and the connection is its
		// listener's holder's.
		srv, srvApp := nettest.Generator(t, "shortsrv")
		nettest.StartServer(t, p.Watched, srv, "tcp-serve", hp(p.WatchedIP4, 5045), "2048")
		time.Sleep(2 * time.Second)
		cli, _ := nettest.Generator(t, "shortcli")
		nettest.RunOK(t, 60*time.Second, p.Peer, cli, "-conns", "300", "tcp-recv", hp(p.WatchedIP4, 5045), "2048")
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5045))
		var got model.AppUsage
		nettest.Eventually(t, 10*time.Second, func() error {
			got, _ = a.app(srvApp)
			if !within(got.BytesIn+got.BytesOut, orig+reply, 0.005) {
				return fmt.Errorf("server %q: %d bytes in %d and out %d, want %d in and %d out (within 0.5%% in all); unattributed %+v",
					srvApp, got.BytesIn+got.BytesOut, got.BytesIn, got.BytesOut, orig, reply, a.snapshot().Unattributed.Reasons)
			}
			return nil
		})
		t.Logf("accuracy %s: %d of %d bytes (%.4f)", srvApp, got.BytesIn+got.BytesOut, orig+reply, ratio(got.BytesIn+got.BytesOut, orig+reply))
	})

	t.Run("no listener: unattributed, not lost", func(t *testing.T) {
		// The peer sends to a port nobody listens on in the watched
		// namespace: the bytes arrive, no process owns them.
		gen, _ := nettest.Generator(t, "stray")
		before := a.snapshot().Unattributed.Reasons[model.ReasonNoSocket]
		nettest.RunOK(t, 30*time.Second, p.Peer, gen, "udp-send", hp(p.WatchedIP4, 5999), strconv.Itoa(256<<10), "1000")
		orig, _ := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoUDP, 5999))
		nettest.Eventually(t, 10*time.Second, func() error {
			got := a.snapshot().Unattributed.Reasons[model.ReasonNoSocket].BytesIn - before.BytesIn
			if !within(got, orig, 0.05) {
				return fmt.Errorf("unattributed no_socket in %d, want %d", got, orig)
			}
			return nil
		})
	})

	a.stop(t)
	if names, err := nftct.Tables(nettest.NetNSFD(t, p.Watched)); err != nil || len(names) > 0 {
		t.Errorf("after exit, tables %q still in the watched namespace (err %v)", names, err)
	}
}

// TestTwoAgentsOneNamespace: a bwmon run by hand beside the service, both
// setting up the same namespace. The one that exits first must leave the
// other counting new connections; a table left by an agent that was killed
// is removed by the next one.
func TestTwoAgentsOneNamespace(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	section := fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)
	fd := nettest.NetNSFD(t, p.Watched)
	tables := func() []string {
		t.Helper()
		names, err := nftct.Tables(fd)
		if err != nil {
			t.Fatalf("listing nftables tables: %v", err)
		}
		return names
	}

	first := startAgent(t, section)
	second := startAgent(t, section)
	if n := tables(); len(n) != 2 {
		t.Fatalf("tables of two agents: %q, want one each", n)
	}
	first.stop(t)

	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", fmt.Sprintf("%s:5401", p.PeerIP4))
	gen, app := nettest.Generator(t, "after")
	nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "tcp-send", fmt.Sprintf("%s:5401", p.PeerIP4), strconv.Itoa(2<<20))
	orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5401))
	expectApp(t, second, app, reply, orig)

	left := tables()
	_ = second.cmd.Process.Kill()
	<-second.done
	if n := tables(); !slices.Equal(n, left) || len(n) != 1 {
		t.Fatalf("after SIGKILL: tables %q, want the killed agent's %q left", n, left)
	}
	third := startAgent(t, section, "-log-level", "info")
	if !strings.Contains(third.logs.String(), "removed nftables tables of bwmon agents that are gone") {
		t.Errorf("the next agent did not say it removed %q:\n%s", left, third.logs.String())
	}
	if n := tables(); len(n) != 1 || n[0] == left[0] {
		t.Errorf("tables with the third agent: %q, want its own only (not %q)", n, left)
	}
	third.stop(t)
	if n := tables(); len(n) != 0 {
		t.Errorf("after the last agent exited: tables %q, want none", n)
	}
}
