package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/state"
)

// The agent as a service: totals across restarts and crashes, a corrupt
// store, reloads. Each test watches a namespace pair of its own.

// serviceConfig watches ns and keeps its state in dir, flushed every
// second; extra is appended.
func serviceConfig(ns, dir, extra string) string {
	return fmt.Sprintf("[state]\ndir = %q\nflush = \"1s\"\n\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n%s", dir, ns, extra)
}

func hostPort(addr fmt.Stringer, port int) string { return fmt.Sprintf("[%s]:%d", addr, port) }

// kill sends SIGKILL, as a crash or the OOM killer would, and waits for the
// process to be gone.
func (a *agent) kill(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
}

// waitLog waits until the agent's stderr holds s.
func (a *agent) waitLog(t *testing.T, s string) {
	t.Helper()
	nettest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(a.logs.String(), s) {
			return fmt.Errorf("agent logged no %q; log:\n%s", s, a.logs.String())
		}
		return nil
	})
}

func TestServiceRestartKeepsTotals(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	cfg := serviceConfig(p.Watched, t.TempDir(), "")
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5101))
	gen, app := nettest.Generator(t, "restart")
	send := func() {
		nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "tcp-send", hostPort(p.PeerIP4, 5101), strconv.Itoa(4<<20))
	}

	a := startAgent(t, cfg)
	send()
	orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5101))
	expectApp(t, a, app, reply, orig)
	a.stop(t)
	// After SIGTERM the last tick printed is what was flushed.
	before, _ := a.app(app)
	since := a.snapshot().Since

	b := startAgent(t, cfg)
	s := b.snapshot()
	if !s.Since.Equal(since) {
		t.Fatalf("after a restart since = %v, want the first run's %v", s.Since, since)
	}
	after, ok := b.app(app)
	if !ok || after.BytesIn != before.BytesIn || after.BytesOut != before.BytesOut {
		t.Fatalf("after a restart %s = %+v (listed %v), want the totals the first run ended with, %d in, %d out", app, after, ok, before.BytesIn, before.BytesOut)
	}
	// And they continue: the reference now holds both connections.
	send()
	orig, reply = nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5101))
	expectApp(t, b, app, reply, orig)
}

func TestServiceKill9LosesAtMostOneFlush(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	dir := t.TempDir()
	const flush, tick = time.Second, time.Second
	cfg := serviceConfig(p.Watched, dir, "")
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5102))
	// A steady upload, about 2 MB/s, still going when the agent dies.
	p.Shape(t, "16mbit")
	gen, app := nettest.Generator(t, "crash")
	a := startAgent(t, cfg)
	nettest.Start(t, p.Watched, gen, "tcp-send", hostPort(p.PeerIP4, 5102), strconv.Itoa(200<<20))

	// Follow the totals the agent prints until a few flushes have passed.
	type sample struct {
		at  time.Time
		out uint64
	}
	var (
		mu      sync.Mutex
		samples []sample
	)
	record := func() uint64 {
		u, _ := a.app(app)
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, sample{time.Now(), u.BytesOut})
		return u.BytesOut
	}
	nettest.Eventually(t, 20*time.Second, func() error {
		if out := record(); out < 8<<20 {
			return fmt.Errorf("%s sent %d bytes so far, waiting for 8 MiB", app, out)
		}
		return nil
	})
	killedAt := time.Now()
	a.kill(t)
	last, _ := a.app(app) // the last tick printed before the kill

	// The store opens, read-only, as `bwmon report` would.
	h, err := state.ReadHistory(dir, killedAt, time.Local, time.Second)
	if err != nil {
		t.Fatalf("the store after kill -9: %v", err)
	}
	stored := h.Totals["app/"+app].Out
	// Every tick printed before the last flush began was in that flush;
	// flushes are flush apart, so what the agent printed a flush (plus
	// slack for the write itself) before the kill must be stored.
	var mustHave uint64
	for _, s := range samples {
		if s.at.Before(killedAt.Add(-flush - 300*time.Millisecond)) {
			mustHave = s.out
		}
	}
	lost := last.BytesOut - stored
	// The upload's rate over the last two seconds before the kill.
	end := samples[len(samples)-1]
	rate := 0.0
	for _, s := range samples {
		if end.at.Sub(s.at) <= 2*time.Second {
			rate = float64(end.out-s.out) / end.at.Sub(s.at).Seconds()
			break
		}
	}
	t.Logf("kill -9: agent had printed %d bytes out, the store held %d: %d bytes lost (%.2f s at the mean rate of %.0f B/s; flush %s, tick %s)",
		last.BytesOut, stored, lost, float64(lost)/rate, rate, flush, tick)
	if stored > last.BytesOut || stored < mustHave {
		t.Fatalf("store holds %d bytes out; want between %d (printed a flush before the kill) and %d (printed last)", stored, mustHave, last.BytesOut)
	}

	b := startAgent(t, cfg)
	if !b.snapshot().Since.Equal(h.Since) {
		t.Fatalf("since = %v after the crash, want the store's %v", b.snapshot().Since, h.Since)
	}
	if got, _ := b.app(app); got.BytesOut < stored {
		t.Fatalf("restarted agent reports %d bytes out, less than the %d stored", got.BytesOut, stored)
	}
	if moved, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(moved) > 0 {
		t.Fatalf("the store was moved aside after kill -9: %v", moved)
	}
}

func TestServiceCorruptStoreMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, state.FileName), []byte(strings.Repeat("not a bbolt file\n", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A pipe is the monitor: no root, no namespace needed.
	cfg := fmt.Sprintf("[state]\ndir = %q\n[[monitor]]\ntype = \"pipe\"\nlisten = \"127.0.0.1:0\"\ntarget = \"127.0.0.1:9\"\n", dir)
	start := time.Now()
	a := startAgent(t, cfg)
	a.waitLog(t, "state store unreadable")
	moved, _ := filepath.Glob(filepath.Join(dir, state.FileName+".corrupt-*"))
	if len(moved) != 1 || !strings.Contains(a.logs.String(), moved[0]) {
		t.Fatalf("moved-aside files %v; want one, named in the log:\n%s", moved, a.logs.String())
	}
	if s := a.snapshot(); s.Since.Before(start.Add(-time.Second)) {
		t.Fatalf("since = %v, want the new store's creation, after %v", s.Since, start)
	}
}

func TestServiceReload(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	cfg := serviceConfig(p.Watched, t.TempDir(), "")
	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5103))
	gen, app := nettest.Generator(t, "reload")
	send := func() {
		nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "tcp-send", hostPort(p.PeerIP4, 5103), strconv.Itoa(2<<20))
	}
	a := startAgent(t, cfg, "-log-level", "info")
	send()
	orig1, reply1 := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5103))
	expectApp(t, a, app, reply1, orig1)
	first, _ := a.app(app)

	hup := func(text string) {
		t.Helper()
		if err := os.WriteFile(a.path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("good config: new app rule, totals kept", func(t *testing.T) {
		hup(cfg + fmt.Sprintf("\n[[app]]\nname = \"grouped\"\nmatch = [%q]\n", app))
		a.waitLog(t, "configuration reloaded")
		if !strings.Contains(a.logs.String(), "monitors_kept=1 monitors_started=0 monitors_stopped=0") {
			t.Fatalf("the conntrack monitor was restarted by a reload that did not change it:\n%s", a.logs.String())
		}
		send()
		orig2, reply2 := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5103))
		// The second connection's bytes go to the new app...
		expectApp(t, a, "grouped", reply2-reply1, orig2-orig1)
		// ...and the first app keeps its total.
		if got, _ := a.app(app); got.BytesIn != first.BytesIn || got.BytesOut != first.BytesOut {
			t.Fatalf("%s = %+v after the reload, want its total kept at %d/%d", app, got, first.BytesIn, first.BytesOut)
		}
	})

	t.Run("bad config: rejected, old one keeps running", func(t *testing.T) {
		grouped, _ := a.app("grouped")
		hup(cfg + "\n[[app]]\nname = \"broken\"\nmatch = [\"(unclosed\"]\n")
		a.waitLog(t, "configuration rejected")
		if want := a.path + ":"; !strings.Contains(a.logs.String(), want) || !strings.Contains(a.logs.String(), "bad regex") {
			t.Fatalf("the log does not name the file and the error:\n%s", a.logs.String())
		}
		if err := a.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("agent gone after a bad reload: %v", err)
		}
		n := a.ticks()
		nettest.Eventually(t, 5*time.Second, func() error {
			if a.ticks() <= n+1 {
				return fmt.Errorf("no new tick after the bad reload")
			}
			return nil
		})
		send() // still grouped: the old rules run
		orig3, reply3 := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5103))
		expectApp(t, a, "grouped", reply3-reply1, orig3-orig1)
		if g, _ := a.app("grouped"); g.BytesOut <= grouped.BytesOut {
			t.Fatalf("grouped did not grow after the bad reload: %+v", g)
		}
	})
}

// ticks is how many snapshots the agent printed.
func (a *agent) ticks() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}
