package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
)

// serviceCaps are the capabilities bwmon.service grants, as setpriv spells
// them; the unit sets Nice=-10 in place of CAP_SYS_NICE. bpf and perfmon
// count at the socket ([socket] mode).
var serviceCaps = []string{"net_admin", "sys_ptrace", "dac_read_search", "bpf", "perfmon"}

// asService returns the command that runs bin as the unit does: user
// nobody, only serviceCaps, nice -10; inside network namespace ns unless
// it is "".
func asService(t *testing.T, ns, bin string, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed to drop privileges: %v", err)
	}
	caps := "-all"
	for _, c := range serviceCaps {
		caps += ",+" + c
	}
	argv := []string{"nice", "-n", "-10", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"--inh-caps=" + caps, "--ambient-caps=" + caps, "--bounding-set=" + caps, bin}
	argv = append(argv, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	return exec.Command(argv[0], argv[1:]...)
}

// serviceDir makes a directory user nobody can read, holding a copy of the
// bwmon binary and a state directory nobody owns, as StateDirectory= does.
func serviceDir(t *testing.T) (dir, bin, stateDir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bwmon-service-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(nettest.Build(t, "./cmd/bwmon"))
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "bwmon")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir = filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	nettest.MustExec(t, "chown", "nobody:nogroup", stateDir)
	return dir, bin, stateDir
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServiceCapabilitiesSuffice runs the agent as the unit does, not as
// root, in the watched namespace, and checks that it sets the kernel up,
// attributes traffic, keeps its state and cleans up.
func TestServiceCapabilitiesSuffice(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	dir, bin, stateDir := serviceDir(t)
	path := writeConfig(t, dir, fmt.Sprintf("[state]\ndir = %q\nflush = \"1s\"\n", stateDir))
	a := followAgent(t, path, asService(t, p.Watched, bin, "-config", path, "-output", "json", "-log-level", "info"))

	srv, _ := nettest.Generator(t, "srv")
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", hostPort(p.PeerIP4, 5201))
	gen, app := nettest.Generator(t, "caps")
	nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-linger", "3s", "tcp-send", hostPort(p.PeerIP4, 5201), strconv.Itoa(2<<20))
	orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5201))
	expectApp(t, a, app, reply, orig)

	if uid := statUID(t, filepath.Join(stateDir, "bwmon.db")); uid != nobodyUID(t) {
		t.Fatalf("bwmon.db belongs to uid %d, want nobody's: was the agent not running as nobody?", uid)
	}
	for _, bad := range []string{"could not raise bwmon's priority", "level=ERROR"} {
		if strings.Contains(a.logs.String(), bad) {
			t.Fatalf("agent logged %q:\n%s", bad, a.logs.String())
		}
	}
	if !strings.Contains(a.logs.String(), "added nftables table") {
		t.Fatalf("agent did not engage conntrack itself:\n%s", a.logs.String())
	}
	a.stop(t)
	if names, err := nftct.Tables(nettest.NetNSFD(t, p.Watched)); err != nil || len(names) > 0 {
		t.Fatalf("after exit, tables %q still in the watched namespace (err %v)", names, err)
	}
}

// TestServiceCapabilitiesProcConnector checks in the host's namespace, the
// only one where the kernel sends process events, that the service's
// capabilities subscribe to them, and load and attach the eBPF programs
// that count at the socket ([socket] mode = "on" fails to start without),
// reading the task (bpf_probe_read_kernel_str, CAP_PERFMON).
// It changes nothing on the host: manage = false, and no traffic.
func TestServiceCapabilitiesProcConnector(t *testing.T) {
	nettest.RequireRoot(t)
	dir, bin, stateDir := serviceDir(t)
	path := writeConfig(t, dir, fmt.Sprintf("[conntrack]\nmanage = false\n[state]\ndir = %q\n", stateDir)+socketSection(socketOn))
	a := followAgent(t, path, asService(t, "", bin, "-config", path, "-output", "json", "-log-level", "info"))
	a.waitLog(t, "conntrack monitor started")
	if strings.Contains(a.logs.String(), "no process events") {
		t.Fatalf("the proc connector refused the service's capabilities:\n%s", a.logs.String())
	}
	if !strings.Contains(a.logs.String(), "count=socket") {
		t.Fatalf("the service's capabilities do not count at the socket:\n%s", a.logs.String())
	}
	if strings.Contains(a.logs.String(), "cannot read the task") {
		t.Fatalf("the service's capabilities do not let the programs read the task (executables' names, processes' comms):\n%s", a.logs.String())
	}
}

func statUID(t *testing.T, path string) uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

func nobodyUID(t *testing.T) uint32 {
	t.Helper()
	out, err := exec.Command("id", "-u", "nobody").Output()
	if err != nil {
		t.Fatal(err)
	}
	uid, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(uid)
}
