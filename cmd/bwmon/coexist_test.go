package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/pipe"
)

// testDefaults returns built-in defaults as a test injects them: a pipe
// monitor (no root needed) instead of conntrack, and the given state
// directory and listen address in place of /var/lib/bwmon and
// 127.0.0.1:8000, so that two agents meet as `make run` meets the service.
func testDefaults(t *testing.T, stateDir, listen string) func() *config.Config {
	target := echoServer(t)
	return func() *config.Config {
		cfg := config.Defaults()
		cfg.Aggregator.Interval = 100 * time.Millisecond
		cfg.Conntrack = nil
		cfg.Pipes = []pipe.Config{{Name: "echo", Listen: "127.0.0.1:0", Target: target}}
		cfg.State.Dir = stateDir
		cfg.HTTP.Listen = listen
		return cfg
	}
}

// agentRun is an agent started by startInProcess.
type agentRun struct {
	stderr *nettest.SyncBuffer
	cancel context.CancelFunc
	exit   chan int
}

// startInProcess runs `bwmon args...` on defaults until stop or the test's end.
func startInProcess(t *testing.T, defaults func() *config.Config, args ...string) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &agentRun{stderr: &nettest.SyncBuffer{}, cancel: cancel, exit: make(chan int, 1)}
	c := command{stdout: &nettest.SyncBuffer{}, stderr: a.stderr, defaults: defaults}
	go func() { a.exit <- c.run(ctx, append([]string{"-output", "none"}, args...)) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop stops the agent and returns its exit status.
func (a *agentRun) stop(t *testing.T) int {
	t.Helper()
	a.cancel()
	select {
	case code := <-a.exit:
		a.exit <- code // a second stop gets it too
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("agent did not stop; log:\n%s", a.stderr.String())
		return -1
	}
}

var urlRE = regexp.MustCompile(`msg="serving the web page, API and metrics".*\burl=(\S+)`)

// url waits for the agent to serve and returns the URL it logged.
func (a *agentRun) url(t *testing.T) string {
	t.Helper()
	var url string
	waitFor(t, 10*time.Second, "the agent to serve HTTP", func() bool {
		if m := urlRE.FindStringSubmatch(a.stderr.String()); m != nil {
			url = m[1]
			return true
		}
		select {
		case code := <-a.exit:
			a.exit <- code
			t.Fatalf("agent exited with %d; log:\n%s", code, a.stderr.String())
		default:
		}
		return false
	})
	return url
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSecondAgentOnDefaultsStepsAside: `make run` beside the service. Two
// agents on the same built-in defaults: the second one says in one line
// that the state directory is in use, by whom, and what to do, runs
// without state, and serves on another loopback port; with the same
// directory or address named by a flag or a file it fails instead.
func TestSecondAgentOnDefaultsStepsAside(t *testing.T) {
	dir := t.TempDir()
	listen := nettest.FreeAddr(t)
	defaults := testDefaults(t, dir, listen)

	service := startInProcess(t, defaults)
	if u := service.url(t); u != "http://"+listen+"/" {
		t.Fatalf("first agent serves on %s, want the default %s", u, listen)
	}
	if code := getStatus(t, "http://"+listen+"/api/v1/usage"); code != http.StatusOK {
		t.Fatalf("first agent's /api/v1/usage: %d, want 200 (it keeps state)", code)
	}

	t.Run("defaults: runs without state on another port", func(t *testing.T) {
		second := startInProcess(t, defaults)
		url := second.url(t)
		log := second.stderr.String()
		var lines []string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "in use by another bwmon") {
				lines = append(lines, l)
			}
		}
		want := []string{"level=WARN", "running without state", "use -state-dir DIR", "`bwmon top`", "dir=" + dir, "pid " + strconv.Itoa(os.Getpid())}
		if len(lines) != 1 || !containsAll(lines[0], want...) {
			t.Fatalf("log lines about the state directory: %q, want one with %q; log:\n%s", lines, want, log)
		}
		if !strings.Contains(log, `msg="the default listen address is in use`) || !strings.Contains(log, "busy="+listen) {
			t.Fatalf("log does not say the default address is busy:\n%s", log)
		}
		host, _, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
		if url == "http://"+listen+"/" || host != "127.0.0.1" {
			t.Fatalf("second agent serves on %s, want another port on 127.0.0.1", url)
		}
		if code := getStatus(t, url+"api/v1/apps"); code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Fatalf("second agent's /api/v1/apps: %d", code)
		}
		if code := getStatus(t, url+"api/v1/usage"); code != http.StatusNotFound {
			t.Fatalf("second agent's /api/v1/usage: %d, want 404 (no state)", code)
		}
		if code := second.stop(t); code != 0 {
			t.Fatalf("second agent exit %d, want 0; log:\n%s", code, log)
		}
	})

	conf := filepath.Join(t.TempDir(), "c.toml")
	text := "[[monitor]]\ntype = \"pipe\"\nlisten = \"127.0.0.1:0\"\ntarget = \"127.0.0.1:9\"\n" +
		"[state]\ndir = \"" + dir + "\"\n[http]\nlisten = \"\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"-state-dir names it", []string{"-state-dir", dir, "-listen", ""},
			[]string{"in use by another bwmon (pid " + strconv.Itoa(os.Getpid()), "on the command line: -state-dir DIR"}},
		{"-listen names it", []string{"-state-dir", "", "-listen", listen},
			[]string{"listening for http on " + listen, "another program uses the port", "give -listen"}},
		{"-config names it", []string{"-config", conf},
			[]string{"in use by another bwmon", "-state-dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startInProcess(t, defaults, tt.args...)
			if code := a.stop(t); code != 1 || !containsAll(a.stderr.String(), tt.want...) {
				t.Fatalf("exit %d, log:\n%s\nwant exit 1 and %q", code, a.stderr.String(), tt.want)
			}
		})
	}

	if code := service.stop(t); code != 0 {
		t.Fatalf("first agent exit %d; log:\n%s", code, service.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, state.FileName)); err != nil {
		t.Fatalf("first agent kept no state: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestStateDirFlagEmptyKeepsNoState: -state-dir "" over defaults that
// name a directory: nothing is created there, and the agent says so.
func TestStateDirFlagEmptyKeepsNoState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	a := startInProcess(t, testDefaults(t, dir, "127.0.0.1:0"), "-state-dir", "")
	url := a.url(t)
	if code := getStatus(t, url+"api/v1/usage"); code != http.StatusNotFound {
		t.Fatalf("/api/v1/usage: %d, want 404 (no state)", code)
	}
	if code := a.stop(t); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, a.stderr.String())
	}
	if !strings.Contains(a.stderr.String(), "keeping no state") {
		t.Fatalf("log does not say it keeps no state:\n%s", a.stderr.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state directory %s: %v, want it never created", dir, err)
	}
}

// TestHostileStateDir: the agent starts, or fails saying how to fix it,
// on state directories a user may hand it; it never panics.
func TestHostileStateDir(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	realDir := filepath.Join(root, "real")
	for _, err := range []error{
		os.WriteFile(file, []byte("x"), 0o600),
		os.Mkdir(realDir, 0o700),
		os.Symlink(realDir, filepath.Join(root, "link")),
		os.Symlink(filepath.Join(root, "missing"), filepath.Join(root, "dangling")),
		os.Symlink(filepath.Join(root, "loop"), filepath.Join(root, "loop")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		dir     string
		wantErr string // "" when the agent runs
	}{
		{"symlink to a directory", filepath.Join(root, "link"), ""},
		{"relative, made absolute", "rel-state", ""},
		{"dot dot", filepath.Join(realDir, "..", "real"), ""},
		{"a regular file", file, "on the command line: -state-dir DIR"},
		{"under a regular file", filepath.Join(file, "sub"), "on the command line: -state-dir DIR"},
		{"dangling symlink", filepath.Join(root, "dangling"), "on the command line: -state-dir DIR"},
		{"symlink loop", filepath.Join(root, "loop"), "on the command line: -state-dir DIR"},
		{"control characters", filepath.Join(root, "a\x1b[2Jb\nc"), ""},
	}
	t.Chdir(root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startInProcess(t, testDefaults(t, "", "127.0.0.1:0"), "-state-dir", tt.dir)
			if tt.wantErr == "" {
				a.url(t)
				if code := a.stop(t); code != 0 || !strings.Contains(a.stderr.String(), `msg="state store open"`) {
					t.Fatalf("exit %d, log:\n%s\nwant the store open and exit 0", code, a.stderr.String())
				}
				if strings.ContainsAny(a.stderr.String(), "\x1b") || strings.Count(a.stderr.String(), "\n") != strings.Count(a.stderr.String(), "level=") {
					t.Fatalf("a control character of the path reached the log raw:\n%q", a.stderr.String())
				}
				return
			}
			if code := a.stop(t); code != 1 || !strings.Contains(a.stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, log:\n%s\nwant exit 1 and %q", code, a.stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestUnitInCgroup(t *testing.T) {
	tests := []struct{ name, cgroup, want string }{
		{"service, cgroup v2", "0::/system.slice/bwmon.service\n", "bwmon.service"},
		{"cgroup v1", "12:pids:/user.slice\n1:name=systemd:/system.slice/bwmon.service\n", "bwmon.service"},
		{"innermost service", "0::/user.slice/user-0.slice/user@0.service/app.slice/bw.service\n", "bw.service"},
		{"session scope", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"root", "0::/\n", ""},
		{"garbage", "no colon\n", ""},
		{"hostile name", "0::/user.slice/user@1000.service/x\x1b[2J\u202e.service\n", `x\x1b[2J\u202e.service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unitInCgroup(strings.NewReader(tt.cgroup)); got != tt.want {
				t.Fatalf("unitInCgroup(%q) = %q, want %q", tt.cgroup, got, tt.want)
			}
		})
	}
}

// TestLockHolder: the holder is read from the lock file without following
// a symlink or waiting on a FIFO that a user planted there.
func TestLockHolder(t *testing.T) {
	tests := []struct {
		name  string
		setup func(lock string) error
		want  string
	}{
		{"pid", func(lock string) error { return os.WriteFile(lock, []byte("4242\n"), 0o600) }, "pid 4242"},
		{"no file", func(string) error { return nil }, "unknown"},
		{"not a pid", func(lock string) error { return os.WriteFile(lock, []byte("x\x1b[2J\n"), 0o600) }, "unknown"},
		{"huge", func(lock string) error { return os.WriteFile(lock, bytes.Repeat([]byte("9"), 1<<20), 0o600) }, "unknown"},
		{"symlink", func(lock string) error {
			target := filepath.Join(filepath.Dir(lock), "target")
			if err := os.WriteFile(target, []byte("4242\n"), 0o600); err != nil {
				return err
			}
			return os.Symlink(target, lock)
		}, "unknown"},
		{"fifo", func(lock string) error { return syscall.Mkfifo(lock, 0o600) }, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.setup(filepath.Join(dir, state.LockName)); err != nil {
				t.Fatal(err)
			}
			done := make(chan string, 1)
			go func() { done <- lockHolder(dir) }()
			select {
			case got := <-done:
				if got != tt.want {
					t.Fatalf("lockHolder = %q, want %q", got, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("lockHolder blocked")
			}
		})
	}
}
