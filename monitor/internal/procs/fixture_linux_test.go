package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fixture is a /proc tree made by a test: processes with an executable, a
// command line, a stat line and fds, some of them sockets. It lives on
// tmpfs (/dev/shm), where a directory's size follows its number of
// entries, as /proc/PID/fd's does: the table's open-file counts then
// change when a test opens or closes an fd.
type fixture struct {
	t    *testing.T
	root string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root, err := os.MkdirTemp("/dev/shm", "bwmon-procs-")
	if err != nil {
		t.Fatalf("making a /proc fixture on tmpfs: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	f := &fixture{t: t, root: root}
	// The fixture relies on directory sizes that follow their entries.
	probe := filepath.Join(root, "probe")
	f.must(os.Mkdir(probe, 0o755))
	before := f.size(probe)
	f.must(os.WriteFile(filepath.Join(probe, "x"), nil, 0o644))
	if f.size(probe) == before {
		t.Fatalf("/dev/shm is not tmpfs: a directory's size does not follow its entries")
	}
	f.must(os.RemoveAll(probe))
	f.loadavg(1)
	return f
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) size(path string) int64 {
	f.t.Helper()
	st, err := os.Stat(path)
	f.must(err)
	return st.Size()
}

func (f *fixture) dir(pid int) string { return filepath.Join(f.root, strconv.Itoa(pid)) }

// proc makes process pid running exe with args, started at start (clock
// ticks since boot), with no fd.
func (f *fixture) proc(pid int, exe string, start uint64, args ...string) {
	f.t.Helper()
	d := f.dir(pid)
	f.must(os.MkdirAll(filepath.Join(d, "fd"), 0o755))
	_ = os.Remove(filepath.Join(d, "exe"))
	f.must(os.Symlink(exe, filepath.Join(d, "exe")))
	f.must(os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644))
	nums := make([]string, 41) // the fields after the state
	for i := range nums {
		nums[i] = "0"
	}
	nums[0], nums[18] = "1", strconv.FormatUint(start, 10) // ppid, starttime
	stat := fmt.Sprintf("%d (%s) S %s\n", pid, filepath.Base(exe), strings.Join(nums, " "))
	f.must(os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644))
}

// fd points pid's fd n at target: "socket:[INODE]", or a path.
func (f *fixture) fd(pid, n int, target string) {
	f.t.Helper()
	link := filepath.Join(f.dir(pid), "fd", strconv.Itoa(n))
	_ = os.Remove(link)
	f.must(os.Symlink(target, link))
}

func socket(inode uint64) string { return "socket:[" + strconv.FormatUint(inode, 10) + "]" }

// closeFD closes pid's fd n.
func (f *fixture) closeFD(pid, n int) {
	f.t.Helper()
	f.must(os.Remove(filepath.Join(f.dir(pid), "fd", strconv.Itoa(n))))
}

// exit removes pid from the tree.
func (f *fixture) exit(pid int) {
	f.t.Helper()
	f.must(os.RemoveAll(f.dir(pid)))
}

// loadavg sets the PID the kernel allocated last.
func (f *fixture) loadavg(last int) {
	f.t.Helper()
	f.must(os.WriteFile(filepath.Join(f.root, "loadavg"), fmt.Appendf(nil, "0.00 0.01 0.05 1/100 %d\n", last), 0o644))
}

// table makes a table of the fixture on clock, with no process events
// and no goroutine; exits records the PIDs Exited is told of.
func (f *fixture) table(clock *nettest.Clock, exits *[]int) *Table {
	f.t.Helper()
	o := Options{Root: f.root, Now: clock.Now}
	if exits != nil {
		o.Exited = func(pid int) { *exits = append(*exits, pid) }
	}
	t, err := newTable(o)
	f.must(err)
	f.t.Cleanup(func() { t.Close() })
	return t
}

func newClock() *nettest.Clock { return nettest.NewClock(time.Unix(100_000, 0)) }
