package monitor

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/internal/nftct"
	"github.com/bwmon/bwmon/monitor/internal/netns"
)

// userNetNS starts a process as user nobody in a network namespace of its
// own, owned by a user namespace of its own (`unshare -rn`, as any user
// may), and returns its PID, the namespace's inode and a function that
// kills it by its PID and reaps it (also called at cleanup).
func userNetNS(t *testing.T) (pid int, ino uint64, stop func()) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-rn", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unshare -rn as nobody: %v", err)
	}
	pid = cmd.Process.Pid
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	host, err := netns.Inode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	nettest.Eventually(t, 5*time.Second, func() error {
		if ino, err = netns.Inode(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil || ino == host {
			return fmt.Errorf("process %d not in a namespace of its own yet (%v)", pid, err)
		}
		return nil
	})
	return pid, ino, stop
}

// bwmonTables lists bwmon's nftables tables in the network namespace of
// process pid.
func bwmonTables(t *testing.T, pid int) []string {
	t.Helper()
	h, err := vnetns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	names, err := nftct.Tables(int(h))
	if err != nil {
		t.Fatalf("listing the tables of process %d's namespace: %v", pid, err)
	}
	return names
}

// engageIn makes conntrack run and count in process pid's namespace, as
// its user could (a rule of their own: not bwmon's).
func engageIn(t *testing.T, pid int) {
	t.Helper()
	ns, err := netns.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := nftct.Engage(ns.FD(), "usertest"); err != nil {
		t.Fatalf("engaging conntrack in process %d's namespace: %v", pid, err)
	}
	if err := ns.WriteSysctl("net.netfilter.nf_conntrack_acct", "1"); err != nil {
		t.Fatal(err)
	}
}

// countDir returns how many entries dir has (/proc/self/task: threads;
// /proc/self/fd: open files).
func countDir(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// eventThreads counts this process's threads that read conntrack events.
func eventThreads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == eventThread {
			n++
		}
	}
	return n
}

// startAll starts a monitor of the host with namespaces = "all"; its
// debug logs go to logs.
func startAll(t *testing.T, cfg ConntrackConfig, logs *nettest.SyncBuffer) *Conntrack {
	t.Helper()
	cfg.AllNamespaces = true
	m, err := NewConntrack(Options{Config: cfg, Manage: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("monitor's logs:\n%s", logs.String())
		}
	})
	return m
}

// readNamespaces returns the inodes of the other namespaces m reads.
func readNamespaces(t *testing.T, m *Conntrack) map[uint64]bool {
	t.Helper()
	read := map[uint64]bool{}
	m.others.Each(func(r *tableReader) {
		ino, err := r.ns.Inode()
		if err != nil {
			t.Errorf("reading the inode of a namespace read: %v", err)
		}
		read[ino] = true
	})
	return read
}

// waitNamespaces waits until the monitor's namespaces are as want says.
func waitNamespaces(t *testing.T, m *Conntrack, what string, want func(NamespaceStats) bool) NamespaceStats {
	t.Helper()
	var s NamespaceStats
	nettest.Eventually(t, 20*time.Second, func() error {
		m.peers.Kick() // a scan now rather than in up to 5 s
		if s = m.Namespaces(); !want(s) {
			return fmt.Errorf("namespaces %+v, want %s", s, what)
		}
		return nil
	})
	return s
}

// TestNamespacesCapped reproduces finding 6: 60 `unshare -rn` namespaces
// of one user cost bwmon 60 threads and 600 file descriptors, kept after
// the namespaces went, and got an nftables table of bwmon's each. With
// MaxNamespaces = 3 and six namespaces (four of root's, two of a user's):
// three are read, root's first; none of bwmon's tables goes into the
// user's; as root's go, the user's namespace where conntrack runs already
// is read (no table added), the other not; once all are gone, bwmon's
// threads and open files are back where they were.
func TestNamespacesCapped(t *testing.T) {
	nettest.RequireRoot(t)
	var logs nettest.SyncBuffer
	m := startAll(t, ConntrackConfig{MaxNamespaces: 3}, &logs)
	pre := waitNamespaces(t, m, "a first look", func(NamespaceStats) bool { return true })
	if pre.Limit != 3 {
		t.Fatalf("limit %d, want 3", pre.Limit)
	}
	baseThreads, baseFDs := countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd")

	var root []string
	for range 4 {
		root = append(root, nettest.NewNetNS(t))
	}
	bare, bareIno, stopBare := userNetNS(t)
	engaged, engagedIno, stopEngaged := userNetNS(t)
	engageIn(t, engaged)

	waitNamespaces(t, m, "3 read, the rest skipped", func(s NamespaceStats) bool {
		return s.Read == 3 && s.Skipped == pre.Read+pre.Skipped+6-3
	})
	peakThreads, peakFDs := countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd")
	t.Logf("threads %d -> %d, open files %d -> %d with 3 namespaces read (%d before)", baseThreads, peakThreads, baseFDs, peakFDs, pre.Read)
	// The host's table and the namespaces' each have a reader, on a
	// thread of its own (one may be the main thread, not named).
	if n, want := eventThreads(t), 1+3; n < want-1 || n > want {
		t.Errorf("%d threads read conntrack events, want %d (the host's and 3 namespaces')", n, want)
	}
	// Each namespace read holds some ten sockets; its thread may be
	// one the runtime had idle.
	if read := 3 - pre.Read; peakFDs < baseFDs+5*read {
		t.Errorf("open files %d -> %d: reading %d more namespaces costs nothing?", baseFDs, peakFDs, read)
	}
	for _, ino := range []uint64{bareIno, engagedIno} {
		if readNamespaces(t, m)[ino] {
			t.Errorf("a user's namespace (%d) is read while root's wait", ino)
		}
	}
	for _, pid := range []int{bare, engaged} {
		if tables := bwmonTables(t, pid); len(tables) > 0 {
			t.Errorf("bwmon's tables %v in a user's namespace", tables)
		}
	}

	// Root's namespaces go but one: the user's where conntrack runs is
	// read, as it is; the bare one is not.
	for _, ns := range root[:3] {
		nettest.MustIP(t, "netns", "del", ns)
	}
	waitNamespaces(t, m, "the user's engaged namespace read, the bare one not", func(s NamespaceStats) bool {
		if pre.Read+pre.Skipped > 0 {
			return s.Read == 3
		}
		return s.Read == 2 && s.Skipped == 0 && s.Unread == 1
	})
	read := readNamespaces(t, m)
	readEngaged, readBare := read[engagedIno], read[bareIno]
	if pre.Read+pre.Skipped > 0 {
		t.Logf("%d other namespaces on this host take slots first: the user's are not read", pre.Read+pre.Skipped)
	} else if !readEngaged || readBare {
		t.Errorf("read the engaged user namespace: %v, the bare one: %v; want true, false", readEngaged, readBare)
	}
	for _, pid := range []int{bare, engaged} {
		if tables := bwmonTables(t, pid); len(tables) > 0 {
			t.Errorf("bwmon's tables %v in a user's namespace", tables)
		}
	}

	// All go: what bwmon held for them is released.
	nettest.MustIP(t, "netns", "del", root[3])
	stopBare()
	stopEngaged()
	waitNamespaces(t, m, "back to the first look", func(s NamespaceStats) bool { return s.Read == pre.Read })
	// The readers' threads end with them; the runtime may keep a few
	// others it started meanwhile (it never ends idle threads).
	slack := runtime.GOMAXPROCS(0) + 1
	nettest.Eventually(t, 10*time.Second, func() error {
		threads, fds, readers := countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd"), eventThreads(t)
		if fds > baseFDs || readers > 1+pre.Read || threads > baseThreads+slack {
			return fmt.Errorf("threads %d (%d reading events), open files %d; %d, %d and %d before the namespaces came (threads may exceed by %d)",
				threads, readers, fds, baseThreads, 1+pre.Read, baseFDs, slack)
		}
		return nil
	})
	t.Logf("after: threads %d, open files %d", countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd"))
}

// TestUserNamespaceTables: in a namespace an ordinary user made, bwmon
// adds no table and leaves accounting alone, unless manage_user_namespaces
// says so; then its table goes with bwmon.
func TestUserNamespaceTables(t *testing.T) {
	nettest.RequireRoot(t)
	tests := []struct {
		name       string
		manageUser bool
		wantTable  bool
	}{
		{"default: a guest", false, false},
		{"manage_user_namespaces = true", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ino, _ := userNetNS(t)
			var logs nettest.SyncBuffer
			m := startAll(t, ConntrackConfig{ManageUserNamespaces: tt.manageUser}, &logs)
			// Looked at: read, or left unread, which a line says.
			label := "net:[" + strconv.FormatUint(ino, 10) + "]"
			unread := func() bool {
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "the conntrack table of a network namespace") && strings.Contains(line, label) {
						return true
					}
				}
				return false
			}
			waitNamespaces(t, m, "the user's namespace looked at", func(NamespaceStats) bool {
				return readNamespaces(t, m)[ino] || unread()
			})
			tables := bwmonTables(t, pid)
			if got := len(tables) > 0; got != tt.wantTable {
				t.Errorf("bwmon's tables in the user's namespace: %v; want one: %v", tables, tt.wantTable)
			}
			ns, err := netns.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			if acct, err := ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); err != nil || (acct == "1") != tt.wantTable {
				t.Errorf("accounting in the user's namespace %q (%v); want it switched on: %v", acct, err, tt.wantTable)
			}
			m.Close()
			if tables := bwmonTables(t, pid); len(tables) > 0 {
				t.Errorf("bwmon's tables %v left in the user's namespace after Close", tables)
			}
		})
	}
}
