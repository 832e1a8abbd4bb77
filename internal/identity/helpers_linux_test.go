package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fakeHost is a host's files under t.TempDir(): /etc/passwd with one
// ordinary user, that user's home, and a proc tree.
type fakeHost struct {
	t    *testing.T
	root string // stands for "/"
	proc string // stands for "/proc"
	user Home   // the ordinary user: Dir is relative to root
}

// newFakeHost builds a fake host. When the test runs as root the user is
// UID 1234 and owns its home, as a real rootless user does; otherwise it is
// the test's own user.
func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	uid := os.Getuid()
	if uid == 0 {
		uid = 1234
	}
	h := &fakeHost{t: t, root: t.TempDir(), proc: t.TempDir(), user: Home{Dir: "/home/bob", UID: uid}}
	h.write("etc/passwd", fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nbob:x:%d:%d::/home/bob:/bin/sh\n", uid, uid))
	h.mkdir(".")
	return h
}

// homePath is rel under the user's home.
func (h *fakeHost) homePath(rel string) string {
	return filepath.Join(h.root, h.user.Dir, rel)
}

// mkdir makes rel under the user's home, owned by the user.
func (h *fakeHost) mkdir(rel string) {
	h.t.Helper()
	dir := h.homePath(rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	h.chownHome()
}

// chownHome gives everything under the home to the user (when root).
func (h *fakeHost) chownHome() {
	h.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	err := filepath.Walk(filepath.Join(h.root, h.user.Dir), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, h.user.UID, h.user.UID)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// write writes a file under root (rel) with its directories.
func (h *fakeHost) write(rel, content string) {
	h.t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// writeHome writes a file under the user's home, owned by the user.
func (h *fakeHost) writeHome(rel, content string) {
	h.t.Helper()
	h.write(filepath.Join(h.user.Dir, rel), content)
	h.chownHome()
}

// process writes /proc/PID/cgroup and status of a process of uid in
// cgroup, and returns its /proc directory.
func (h *fakeHost) process(pid int, cgroup string, uid int) string {
	h.t.Helper()
	dir := filepath.Join(h.proc, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::"+cgroup+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	status := fmt.Sprintf("Name:\tx\nUid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return dir
}

// rootlessCgroup is the cgroup of a rootless Podman container of the user.
func (h *fakeHost) rootlessCgroup(id string) string {
	return fmt.Sprintf("/user.slice/user-%d.slice/user@%d.service/user.slice/libpod-%s.scope/container", h.user.UID, h.user.UID, id)
}

// storageJSON is a containers.json that names container id.
func storageJSON(id, name string) string {
	return `[{"id":"` + id + `","names":["` + name + `"]}]`
}

// requireRoot skips a test that needs root, unless under CI, where it
// fails: CI runs as root (nettest.Missing).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		nettest.Missing(t, "needs root: gives files to other users and mounts in a mount namespace of its own (run the tests as root)")
	}
}
