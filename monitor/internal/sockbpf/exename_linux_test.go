package sockbpf

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestExeName: a process whose name is longer than a comm's 15 bytes makes
// a socket and exits before anyone reads /proc: the programs recorded its
// executable's file name, whole up to 63 bytes, under its PID and comm.
// A comm that is not the one it had (a PID reused, an exec since) gets
// no name.
func TestExeName(t *testing.T) {
	p := nettest.NewPair(t)
	gen, app := nettest.Generator(t, "exename-with-a-long-name")
	long := filepath.Join(filepath.Dir(gen), app+"-"+strings.Repeat("x", 70))
	if err := os.Link(gen, long); err != nil {
		t.Fatal(err)
	}
	c := openCounter(t, Options{})
	if err := c.ExeNamesErr(); err != nil {
		t.Fatalf("the programs record no executable names: %v", err)
	}
	to := netip.AddrPortFrom(p.PeerIP4, 5631).String()
	for _, tt := range []struct{ path, want string }{
		{gen, app},
		{long, filepath.Base(long)[:exeNameLen-1]},
	} {
		cmd := exec.Command("ip", "netns", "exec", p.Watched, tt.path, "udp-send", to, "100", "100")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", tt.path, err, out)
		}
		// ip netns exec execs the program: same PID, and its comm is the
		// file name cut at 15 bytes.
		pid, comm := cmd.Process.Pid, filepath.Base(tt.path)[:15]
		if got := c.ExeName(pid, comm); got != tt.want {
			t.Errorf("ExeName(%d, %q) = %q, want %q", pid, comm, got, tt.want)
		}
		if got := c.ExeName(pid, "other"); got != "" {
			t.Errorf("ExeName(%d, %q) = %q, want none (another comm)", pid, "other", got)
		}
	}
}
