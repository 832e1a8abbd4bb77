package sockbpf

import (
	"net/netip"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestThreadComm: a process whose worker thread has a name of its own
// (prctl(PR_SET_NAME), as Rust's tokio, Java and browsers name theirs)
// makes sockets on it: each socket's comm is the process's, as
// /proc/PID/stat shows it and the process table knows it, not the
// thread's, and the executable's name is recorded under it. Before, the
// thread's comm was recorded, the socket monitor took the process for
// another (exec'd, or a PID reused) and its bytes waited three ticks for
// a lookup by inode.
func TestThreadComm(t *testing.T) {
	p := nettest.NewPair(t)
	gen, app := nettest.Generator(t, "threadcomm")
	const port = 5633
	nettest.StartServer(t, p.Peer, gen, "tcp-sink", ":5633")
	c := openCounter(t, Options{})
	if err := c.ExeNamesErr(); err != nil {
		t.Fatalf("the programs cannot read the task (bpf_probe_read_kernel): %v", err)
	}
	to := netip.AddrPortFrom(p.PeerIP4, port)
	cmd := exec.Command("ip", "netns", "exec", p.Watched, gen, "-thread", "wrk-thread", "-conns", "3", "tcp-send", to.String(), "10000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bwgen: %v: %s", err, out)
	}
	pid, comm := cmd.Process.Pid, app[:min(len(app), 15)]
	n := 0
	err := c.Read(func(s *Socket) {
		if s.PID != pid || s.Proto != unix.IPPROTO_TCP || s.Remote != to {
			return
		}
		n++
		if s.Comm != comm {
			t.Errorf("socket %d: comm %q, want the process's %q (not its thread's)", s.Cookie, s.Comm, comm)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d sockets of PID %d to %v, want 3", n, pid, to)
	}
	if got := c.ExeName(pid, comm); got != app {
		t.Errorf("ExeName(%d, %q) = %q, want %q", pid, comm, got, app)
	}
}
