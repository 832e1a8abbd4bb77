package sockbpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bwmon/bwmon/internal/nettest"
)

const holderEnv = "BWMON_SOCKBPF_HOLDER"

// TestHolder is the process TestKill9LeavesNothing kills: it opens a
// Counter, prints its programs' IDs and waits. It does nothing in a normal
// run.
func TestHolder(t *testing.T) {
	if os.Getenv(holderEnv) == "" {
		return
	}
	c, err := Open(Options{CgroupPath: os.Getenv(holderEnv + "_CGROUP")})
	if err != nil {
		fmt.Printf("error unsupported=%v %v\n", errors.Is(err, ErrUnsupported), err)
		os.Exit(1)
	}
	var ids []string
	for _, p := range c.programs() {
		info, err := p.Info()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		id, _ := info.ID()
		ids = append(ids, strconv.Itoa(int(id)))
	}
	fmt.Println("ready", strings.Join(ids, " "))
	if os.Getenv(holderEnv+"_EXIT") != "" {
		if err := c.Read(func(*Socket) {}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	time.Sleep(time.Minute)
	os.Exit(2)
}

// TestKill9LeavesNothing: a process holding the programs is killed with
// SIGKILL; the kernel then lists no link of its programs and no program
// attached to the cgroup, and the programs themselves are gone. A new
// Counter then opens cleanly.
func TestKill9LeavesNothing(t *testing.T) {
	nettest.RequireRoot(t)
	path, err := cgroupRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), holderEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var ids []ebpf.ProgramID
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "error" {
			t.Fatalf("holder: %s", sc.Text())
		}
		if len(f) > 0 && f[0] == "ready" {
			for _, s := range f[1:] {
				n, _ := strconv.Atoi(s)
				ids = append(ids, ebpf.ProgramID(n))
			}
			break
		}
	}
	if len(ids) != 5 {
		t.Fatalf("holder reported programs %v, want 5", ids)
	}
	if got := attached(t, path, ids); len(got) != 5 {
		t.Fatalf("before the kill, the kernel lists %d of the holder's programs attached to %s (%v), want 5", len(got), path, got)
	}
	if l := linksOf(t, ids); len(l) != 5 {
		t.Fatalf("before the kill, the kernel lists %d links of the holder's programs, want 5", len(l))
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder did not die")
	}
	// The kernel releases a dead process's files at once, the programs
	// after an RCU grace period.
	nettest.Eventually(t, 10*time.Second, func() error {
		if got := attached(t, path, ids); len(got) > 0 {
			return fmt.Errorf("after kill -9, programs %v are still attached to %s", got, path)
		}
		if l := linksOf(t, ids); len(l) > 0 {
			return fmt.Errorf("after kill -9, links %v remain", l)
		}
		for _, id := range ids {
			if p, err := ebpf.NewProgramFromID(id); err == nil {
				p.Close()
				return fmt.Errorf("after kill -9, program %d still exists", id)
			}
		}
		return nil
	})

	c := openCounter(t, Options{})
	if err := c.Read(func(*Socket) {}); err != nil {
		t.Fatal(err)
	}
}

// attached returns which of ids the kernel lists as attached to the
// cgroup at path, by link or by the legacy attachment, at any hook.
func attached(tb testing.TB, path string, ids []ebpf.ProgramID) []ebpf.ProgramID {
	tb.Helper()
	var got []ebpf.ProgramID
	for _, typ := range []ebpf.AttachType{ebpf.AttachCGroupInetSockCreate, ebpf.AttachCGroupSockOps,
		ebpf.AttachCGroupInetEgress, ebpf.AttachCGroupInetIngress, ebpf.AttachCgroupInetSockRelease} {
		r, err := link.QueryPrograms(link.QueryOptions{Target: cgroupFD(tb, path), Attach: typ})
		if err != nil {
			tb.Fatalf("querying the programs attached to %s: %v", path, err)
		}
		for _, p := range r.Programs {
			if slices.Contains(ids, p.ID) {
				got = append(got, p.ID)
			}
		}
	}
	return got
}

func cgroupFD(tb testing.TB, path string) int {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// linksOf returns the IDs of the links of programs ids.
func linksOf(tb testing.TB, ids []ebpf.ProgramID) []link.ID {
	tb.Helper()
	var got []link.ID
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			tb.Fatal(err)
		}
		if slices.Contains(ids, info.Program) {
			got = append(got, info.ID)
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("listing the kernel's links: %v", err)
	}
	return got
}
