//go:build unix

package notify

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recorder is a script that writes, into its own directory, its argument
// count and arguments (one a line), its BWMON_* environment and its stdin.
// It quotes everything it is given: the test checks what bwmon passes, not
// the script.
const recorder = `#!/bin/sh
d=$(dirname "$0")/$BWMON_STATE-$$
mkdir "$d"
printf '%s\n' "$#" "$@" > "$d/args"
env | grep '^BWMON_' | sort > "$d/env"
printf '%s' "$BWMON_APP" > "$d/app"
cat > "$d/stdin"
`

// writeScript writes body to an executable file in dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runs lists what the recorder in dir recorded: one directory per run.
func runs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommandGetsTheEvent(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "record.sh", recorder)
	cfg := Config{Rules: []Rule{{
		App: regexp.MustCompile(`^backup$`), Out: 10e6, Window: 2, Cooldown: time.Hour,
		Command: []string{"/bin/sh", script, "--team", "net"}, CommandTimeout: 10 * time.Second,
	}}}
	r := newRig(t, cfg, Options{})
	t.Setenv("BWMON_STATE", "inherited-value-must-be-overridden")
	r.feed(1, repeat(2, usage{"backup", 0, 12.4e6})...)
	r.n.Close()

	got := runs(t, dir)
	if len(got) != 1 || !strings.HasPrefix(filepath.Base(got[0]), "firing-") {
		t.Fatalf("runs = %v, want one firing\nlog:\n%s", got, r.log)
	}
	run := got[0]
	if args := readFile(t, filepath.Join(run, "args")); args != "2\n--team\nnet\n" {
		t.Fatalf("args = %q, want exactly the configured --team net", args)
	}
	wantEnv := "BWMON_APP=backup\nBWMON_DIRECTION=out\nBWMON_RATE=12400000\nBWMON_STATE=firing\n" +
		"BWMON_THRESHOLD=10000000\nBWMON_TIME=2026-11-22T10:00:02Z\nBWMON_WINDOW=2\n"
	if env := readFile(t, filepath.Join(run, "env")); env != wantEnv {
		t.Fatalf("env:\n%s\nwant:\n%s", env, wantEnv)
	}
	var ev Event
	stdin := readFile(t, filepath.Join(run, "stdin"))
	if err := json.Unmarshal([]byte(stdin), &ev); err != nil {
		t.Fatalf("stdin %q is not one JSON object: %v", stdin, err)
	}
	want := Event{Time: tickAt(2), App: "backup", Direction: Out, State: Firing, Rate: 12.4e6, Threshold: 10e6, Window: 2}
	if ev != want {
		t.Fatalf("stdin event = %+v, want %+v", ev, want)
	}
	if s := r.n.Stats(); s.Fired != 1 || s.Failed != 0 || s.Dropped != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// gone reports whether pid is no process, or a zombie no longer running.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "PID (comm) STATE ...": a zombie's state is Z.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

func TestCommandTimeoutKillsAndReaps(t *testing.T) {
	dir := t.TempDir()
	// The shell waits for a child of its own: both must die.
	script := writeScript(t, dir, "hang.sh", "#!/bin/sh\necho $$ > \"$1/pid\"\nsleep 30 &\necho $! > \"$1/child\"\nwait\n")
	cfg := Config{Rules: []Rule{{
		App: regexp.MustCompile(`.`), Out: 1, Window: 1, Cooldown: time.Hour,
		Command: []string{"/bin/sh", script, dir}, CommandTimeout: 300 * time.Millisecond,
	}}}
	r := newRig(t, cfg, Options{})
	began := time.Now()
	r.feed(1, []usage{{"x", 0, 100}})
	r.waitFor(t, "failure counted for the hanging command", func() bool { return r.n.Stats().Failed > 0 })
	took := time.Since(began)
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "pid"))))
	child, _ := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "child"))))
	// The shell is bwmon's child: reaped means no process at all, not even
	// a zombie.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the command (pid %d) is still there after its timeout: %v", pid, err)
	}
	for deadline := time.Now().Add(2 * time.Second); !gone(child); {
		if time.Now().After(deadline) {
			t.Errorf("the command's child (pid %d) still runs after the timeout", child)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.log.String(), "did not finish within command_timeout 300ms: killed") {
		t.Errorf("log does not say the command was killed:\n%s", r.log)
	}
	t.Logf("hanging command counted failed %s after the event", took.Round(time.Millisecond))
}

func TestMaxRunningQueuesEvents(t *testing.T) {
	dir := t.TempDir()
	// Each run records itself, then waits until the test releases it.
	script := writeScript(t, dir, "slow.sh", "#!/bin/sh\nmkdir \"$1/ran-$$\"\nwhile [ ! -e \"$1/release\" ]; do sleep 0.02; done\n")
	cfg := Config{MaxRunning: 2, Rules: []Rule{{
		App: regexp.MustCompile(`.`), Out: 1, Window: 1, Cooldown: time.Hour,
		Command: []string{"/bin/sh", script, dir}, CommandTimeout: 10 * time.Second,
	}}}
	r := newRig(t, cfg, Options{})
	r.feed(1, []usage{{"a", 0, 100}, {"b", 0, 100}, {"c", 0, 100}, {"d", 0, 100}})
	r.waitFor(t, "2 commands running", func() bool { return len(runs(t, dir)) >= 2 })
	// Two more ticks while both slots are taken: the waiting events stay
	// queued, and nothing fires twice.
	r.feed(2, repeat(2, usage{"a", 0, 100}, usage{"b", 0, 100}, usage{"c", 0, 100}, usage{"d", 0, 100})...)
	time.Sleep(100 * time.Millisecond)
	if got := runs(t, dir); len(got) != 2 {
		t.Fatalf("%d commands run at once, want max_running = 2", len(got))
	}
	if n := strings.Count(r.alerts.String(), "\n"); n != 2 {
		t.Fatalf("%d alert lines while two events wait, want 2 (a line goes out with its event)", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.n.Close()
	if got := runs(t, dir); len(got) != 4 {
		t.Fatalf("%d commands ran, want all 4: the two beyond max_running waited", len(got))
	}
	if s := r.n.Stats(); s.Fired != 4 || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("stats = %+v, want 4 fired, none dropped or failed", s)
	}
	if n := strings.Count(r.alerts.String(), "\n"); n != 4 {
		t.Fatalf("%d alert lines, want 4", n)
	}
}

func TestFailingCommandsDoNotStopCounting(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		wantLog string
	}{
		{"missing program", []string{"/nonexistent/bwmon-alert"}, "no such file or directory"},
		{"not on PATH", []string{"bwmon-no-such-alert-command"}, "executable file not found"},
		{"exit status", []string{"/bin/sh", "-c", "echo 'mail server down' >&2; exit 3"}, `exit status 3; output: \"mail server down\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Rules: []Rule{{
				App: regexp.MustCompile(`.`), Out: 1000, Window: 1, Cooldown: time.Hour, Resolve: true,
				Command: tt.command, CommandTimeout: 5 * time.Second,
			}}}
			r := newRig(t, cfg, Options{})
			r.feed(1, []usage{{"x", 0, 5000}})
			r.waitFor(t, "failure counted", func() bool { return r.n.Stats().Failed > 0 })
			// The next tick is still counted and still alerts.
			r.feed(2, []usage{{"x", 0, 0}})
			r.n.Close()
			if s := r.n.Stats(); s.Fired != 1 || s.Resolved != 1 || s.Failed != 2 {
				t.Fatalf("stats = %+v, want 1 fired, 1 resolved, both commands failed", s)
			}
			if !strings.Contains(r.log.String(), tt.wantLog) {
				t.Fatalf("log does not contain %q:\n%s", tt.wantLog, r.log)
			}
		})
	}
}
