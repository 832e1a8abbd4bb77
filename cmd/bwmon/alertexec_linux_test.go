package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/notify"
)

func TestAlertExecArgs(t *testing.T) {
	tests := []struct {
		name string
		ru   notify.User
		want []string
	}{
		{"keep the user", notify.User{Name: "bwmon"}, []string{"/bin/bwmon", "__alert-exec", "--"}},
		{"switch", notify.User{Name: "nobody", Switch: true, UID: 65534, GID: 65534, Groups: []int{65534, 100}, Home: "/nonexistent"},
			[]string{"/bin/bwmon", "__alert-exec", "-user", "nobody", "-uid", "65534", "-gid", "65534", "-groups", "65534,100", "-home", "/nonexistent", "--"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := alertExecArgs("/bin/bwmon", tt.ru)
			if !reflect.DeepEqual(args, tt.want) {
				t.Fatalf("args = %q, want %q", args, tt.want)
			}
			// The subcommand reads back what the notifier wrote, and
			// the command after "--" as it is, dashes and all.
			ru, argv, err := parseAlertExec(append(args[2:], "/bin/page", "--help", "-uid", "0"))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.ru
			if !want.Switch {
				// Nothing to say but "keep the user".
				want = notify.User{UID: -1, GID: -1}
			}
			if !reflect.DeepEqual(ru, want) || !reflect.DeepEqual(argv, []string{"/bin/page", "--help", "-uid", "0"}) {
				t.Fatalf("read back %+v %q, want %+v and the command as given", ru, argv, want)
			}
		})
	}
}

func TestParseAlertExecErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"--"}, "no command to run"},
		{"empty program", []string{"--", ""}, "no command to run"},
		{"uid without gid", []string{"-uid", "5", "--", "x"}, "-uid and -gid go together"},
		{"bad group", []string{"-uid", "5", "-gid", "5", "-groups", "5,x", "--", "x"}, `bad group id "x"`},
		{"unknown flag", []string{"-x", "--", "x"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseAlertExec(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// statusScript writes, to the file named by its argument, the status of
// its own process (uid, capabilities, no_new_privs, blocked signals), its
// stat line (for the nice value), HOME and USER, BWMON_APP and its stdin.
// The shell reads its own status itself: a child (cat) reading it could
// catch the shell inside fork, all signals blocked for a moment.
const statusScript = `#!/bin/sh
{
while IFS= read -r l; do echo "$l"; done < /proc/$$/status
read -r st < /proc/$$/stat
echo "Stat:	$st"
echo "Home:	$HOME"
echo "User:	$USER"
echo "App:	$BWMON_APP"
echo "Stdin:	$(cat)"
} > "$1"
`

// privileges is what statusScript recorded, by field name.
type privileges map[string]string

func readPrivileges(t *testing.T, path string) privileges {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the command recorded nothing: %v", err)
	}
	p := privileges{}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			p[k] = strings.TrimSpace(v)
		}
	}
	// The nice value is field 19 of /proc/PID/stat, the 17th after the
	// command name's closing parenthesis.
	if i := strings.LastIndexByte(p["Stat"], ')'); i >= 0 {
		if f := strings.Fields(p["Stat"][i+1:]); len(f) > 16 {
			p["Nice"] = f[16]
		}
	}
	return p
}

// publicDir returns a directory every user may use, removed at cleanup
// (t.TempDir is the test user's alone).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bwmon-alertexec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publicBwmon returns a bwmon binary any user may run.
func publicBwmon(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(nettest.Build(t, "./cmd/bwmon"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "bwmon")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// agentCaps are the service unit's ambient capabilities.
var agentCaps = []uintptr{unix.CAP_NET_ADMIN, unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH}

// TestAlertExecLowersPrivileges reproduces finding 5 of the security
// review: an alert command ran with the agent's privileges (root, or the
// unit's ambient capabilities) at nice -10. Here an "agent" (a process at
// nice -10 with the unit's ambient capabilities, as root or as the unit's
// unprivileged user) runs a real script, directly as before and through
// `bwmon __alert-exec`: before, the script has the agent's privileges;
// through it, none of them.
func TestAlertExecLowersPrivileges(t *testing.T) {
	nettest.RequireRoot(t)
	dir := publicDir(t)
	bwmon := publicBwmon(t, dir)
	script := filepath.Join(dir, "status.sh")
	if err := os.WriteFile(script, []byte(statusScript), 0o755); err != nil {
		t.Fatal(err)
	}
	nobody, err := notify.ResolveUser(nil, 0, notify.SystemUsers)
	if err != nil {
		t.Fatal(err)
	}
	if nobody.Name != "nobody" || !nobody.Switch {
		t.Fatalf("as root, command_user defaults to %+v, want nobody", nobody)
	}
	uid := strconv.Itoa(nobody.UID)
	tests := []struct {
		name string
		// agent is the credential the agent runs with, nil for root.
		agent *syscall.Credential
		ru    notify.User
		want  privileges // after __alert-exec
	}{
		{
			name: "root agent, command_user unset: nobody", ru: nobody,
			want: privileges{"Uid": strings.Repeat(uid+"\t", 3) + uid, "CapInh": "0000000000000000", "CapPrm": "0000000000000000",
				"CapEff": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Nice": "0", "SigBlk": "0000000000000000",
				"Home": nobody.Home, "User": "nobody", "Groups": joinInts(nobody.Groups)},
		},
		{
			name: `root agent, command_user = "root": root without ambient capabilities`, ru: notify.User{Name: "root"},
			want: privileges{"Uid": "0\t0\t0\t0", "CapInh": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Nice": "0"},
		},
		{
			name:  "the service's unprivileged user with ambient capabilities keeps its user, loses them",
			agent: &syscall.Credential{Uid: uint32(nobody.UID), Gid: uint32(nobody.GID)}, ru: notify.User{Name: "nobody"},
			want: privileges{"Uid": strings.Repeat(uid+"\t", 3) + uid, "CapInh": "0000000000000000", "CapPrm": "0000000000000000",
				"CapEff": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Nice": "0"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(out string, launcher []string) privileges {
				t.Helper()
				// The agent: nice -10, the unit's ambient capabilities
				// (and CAP_SYS_NICE, which nice needs without root).
				args := append([]string{"-n", "-10"}, launcher...)
				args = append(args, "/bin/sh", script, out)
				cmd := exec.Command("nice", args...)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: tt.agent, AmbientCaps: append(agentCaps, unix.CAP_SYS_NICE)}
				cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "BWMON_APP=x\\x1b"}
				cmd.Stdin = strings.NewReader(`{"app":"x"}`)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%q: %v\n%s", cmd.Args, err, b)
				}
				return readPrivileges(t, out)
			}
			before := run(filepath.Join(dir, fmt.Sprintf("%d-before", i)), nil)
			if before["CapAmb"] == "0000000000000000" || before["Nice"] != "-10" {
				t.Fatalf("run directly, the command should have the agent's privileges (the finding): CapAmb %s, nice %s",
					before["CapAmb"], before["Nice"])
			}
			after := run(filepath.Join(dir, fmt.Sprintf("%d-after", i)), alertExecArgs(bwmon, tt.ru))
			for k, v := range tt.want {
				if after[k] != v {
					t.Errorf("%s = %q, want %q", k, after[k], v)
				}
			}
			// What the command reads stays as it was.
			if after["App"] != `x\x1b` || after["Stdin"] != `{"app":"x"}` {
				t.Errorf("BWMON_APP %q and stdin %q, want them passed on", after["App"], after["Stdin"])
			}
			t.Logf("directly: uid %s CapEff %s CapAmb %s nice %s; through %s: uid %s CapEff %s CapAmb %s nice %s no_new_privs %s",
				before["Uid"], before["CapEff"], before["CapAmb"], before["Nice"], alertExecCommand,
				after["Uid"], after["CapEff"], after["CapAmb"], after["Nice"], after["NoNewPrivs"])
		})
	}
}

// TestAlertExecFailures checks that a command that cannot run says why on
// stderr with the usual exit statuses, and that no command runs when the
// user switch fails.
func TestAlertExecFailures(t *testing.T) {
	nettest.RequireRoot(t)
	dir := publicDir(t)
	bwmon := publicBwmon(t, dir)
	nobody, err := notify.ResolveUser(nil, 0, notify.SystemUsers)
	if err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(dir, "ran")
	tests := []struct {
		name  string
		agent *syscall.Credential
		ru    notify.User
		argv  []string
		code  int
		want  string
	}{
		{"missing program", nil, nobody, []string{"/nonexistent/bwmon-alert"}, 127, "no such file or directory"},
		{"not on PATH", nil, nobody, []string{"bwmon-no-such-alert-command"}, 127, "executable file not found"},
		{"not readable by the user", nil, nobody, []string{filepath.Join(t.TempDir(), "page")}, 127, "permission denied"},
		{"switch refused", &syscall.Credential{Uid: uint32(nobody.UID), Gid: uint32(nobody.GID)},
			notify.User{Name: "root", Switch: true, UID: 0, GID: 0}, []string{"/usr/bin/touch", ran}, 126, "setting the groups of user root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bwmon, append(alertExecArgs(bwmon, tt.ru)[1:], tt.argv...)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: tt.agent}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %v, stderr %q; want status %d and %q", err, stderr.String(), tt.code, tt.want)
			}
			if _, err := os.Stat(ran); err == nil {
				t.Fatal("the command ran although the switch failed")
			}
		})
	}
}

// TestAlertCommandRunsAsCommandUser runs an alert through the notifier as
// the agent configures it (config.Parse resolves command_user, setLauncher
// sets the launcher for it), with a real script.
func TestAlertCommandRunsAsCommandUser(t *testing.T) {
	nettest.RequireRoot(t)
	dir := publicDir(t)
	bwmon := publicBwmon(t, dir)
	script := filepath.Join(dir, "status.sh")
	if err := os.WriteFile(script, []byte(statusScript), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "status")
	cfg, err := config.Parse("c.toml", "[[notify]]\napp = \"^backup$\"\nout_threshold = \"1kB/s\"\nwindow = 1\ncommand = [\"/bin/sh\", "+
		strconv.Quote(script)+", "+strconv.Quote(out)+"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := setLauncher(cfg); err != nil {
		t.Fatal(err)
	}
	nc := cfg.Notify
	if len(nc.Launcher) < 2 || nc.Launcher[1] != alertExecCommand || nc.User.Name != "nobody" {
		t.Fatalf("launcher %q, user %q: want bwmon %s, nobody", nc.Launcher, nc.User.Name, alertExecCommand)
	}
	// The test binary has no __alert-exec: run bwmon's.
	nc.Launcher = append([]string{bwmon}, nc.Launcher[1:]...)
	var log bytes.Buffer
	n, err := notify.New(nc, notify.Options{Logger: slog.New(slog.NewTextHandler(&log, nil)), Alerts: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	n.Consume(&model.Snapshot{Time: time.Now(), Apps: []model.AppUsage{{App: "backup", RateOut: 5000}}})
	n.Close()
	if s := n.Stats(); s.Fired != 1 || s.Failed != 0 {
		t.Fatalf("stats %+v, want one command run\nlog:\n%s", s, &log)
	}
	p := readPrivileges(t, out)
	want := strconv.Itoa(65534)
	if nobodyUser, err := notify.ResolveUser(nil, 0, notify.SystemUsers); err == nil {
		want = strconv.Itoa(nobodyUser.UID)
	}
	if p["Uid"] != strings.Repeat(want+"\t", 3)+want || p["CapEff"] != "0000000000000000" || p["CapAmb"] != "0000000000000000" ||
		p["NoNewPrivs"] != "1" || p["Nice"] != "0" || p["App"] != "backup" || !strings.Contains(p["Stdin"], `"app":"backup"`) {
		t.Fatalf("the command ran with uid %q CapEff %s CapAmb %s no_new_privs %s nice %s, app %q, stdin %q; want nobody, nothing, nice 0",
			p["Uid"], p["CapEff"], p["CapAmb"], p["NoNewPrivs"], p["Nice"], p["App"], p["Stdin"])
	}
}

// joinInts formats ids as /proc/PID/status lists them.
func joinInts(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, " ")
}
