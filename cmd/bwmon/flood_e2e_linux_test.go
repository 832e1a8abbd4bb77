package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Issue 12's figures: what a flood of uniquely named one-shot processes may
// cost the outputs and the agent.
const (
	floodProcs     = 1500
	maxMetricLines = 3000      // samples in one scrape of /metrics
	maxAppsJSON    = 128 << 10 // bytes of GET /api/v1/apps
	maxExtraRSS    = 10 << 20  // peak RSS over the same run without the flood
	floodPhase     = 30 * time.Second
)

// TestFloodOfHostileNames: 1,500 uniquely named one-shot processes, one
// whose name is not UTF-8 and one with U+009B and U+202E in it, beside a
// steady bulk sender. /metrics keeps answering and passes promtool with a
// bounded number of samples, /api/v1/apps stays small, the bulk app keeps
// its 15-minute and 24-hour history, no raw control or bidi character
// reaches the table or the report, the agent's peak memory stays within
// 10 MB of the same run without the flood, and a restart on the same state
// serves everything again.
func TestFloodOfHostileNames(t *testing.T) {
	nettest.RequireRoot(t)
	promtool := lookPromtool(t)
	p := nettest.NewPair(t)
	bin := nettest.Build(t, "./cmd/bwmon")
	srv, _ := nettest.Generator(t, "fsrv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5601))
	usrv, _ := nettest.Generator(t, "fusrv")
	nettest.StartServer(t, p.Peer, usrv, "udp-sink", hostPort(p.PeerIP4, 5602))
	gen, _ := nettest.Generator(t, "flood")

	// The same run twice, the first without the flood, for its memory.
	base := runFloodPhase(t, bin, gen, p, t.TempDir(), false)
	dir := t.TempDir()
	run := runFloodPhase(t, bin, gen, p, dir, true)
	t.Logf("peak RSS: %d KiB without the flood, %d KiB with it", base.peakRSS>>10, run.peakRSS>>10)
	if run.peakRSS > base.peakRSS+maxExtraRSS {
		t.Errorf("peak RSS with the flood %d KiB, more than 10 MiB over the %d KiB without", run.peakRSS>>10, base.peakRSS>>10)
	}

	t.Run("metrics", func(t *testing.T) {
		lines := 0
		for _, l := range strings.Split(string(run.metrics), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines++
			}
		}
		t.Logf("/metrics: %d samples, %d bytes", lines, len(run.metrics))
		if lines > maxMetricLines {
			t.Errorf("/metrics has %d samples, want at most %d", lines, maxMetricLines)
		}
		checkMetrics(t, promtool, run.metrics)
	})
	t.Run("apps", func(t *testing.T) {
		t.Logf("/api/v1/apps: %d bytes, %d apps", len(run.appsJSON), len(run.apps.Apps))
		if len(run.appsJSON) > maxAppsJSON {
			t.Errorf("/api/v1/apps is %d bytes, want at most %d", len(run.appsJSON), maxAppsJSON)
		}
		if n := len(run.apps.Apps); n > model.DefaultLimitApps+1 {
			t.Errorf("%d apps listed, want at most %d and (other)", n, model.DefaultLimitApps)
		}
		byApp := map[string]model.AppUsage{}
		for _, a := range run.apps.Apps {
			byApp[a.App] = a
		}
		// Every app the agent saw beyond the limit is folded: those it
		// listed and those it folded are the one-shots it attributed,
		// each under its own name, also one that exited before the
		// agent read it (the programs recorded its executable's name:
		// its comm is the same for all, cut at 15 bytes).
		other, ok := byApp[model.OtherApp]
		seen := len(run.apps.Apps) - 1 + int(other.Folded)
		t.Logf("(other): %d apps folded, %d bytes; %d apps seen; unattributed %d bytes (%v)", other.Folded, other.BytesOut, seen, run.apps.Unattributed.BytesOut, run.apps.Unattributed.Reasons)
		if !ok || seen < floodProcs*98/100 {
			t.Errorf("(other) %+v: %d apps seen in all, want most of the %d one-shots", other, seen, floodProcs)
		}
		for _, name := range append(run.hostile, run.bulk) {
			if a, ok := byApp[safename.Clean(name)]; !ok || a.BytesOut == 0 {
				t.Errorf("app %q (shown as %q) not listed with its bytes", name, safename.Clean(name))
			}
		}
	})
	t.Run("history", func(t *testing.T) {
		fine := run.history["15m"]
		var moving int
		for _, pt := range fine.Points {
			if pt.Out > 0 {
				moving++
			}
		}
		// The bulk app sent through the whole phase.
		if want := int(0.8 * floodPhase.Seconds()); moving < want {
			t.Errorf("bulk app's 15-minute history has %d points with bytes of %d, want at least %d", moving, len(fine.Points), want)
		}
		coarse := run.history["24h"]
		var sent float64
		for _, pt := range coarse.Points {
			sent += pt.Out * pt.DurationS
		}
		if len(coarse.Points) == 0 || sent < 0.5*float64(run.bulkBytes) {
			t.Errorf("bulk app's 24-hour history: %d points, %.0f bytes, want about the %d it sent", len(coarse.Points), sent, run.bulkBytes)
		}
	})
	t.Run("table", func(t *testing.T) {
		checkPrintable(t, "table", run.table)
		if !bytes.Contains(run.table, []byte(`\xff`)) || !bytes.Contains(run.table, []byte(`\u202e`)) {
			t.Errorf("the table does not show the hostile names' escapes:\n%s", lastLines(run.table, 30))
		}
	})
	t.Run("report", func(t *testing.T) {
		out, err := exec.Command(bin, "report", "-state-dir", dir, "-since", "1d").CombinedOutput()
		if err != nil {
			t.Fatalf("bwmon report: %v\n%s", err, out)
		}
		checkPrintable(t, "report", out)
		if n := bytes.Count(out, []byte("\n")); n > 60 {
			t.Errorf("report of one day is %d lines, want a bounded list:\n%s", n, out)
		}
		if !bytes.Contains(out, []byte(`\xff`)) || !bytes.Contains(out, []byte("(other")) {
			t.Errorf("report lists neither the hostile name's escape nor (other):\n%s", out)
		}
	})
	t.Run("restart on the same state", func(t *testing.T) {
		a := startFloodAgent(t, bin, p, dir)
		body := a.get(t, "/metrics")
		checkMetrics(t, promtool, body)
		var s model.Snapshot
		if err := json.Unmarshal(a.get(t, "/api/v1/apps"), &s); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range s.Apps {
			if x.App == run.bulk {
				found = x.BytesOut >= run.bulkOut
			}
		}
		if !found {
			t.Errorf("after the restart the bulk app %q is missing or lost bytes (had %d out)", run.bulk, run.bulkOut)
		}
		a.stop(t)
	})
}

// floodResult is what one phase saw.
type floodResult struct {
	peakRSS   int64
	bulk      string
	bulkBytes int64
	bulkOut   uint64
	hostile   []string
	metrics   []byte
	appsJSON  []byte
	apps      model.Snapshot
	history   map[string]historyReply
	table     []byte
}

type historyReply struct {
	Points []struct {
		DurationS float64 `json:"duration_s"`
		Out       float64 `json:"out"`
	} `json:"points"`
}

// runFloodPhase runs an agent on state dir for floodPhase beside a bulk
// sender, with the flood when flood is set, and reads what it serves at the
// end.
func runFloodPhase(t *testing.T, bin, gen string, p *nettest.Pair, dir string, flood bool) floodResult {
	t.Helper()
	a := startFloodAgent(t, bin, p, dir)
	start := time.Now()
	const rate = 500_000
	r := floodResult{bulk: fmt.Sprintf("bulk-%06d", rand.IntN(1_000_000)), bulkBytes: rate * int64(floodPhase/time.Second)}
	nettest.Start(t, p.Watched, link(t, gen, r.bulk), "-rate", strconv.Itoa(rate), "tcp-send", hostPort(p.PeerIP4, 5601), strconv.FormatInt(r.bulkBytes, 10))
	if flood {
		r.hostile = []string{
			fmt.Sprintf("x\xffy-%06d", rand.IntN(1_000_000)),
			fmt.Sprintf("csi\u009b31m-rlo\u202egpj.exe-%06d", rand.IntN(1_000_000)),
		}
		// The hostile ones send more than the one-shots, so that they are
		// among the apps listed by name.
		for _, h := range r.hostile {
			nettest.RunOK(t, 30*time.Second, p.Watched, link(t, gen, h), "-hold", "200ms", "udp-send", hostPort(p.PeerIP4, 5602), "300000", "1000")
		}
		runOneShots(t, gen, p, floodProcs)
	}
	time.Sleep(time.Until(start.Add(floodPhase)))
	time.Sleep(3 * time.Second) // the last ticks in
	r.metrics = a.get(t, "/metrics")
	r.appsJSON = a.get(t, "/api/v1/apps")
	if err := json.Unmarshal(r.appsJSON, &r.apps); err != nil {
		t.Fatal(err)
	}
	for _, x := range r.apps.Apps {
		if x.App == r.bulk {
			r.bulkOut = x.BytesOut
		}
	}
	r.history = map[string]historyReply{}
	for _, since := range []string{"15m", "24h"} {
		var h historyReply
		if err := json.Unmarshal(a.get(t, "/api/v1/history?app="+r.bulk+"&since="+since), &h); err != nil {
			t.Fatal(err)
		}
		r.history[since] = h
	}
	r.peakRSS = peakRSS(t, a.cmd.Process.Pid)
	a.stop(t)
	r.table = []byte(a.out.String())
	return r
}

// runOneShots runs n uniquely named copies of gen (hard links), each
// sending one datagram and exiting, 16 at a time.
func runOneShots(t *testing.T, gen string, p *nettest.Pair, n int) {
	t.Helper()
	names := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range names {
				cmd := exec.Command("ip", "netns", "exec", p.Watched, path, "-linger", "100ms", "udp-send", hostPort(p.PeerIP4, 5602), "1000", "1000")
				if err := cmd.Run(); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	tag := rand.IntN(1_000_000)
	for i := range n {
		names <- link(t, gen, fmt.Sprintf("oneshot-%06d-%04d", tag, i))
	}
	close(names)
	wg.Wait()
	if failed > 0 {
		t.Fatalf("%d of %d one-shot processes failed", failed, n)
	}
}

// link makes a hard link to gen named name, so that each process has an
// executable of its own name without a copy of the binary.
func link(t *testing.T, gen, name string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(gen), name)
	if err := os.Link(gen, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// floodAgent is a bwmon printing its plain table, served over HTTP.
type floodAgent struct {
	cmd  *exec.Cmd
	url  string
	out  nettest.SyncBuffer
	done chan error
}

// startFloodAgent runs bwmon on namespace p.Watched with state in dir, its
// plain table to a buffer, and waits until it serves a tick.
func startFloodAgent(t *testing.T, bin string, p *nettest.Pair, dir string) *floodAgent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("[state]\ndir = %q\nflush = \"1s\"\n[http]\nlisten = %q\n[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", dir, addr, p.Watched)
	path := filepath.Join(t.TempDir(), "bwmon.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &floodAgent{url: "http://" + addr, done: make(chan error, 1)}
	a.cmd = exec.Command(bin, "-config", path, "-output", "table", "-log-level", "warn")
	a.cmd.Stdout = &a.out
	a.cmd.Stderr = os.Stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() { a.stop(t) })
	nettest.Eventually(t, 15*time.Second, func() error {
		resp, err := http.Get(a.url + "/api/v1/apps")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/v1/apps: %s", resp.Status)
		}
		return nil
	})
	return a
}

// get fetches path and fails t unless it answers 200.
func (a *floodAgent) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(a.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
	}
	return b
}

// stop sends SIGTERM and expects a clean exit within 5 s.
func (a *floodAgent) stop(t *testing.T) {
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
		<-a.done
		t.Errorf("bwmon did not exit within 5 s of SIGTERM")
	}
}

// peakRSS reads VmHWM of a process, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// lookPromtool finds Debian's promtool: a machine without it skips the
// test, CI (which installs it) fails.
func lookPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		nettest.Missing(t, "promtool not found: apt-get install prometheus")
	}
	return path
}

// checkMetrics runs `promtool check metrics` on an exposition.
func checkMetrics(t *testing.T, promtool string, exposition []byte) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// checkPrintable fails t if out is not UTF-8 or holds a control character
// other than newline, or a C1 control, bidi or other format character.
func checkPrintable(t *testing.T, what string, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Errorf("%s is not valid UTF-8", what)
	}
	for i, r := range string(out) {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff {
			t.Errorf("%s holds %U at byte %d: %q", what, r, i, out[max(0, i-40):min(len(out), i+40)])
			return
		}
	}
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
