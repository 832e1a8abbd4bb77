package netns

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

const (
	kthreaddStat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 18 0\n"
	// A container's PID 2: an ordinary process (flags without PF_KTHREAD).
	shellStat = "2 (sh) S 1 2 2 34816 2 4194560 120 0 0 0 0 0 0 0 20 0 1 0 9000 0\n"
)

// procFixture makes a /proc tree holding /proc/2/stat with the given text
// ("" for none).
func procFixture(t *testing.T, stat2 string) string {
	t.Helper()
	root := t.TempDir()
	if stat2 != "" {
		if err := os.MkdirAll(filepath.Join(root, "2"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "2", "stat"), []byte(stat2), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestFindHostNetNS: the host's namespace is PID 1's; where that is
// refused (as on a host whose PID 1 is not dumpable, or without
// CAP_SYS_PTRACE) a kernel thread's, else bwmon's own when it is init_net's
// fixed inode; else unknown, never a guess.
func TestFindHostNetNS(t *testing.T) {
	const host, other = 4026531833, 4026532177
	refused := fs.ErrPermission
	tests := []struct {
		name     string
		stat2    string
		inodes   map[string]uint64 // under the fixture root; absent: refused
		want     uint64
		wantFrom string
		wantErr  bool
	}{
		{"pid 1 readable", kthreaddStat, map[string]uint64{"1/ns/net": 4026531992, "2/ns/net": 4026531992}, 4026531992, "1/ns/net", false},
		{"pid 1 refused, kthreadd readable", kthreaddStat, map[string]uint64{"2/ns/net": host, "self/ns/net": other}, host, "2/ns/net", true},
		{"pid 1 refused, pid 2 no kernel thread, own is init_net", shellStat, map[string]uint64{"2/ns/net": other, "self/ns/net": initNetInode}, initNetInode, "self/ns/net", true},
		{"pid 1 refused, pid 2 no kernel thread, own is another", shellStat, map[string]uint64{"2/ns/net": other, "self/ns/net": other}, 0, "", true},
		{"nothing readable", kthreaddStat, map[string]uint64{}, 0, "", true},
		{"no pid 2, own readable but not init_net (an older kernel)", "", map[string]uint64{"self/ns/net": 4026531992}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := procFixture(t, tt.stat2)
			stat := func(path string) (uint64, error) {
				if ino, ok := tt.inodes[strings.TrimPrefix(path, root+"/")]; ok {
					return ino, nil
				}
				return 0, refused
			}
			h := FindHost(root, stat)
			if h.ino != tt.want {
				t.Errorf("host namespace %d, want %d", h.ino, tt.want)
			}
			if tt.wantFrom != "" && h.from != root+"/"+tt.wantFrom {
				t.Errorf("read from %q, want %q", h.from, root+"/"+tt.wantFrom)
			}
			if (h.err != nil) != tt.wantErr || (h.err != nil && !errors.Is(h.err, refused)) {
				t.Errorf("err %v, want an error %v wrapping %v", h.err, tt.wantErr, refused)
			}
		})
	}
}

// TestHostNetNSLabels reproduces the finding: PID 1's namespace refused,
// every process was labelled with the host's own namespace. Now the host's
// is read from a kernel thread and its processes carry no label; where it
// cannot be read at all, no process carries one. Each case logs once, with
// how to fix it.
func TestHostNetNSLabels(t *testing.T) {
	own, err := Inode("/proc/self/ns/net")
	if err != nil {
		t.Skipf("cannot read this process's network namespace: %v", err)
	}
	tests := []struct {
		name      string
		stat2     string
		wantLabel string // of a process in the test's own (host) namespace
		wantLog   string
	}{
		{"kernel thread tells", kthreaddStat, "", "level=INFO"},
		{"nothing tells", shellStat, "", "level=WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := procFixture(t, tt.stat2)
			// PID 1 has no ns/net in the fixture (refused), nor has
			// self; PID 2's is the test's own namespace.
			if err := os.MkdirAll(filepath.Join(root, "2", "ns"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/proc/self/ns/net", filepath.Join(root, "2", "ns", "net")); err != nil {
				t.Fatal(err)
			}
			var logs nettest.SyncBuffer
			tr := NewTracker(Options{ProcRoot: root, Log: slog.New(slog.NewTextHandler(&logs, nil))})
			defer tr.Close()
			if got := tr.Label(own); got != tt.wantLabel {
				t.Errorf("label of the host's namespace %q, want %q", got, tt.wantLabel)
			}
			if got := tr.Label(own + 1); tt.stat2 == shellStat && got != "" {
				t.Errorf("label of another namespace %q with the host's unknown, want none", got)
			}
			out := logs.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, tt.wantLog) || !strings.Contains(out, "CAP_SYS_PTRACE") || !strings.Contains(out, "1/ns/net") {
				t.Errorf("want one %s line naming what failed and the fix; logged:\n%s", tt.wantLog, out)
			}
		})
	}
}

// TestHostNetNSHere: on the test machine, as root, the host's namespace is
// found, and it is the test's own (tests run in the host's).
func TestHostNetNSHere(t *testing.T) {
	nettest.RequireRoot(t)
	own, err := Inode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	h := FindHost("/proc", Inode)
	if h.ino != own {
		t.Fatalf("host namespace %d (from %q, PID 1: %v), want this process's %d", h.ino, h.from, h.err, own)
	}
}

func TestStatFlags(t *testing.T) {
	tests := []struct {
		name, stat string
		want       uint64
		ok         bool
	}{
		{"kthreadd", kthreaddStat, 2129984, true},
		{"name with spaces and parens", "77 (a) b) (c) S 1 77 77 0 -1 4194304 0 0\n", 4194304, true},
		{"short", "77 (x) S 1 2\n", 0, false},
		{"no name", "77 x S 1 2 3 4 5 6\n", 0, false},
		{"bad flags", "77 (x) S 1 77 77 0 -1 zz\n", 0, false},
		{"flags overflow", "77 (x) S 1 77 77 0 -1 18446744073709551616\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := statFlags(tt.stat)
			if got != tt.want || ok != tt.ok {
				t.Errorf("statFlags = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzStatFlags(f *testing.F) {
	f.Add(kthreaddStat)
	f.Add(shellStat)
	f.Add("1 ()) S")
	f.Fuzz(func(t *testing.T, s string) {
		if flags, ok := statFlags(s); !ok && flags != 0 {
			t.Fatalf("flags %d reported with ok false", flags)
		}
	})
}
