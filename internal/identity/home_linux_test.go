package identity

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
)

// inMountNS runs f on a thread of its own in a new, private mount
// namespace: what f mounts is seen by no one else, and goes with the
// thread when f returns.
func inMountNS(t *testing.T, f func()) {
	t.Helper()
	requireRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unsharing the mount namespace: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("making the mounts private: %v", err)
			return
		}
		f()
	}()
	<-done
}

// A mount point under a user's home is not crossed: the user could have
// mounted anything there (in the host's namespace, a FUSE filesystem).
func TestReadInHomeCrossesNoMount(t *testing.T) {
	rel := ".local/share/containers/storage/overlay-containers/containers.json"
	bothWalks(t, func(t *testing.T) {
		h := newFakeHost(t)
		h.mkdir(".local/share/containers")
		inMountNS(t, func() {
			if err := unix.Mount("tmpfs", h.homePath(".local/share/containers"), "tmpfs", 0, "mode=0755"); err != nil {
				t.Errorf("mounting a tmpfs: %v", err)
				return
			}
			h.writeHome(rel, storageJSON(rootlessID, "mounted"))
			name, err := (&Names{Root: h.root}).Lookup(model.Container{Runtime: "podman", ID: rootlessID}, h.user, time.Now().Add(time.Second))
			if name != "" || !errors.Is(err, errMount) {
				t.Errorf("Lookup = %q, %v; want nothing, %v", name, err, errMount)
			}
		})
	})
}

// A home that is itself a FUSE mount (a user may mount one on their home)
// is not read: its server could stall every read, and with it the worker.
// The server here never answers, not even the kernel's first request.
func TestReadInHomeRefusesAUserServedHome(t *testing.T) {
	h := newFakeHost(t)
	h.writeHome(".local/share/containers/storage/overlay-containers/containers.json", storageJSON(rootlessID, "x"))
	inMountNS(t, func() {
		dev, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("no FUSE here: %v", err)
			return
		}
		var once sync.Once
		closeDev := func() { once.Do(func() { unix.Close(dev) }) } // aborts the connection: stalled requests fail
		defer closeDev()
		opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other", dev, h.user.UID, h.user.UID)
		if err := unix.Mount("bwmon-test", h.homePath("."), "fuse", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			t.Errorf("mounting FUSE: %v", err)
			return
		}
		defer unix.Unmount(h.homePath("."), unix.MNT_DETACH)
		stalled := time.AfterFunc(2*time.Second, func() {
			t.Errorf("the lookup stalled on the FUSE home for 2 s")
			closeDev()
		})
		start := time.Now()
		_, err = readInHome(h.root, h.user, "a/b.json", maxConfigJSON, budget{until: start.Add(time.Second), now: time.Now})
		stalled.Stop()
		if !errors.Is(err, errUserMount) {
			t.Errorf("readInHome = %v, want %v", err, errUserMount)
		}
		if took := time.Since(start); took > quick {
			t.Errorf("readInHome took %v, want under %v", took, quick)
		}
	})
}
