package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
)

// These tests drive bwmon on a terminal: a tmux pane of its own server
// (tmux -S, a socket in the test's directory), read back with capture-pane. They need root (the agent),
// and tmux (Debian's tmux).

// tmuxPane is a command running in a detached tmux session.
type tmuxPane struct {
	t        *testing.T
	sock     string
	exitFile string
}

// startTmux runs argv in a new tmux session of w×h; when it exits, its
// status is written to a file and the pane stays, to be read. The tmux
// server is killed at cleanup.
func startTmux(t *testing.T, w, h int, argv ...string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed: apt-get install tmux")
	}
	dir := t.TempDir()
	p := &tmuxPane{t: t, sock: filepath.Join(dir, "tmux"), exitFile: filepath.Join(dir, "exit")}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := strings.Join(quoted, " ") + "; echo $? > " + p.exitFile + "; sleep 3600"
	t.Cleanup(func() { _, _ = p.tmux("kill-server") })
	if out, err := p.tmux("new-session", "-d", "-s", "t", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), script); err != nil {
		t.Fatalf("starting tmux: %v: %s", err, out)
	}
	return p
}

func (p *tmuxPane) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-u", "-S", p.sock}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// screen is what the pane shows.
func (p *tmuxPane) screen() string {
	p.t.Helper()
	out, err := p.tmux("capture-pane", "-p", "-t", "t")
	if err != nil {
		p.t.Fatalf("tmux capture-pane: %v: %s", err, out)
	}
	return out
}

// keys types keys into the pane (tmux send-keys names: Enter, Escape, …).
func (p *tmuxPane) keys(keys ...string) {
	p.t.Helper()
	for _, k := range keys {
		if out, err := p.tmux("send-keys", "-t", "t", k); err != nil {
			p.t.Fatalf("tmux send-keys %s: %v: %s", k, err, out)
		}
		time.Sleep(100 * time.Millisecond) // one key a read
	}
}

func (p *tmuxPane) display(format string) string {
	p.t.Helper()
	out, err := p.tmux("display", "-p", "-t", "t", format)
	if err != nil {
		p.t.Fatalf("tmux display: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// historySize is how many lines scrolled off the pane into its history.
func (p *tmuxPane) historySize() int {
	n, err := strconv.Atoi(p.display("#{history_size}"))
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// waitScreen polls the screen until ok holds, failing with it after 20 s.
func (p *tmuxPane) waitScreen(what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := p.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("after 20 s, %s; the screen:\n%s", what, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// exitCode waits up to timeout for the command to exit and returns its
// status.
func (p *tmuxPane) exitCode(timeout time.Duration) int {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(p.exitFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				p.t.Fatal(err)
			}
			return n
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the command did not exit within %s; the screen:\n%s", timeout, p.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commandPID is the PID of the command the pane's shell runs.
func (p *tmuxPane) commandPID() int {
	p.t.Helper()
	shell := p.display("#{pane_pid}")
	b, err := os.ReadFile("/proc/" + shell + "/task/" + shell + "/children")
	if err != nil {
		p.t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		p.t.Fatalf("the pane's shell has children %q, want the command", f)
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// tableRows are the rows of the table on screen: the lines under the
// column titles, up to the log area, that begin with the cursor's column.
func tableRows(screen string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(l, "RATE IN") || strings.Contains(l, "TOTAL IN"):
			in = true
		case !in:
		case strings.HasPrefix(l, "─ log"), strings.TrimSpace(l) == "":
			return out
		case strings.HasPrefix(l, ">") || strings.HasPrefix(l, " "):
			out = append(out, l)
		}
	}
	return out
}

// rowApp is the app of a row: its last field.
func rowApp(row string) string {
	f := strings.Fields(row)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// uiScene is a watched namespace with a busy app of two processes, an
// idle one, and an agent's config watching the namespace.
type uiScene struct {
	pair       *nettest.Pair
	cfg        string
	busy, idle string
	busyPIDs   []int
}

func newUIScene(t *testing.T) *uiScene {
	t.Helper()
	nettest.RequireRoot(t)
	s := &uiScene{pair: nettest.NewPair(t)}
	s.cfg = filepath.Join(t.TempDir(), "bwmon.toml")
	// An alert on the busy app, for the log area.
	text := fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n[state]\ndir = %q\n[http]\nlisten = \"127.0.0.1:0\"\n"+
		"[[notify]]\napp = \"^tbusy-\"\nout_threshold = \"100KiB/s\"\nwindow = 2\n", s.pair.Watched, t.TempDir())
	if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// traffic starts the generators once the agent runs: two processes of the
// busy app sending about 1 MB/s each, one of the idle app 20 kB/s.
func (s *uiScene) traffic(t *testing.T) {
	t.Helper()
	srv, _ := nettest.Generator(t, "tsink")
	addr := fmt.Sprintf("%s:6001", s.pair.PeerIP4)
	nettest.StartServer(t, s.pair.Peer, srv, "tcp-sink", addr)
	busy, busyApp := nettest.Generator(t, "tbusy")
	idle, idleApp := nettest.Generator(t, "aidle")
	s.busy, s.idle = busyApp, idleApp
	for range 2 {
		c := nettest.Start(t, s.pair.Watched, busy, "-rate", "1000000", "tcp-send", addr, "10000000000")
		s.busyPIDs = append(s.busyPIDs, c.Process.Pid)
	}
	nettest.Start(t, s.pair.Watched, idle, "-rate", "20000", "tcp-send", addr, "10000000000")
}

// tablesLeft lists the nftables tables left in the watched namespace.
func (s *uiScene) tablesLeft(t *testing.T) []string {
	t.Helper()
	names, err := nftct.Tables(nettest.NetNSFD(t, s.pair.Watched))
	if err != nil {
		t.Fatalf("listing nftables tables: %v", err)
	}
	return names
}

// TestTerminalUI drives bwmon on a terminal at 80×24 and 200×50: the
// header and the busiest app are on screen, redrawn in place (the
// scrollback does not grow) while an alert line stays in the log area,
// keys sort and filter, enter shows the PIDs of the busy app's processes,
// the screen follows a resize, and q ends the run with its nftables table
// removed and its log written out.
func TestTerminalUI(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			s := newUIScene(t)
			bin := nettest.Build(t, "./cmd/bwmon")
			p := startTmux(t, sz[0], sz[1], bin, "-config", s.cfg)
			p.waitScreen("no header", func(sc string) bool { return strings.HasPrefix(sc, "bwmon ") && strings.Contains(sc, "RATE IN") })
			s.traffic(t)
			sc := p.waitScreen("the busy app is not the first row", func(sc string) bool {
				rows := tableRows(sc)
				return len(rows) >= 2 && strings.HasPrefix(rows[0], ">") && rowApp(rows[0]) == s.busy
			})
			lines := strings.Split(sc, "\n")
			head := strings.Join(lines[:2], "\n")
			if !regexp.MustCompile(`^bwmon \d\d:\d\d:\d\d `).MatchString(head) {
				t.Errorf("the header does not begin with the tick's time:\n%s", head)
			}
			for _, want := range []string{"in ", "out ", "total in", "unattributed ", "interval "} {
				if !strings.Contains(head, want) {
					t.Errorf("the header lacks %q:\n%s", want, head)
				}
			}
			if !strings.Contains(sc, "serving the web page") || !strings.Contains(sc, "─ log") {
				t.Errorf("the log area does not show the URL line:\n%s", sc)
			}
			t.Logf("the screen at %dx%d:\n%s", sz[0], sz[1], sc)

			alert := s.busy + " exceeding 'out' bandwidth limit"
			p.waitScreen("the alert line is not in the log area", func(sc string) bool { return strings.Contains(sc, alert) })
			before := p.historySize()
			time.Sleep(10 * time.Second)
			if after := p.historySize(); after != before {
				t.Errorf("the scrollback grew from %d to %d lines in 10 s", before, after)
			}
			if sc := p.screen(); !strings.Contains(sc, alert) {
				t.Errorf("10 s later, the alert line is gone:\n%s", sc)
			}

			p.keys("6") // by name: aidle before tbusy
			p.waitScreen("6 does not sort by name", func(sc string) bool {
				rows := tableRows(sc)
				return len(rows) >= 2 && rowApp(rows[0]) == s.idle && rowApp(rows[1]) == s.busy && strings.Contains(sc, "APP▲")
			})
			p.keys("0")
			p.waitScreen("0 does not sort by the busiest", func(sc string) bool {
				rows := tableRows(sc)
				return len(rows) >= 2 && rowApp(rows[0]) == s.busy
			})
			p.keys("/", "a", "i", "d", "Enter")
			p.waitScreen("the filter does not leave the idle app alone", func(sc string) bool {
				rows := tableRows(sc)
				return len(rows) == 1 && rowApp(rows[0]) == s.idle && strings.Contains(sc, `filter "aid"`)
			})
			p.keys("Escape")
			p.waitScreen("esc does not clear the filter", func(sc string) bool { return len(tableRows(sc)) >= 2 })

			p.keys("Home", "Enter")
			sc = p.waitScreen("enter does not show the busy app's PIDs", func(sc string) bool {
				for _, pid := range s.busyPIDs {
					if !regexp.MustCompile(`(?m)^[> ]\s+` + strconv.Itoa(pid) + ` `).MatchString(sc) {
						return false
					}
				}
				return strings.Contains(sc, "▸ "+s.busy)
			})
			if !strings.Contains(sc, s.busy+" -rate 10") || !strings.Contains(sc, "root") || (sz[0] >= 200 && !strings.Contains(sc, "tcp-send")) {
				t.Errorf("the processes lack their command line or user:\n%s", sc)
			}
			p.keys("Escape")
			p.waitScreen("esc does not go back to the apps", func(sc string) bool { return strings.Contains(sc, "APP") })

			// It follows the terminal's size.
			w, h := sz[0]+50, sz[1]+6
			if out, err := p.tmux("resize-window", "-t", "t", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)); err != nil {
				t.Fatalf("tmux resize-window: %v: %s", err, out)
			}
			p.waitScreen("the screen does not follow the new size", func(sc string) bool {
				lines := strings.Split(strings.TrimSuffix(sc, "\n"), "\n")
				return len(lines) == h && strings.HasPrefix(lines[h-1], "q quit") && strings.Contains(sc, "USERS")
			})

			p.keys("q")
			if code := p.exitCode(15 * time.Second); code != 0 {
				t.Fatalf("exit %d after q, want 0; the screen:\n%s", code, p.screen())
			}
			if left := s.tablesLeft(t); len(left) > 0 {
				t.Errorf("after q, nftables tables %q are left", left)
			}
			if sc := p.screen(); !strings.Contains(sc, "msg=stopped") || strings.Contains(sc, "RATE IN") {
				t.Errorf("after q, the terminal is not back with the log written out:\n%s", sc)
			}
		})
	}
}

// TestTerminalUIHangup: a SIGHUP ends an interactive run with status 0
// and its table removed, and so does closing its terminal; an agent with
// its table to a pipe keeps SIGHUP for reloading (TestReload…).
func TestTerminalUIHangup(t *testing.T) {
	t.Run("SIGHUP", func(t *testing.T) {
		s := newUIScene(t)
		p := startTmux(t, 80, 24, nettest.Build(t, "./cmd/bwmon"), "-config", s.cfg)
		p.waitScreen("no header", func(sc string) bool { return strings.Contains(sc, "RATE IN") })
		if len(s.tablesLeft(t)) != 1 {
			t.Fatalf("the agent has no table: %q", s.tablesLeft(t))
		}
		if err := syscall.Kill(p.commandPID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if code := p.exitCode(15 * time.Second); code != 0 {
			t.Fatalf("exit %d after SIGHUP, want 0; the screen:\n%s", code, p.screen())
		}
		if left := s.tablesLeft(t); len(left) > 0 {
			t.Errorf("after SIGHUP, nftables tables %q are left", left)
		}
	})
	t.Run("terminal closed", func(t *testing.T) {
		s := newUIScene(t)
		p := startTmux(t, 80, 24, nettest.Build(t, "./cmd/bwmon"), "-config", s.cfg)
		p.waitScreen("no header", func(sc string) bool { return strings.Contains(sc, "RATE IN") })
		pid := p.commandPID()
		if out, err := p.tmux("kill-server"); err != nil {
			t.Fatalf("tmux kill-server: %v: %s", err, out)
		}
		nettest.Eventually(t, 15*time.Second, func() error {
			if err := syscall.Kill(pid, 0); err == nil {
				return fmt.Errorf("bwmon (pid %d) still runs after its terminal closed", pid)
			}
			return nil
		})
		if left := s.tablesLeft(t); len(left) > 0 {
			t.Errorf("after the terminal closed, nftables tables %q are left", left)
		}
	})
}

// TestTopE2E: bwmon top, run as nobody, follows an agent watching a test
// namespace and shows the apps of the agent's JSON; when the agent goes
// away it says so, and q ends it.
func TestTopE2E(t *testing.T) {
	s := newUIScene(t)
	a := startAgent(t, fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", s.pair.Watched), "-log-level", "info")
	m := regexp.MustCompile(`msg="serving the web page, API and metrics".*\burl=(\S+)`).FindStringSubmatch(a.logs.String())
	if m == nil {
		t.Fatalf("the agent logged no URL:\n%s", a.logs.String())
	}
	url := m[1]
	s.traffic(t)
	nettest.Eventually(t, 20*time.Second, func() error {
		if _, ok := a.app(s.busy); !ok {
			return fmt.Errorf("the agent does not list %s yet", s.busy)
		}
		if _, ok := a.app(s.idle); !ok {
			return fmt.Errorf("the agent does not list %s yet", s.idle)
		}
		return nil
	})

	// A copy of bwmon that nobody may run.
	dir, err := os.MkdirTemp("", "bwmon-top-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(nettest.Build(t, "./cmd/bwmon"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bwmon")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startTmux(t, 200, 50, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "top", "-url", url)
	sc := p.waitScreen("bwmon top does not show the agent's apps", func(sc string) bool {
		snap := a.snapshot()
		onScreen := map[string]bool{}
		for _, r := range tableRows(sc) {
			onScreen[rowApp(r)] = true
		}
		for _, app := range snap.Apps {
			name := app.App
			if !onScreen[name] {
				return false
			}
		}
		return len(snap.Apps) >= 2 && strings.HasPrefix(sc, "bwmon top ")
	})
	if rows := tableRows(sc); rowApp(rows[0]) != s.busy {
		t.Errorf("the first row is %q, want the busy app %s:\n%s", rows[0], s.busy, sc)
	}
	t.Logf("bwmon top:\n%s", sc)

	p.keys("Enter")
	p.waitScreen("enter in bwmon top does not show the busy app's PIDs", func(sc string) bool {
		return strings.Contains(sc, "▸ "+s.busy) && strings.Contains(sc, " "+strconv.Itoa(s.busyPIDs[0])+" ")
	})
	p.keys("Escape")

	a.stop(t)
	p.waitScreen("bwmon top does not say the agent is gone", func(sc string) bool {
		return strings.Contains(sc, "no agent at "+url) && strings.Contains(sc, "retrying in")
	})
	p.keys("q")
	if code := p.exitCode(10 * time.Second); code != 0 {
		t.Fatalf("bwmon top: exit %d after q, want 0; the screen:\n%s", code, p.screen())
	}
}
