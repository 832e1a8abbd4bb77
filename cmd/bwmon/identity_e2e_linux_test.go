package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host), or "".
func cgroup2Mount(t *testing.T) string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	return ""
}

// mountCgroup2 mounts the cgroup v2 hierarchy on a directory of its own,
// unmounted at cleanup, for a host that mounts only v1 (the kernel has v2
// all the same: every process is in its root, "0::/"). A kernel without it
// skips the test (nettest.Missing: CI fails).
func mountCgroup2(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		nettest.Missing(t, "no cgroup v2 hierarchy mounted, and mounting one on %s failed (%v): a kernel with cgroup v2 is needed to place a process in a container-shaped cgroup", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the cgroup v2 hierarchy on %s: %v", dir, err)
		}
	})
	return dir
}

// dockerLikeCgroup creates, in the cgroup v2 hierarchy, a cgroup whose path
// has the shape Docker's systemd driver gives a container:
// /bwmon-test-RAND/docker-ID.scope. It returns its directory, its path as
// /proc/PID/cgroup shows it, and the ID. It is removed at cleanup, once
// its processes are gone.
func dockerLikeCgroup(t *testing.T) (dir, path, id string) {
	t.Helper()
	mnt := cgroup2Mount(t)
	if mnt == "" {
		mnt = mountCgroup2(t)
	}
	b := make([]byte, 32)
	rand.Read(b)
	id = hex.EncodeToString(b)
	parent := filepath.Join(mnt, fmt.Sprintf("bwmon-test-%s", id[:8]))
	dir = filepath.Join(parent, "docker-"+id+".scope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// A process just reaped may leave the cgroup a moment later.
		deadline := time.Now().Add(5 * time.Second)
		for _, d := range []string{dir, parent} {
			for {
				err := os.Remove(d)
				if err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("removing cgroup %s: %v", d, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return dir, strings.TrimPrefix(dir, mnt), id
}

// runInCgroup runs path with args inside network namespace ns and cgroup
// dir: a shell moves itself into the cgroup, then execs; the generator
// inherits the cgroup before it opens any socket.
func runInCgroup(t *testing.T, dir, ns, path string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := `cg=$1; shift; echo $$ > "$cg/cgroup.procs" && exec "$@"`
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", script, "sh", dir, "ip", "netns", "exec", ns, path}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s in cgroup %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), dir, err, out)
	}
}

func TestIdentityEndToEnd(t *testing.T) {
	nettest.RequireRoot(t)
	dir, cgPath, id := dockerLikeCgroup(t)
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Peer)
	srv, _ := nettest.Generator(t, "idsrv")
	server := fmt.Sprintf("%s:5101", p.PeerIP4)
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", server)
	monitorSection := fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n", p.Watched)
	const n = 4 << 20
	want := model.Container{Runtime: "docker", ID: id}
	var sent uint64 // the reference bytes of the flows so far, both ways

	t.Run("group_by app: the app carries the container", func(t *testing.T) {
		a := startAgent(t, "group_by = \"app\"\n"+monitorSection)
		gen, app := nettest.Generator(t, "incontainer")
		runInCgroup(t, dir, p.Watched, gen, "-linger", "3s", "tcp-send", server, strconv.Itoa(n))
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5101))
		sent = orig + reply
		expectApp(t, a, app, reply, orig)
		got, _ := a.app(app)
		if !slices.Equal(got.Containers, []model.Container{want}) {
			t.Errorf("containers = %+v, want [%+v]", got.Containers, want)
		}
		if !slices.Equal(got.Cgroups, []string{cgPath}) {
			t.Errorf("cgroups = %v, want [%s]", got.Cgroups, cgPath)
		}
		if unit := "docker-" + id + ".scope"; !slices.Equal(got.Units, []string{unit}) {
			t.Errorf("units = %v, want [%s]", got.Units, unit)
		}
		if !slices.Equal(got.Users, []model.UserRef{{UID: 0, Name: "root"}}) {
			t.Errorf("users = %+v, want root", got.Users)
		}
	})

	t.Run("group_by container: grouped under the short ID", func(t *testing.T) {
		a := startAgent(t, "group_by = \"container\"\n"+monitorSection)
		gen, app := nettest.Generator(t, "incontainer")
		runInCgroup(t, dir, p.Watched, gen, "-linger", "3s", "tcp-send", server, strconv.Itoa(n))
		// Out of the container, in the same namespace: the host group.
		host, _ := nettest.Generator(t, "onhost")
		nettest.RunOK(t, 30*time.Second, p.Watched, host, "-linger", "3s", "tcp-send", server, strconv.Itoa(n/4))
		orig, reply := nettest.ConntrackBytes(t, p.Peer, nettest.ToPort(protoTCP, 5101))
		// This agent saw only the flows since it started; the host's
		// flow is the last, about a fifth of the new bytes.
		newBytes := orig + reply - sent
		short := id[:12]
		var ctr, hst model.AppUsage
		nettest.Eventually(t, 10*time.Second, func() error {
			var ok1, ok2 bool
			ctr, ok1 = a.app(short)
			hst, ok2 = a.app("host")
			if !ok1 || !ok2 {
				b, _ := json.Marshal(a.snapshot())
				return fmt.Errorf("want groups %q and host; last tick: %s", short, b)
			}
			total := ctr.BytesIn + ctr.BytesOut + hst.BytesIn + hst.BytesOut
			if !within(total, newBytes, 0.05) {
				return fmt.Errorf("container %d + host %d bytes, want %d in all", ctr.BytesIn+ctr.BytesOut, hst.BytesIn+hst.BytesOut, newBytes)
			}
			return nil
		})
		if _, ok := a.app(app); ok {
			t.Errorf("the executable %s is a group of its own with group_by = \"container\"", app)
		}
		if !slices.Equal(ctr.Containers, []model.Container{want}) || len(hst.Containers) != 0 {
			t.Errorf("containers: %s %+v, host %+v; want [%+v] and none", short, ctr.Containers, hst.Containers, want)
		}
		if c, h := ctr.BytesOut, hst.BytesOut; c < 3*h || !within(c+h, uint64(n+n/4), 0.05) {
			t.Errorf("bytes out: container %d, host %d; want about %d and %d", c, h, n, n/4)
		}
		t.Logf("accuracy group_by container: %d bytes of %d in the container and host groups (%.4f)",
			ctr.BytesIn+ctr.BytesOut+hst.BytesIn+hst.BytesOut, newBytes, ratio(ctr.BytesIn+ctr.BytesOut+hst.BytesIn+hst.BytesOut, newBytes))
	})
}
