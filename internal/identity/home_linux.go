package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Under a user's home no symbolic link and no mount point is followed at
// all: each component is opened from its parent with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV), or, where
// the kernel has no openat2 (before 5.6), with openat(O_NOFOLLOW) and a
// device check; and each must be owned by the home's user, root or bwmon's
// user.

// mountInfo lists the mounts this thread sees (all of bwmon's threads share
// one mount namespace; a test's locked thread may have its own).
const mountInfo = "/proc/thread-self/mountinfo"

// noOpenat2 is set once openat2 proved missing (ENOSYS, or EPERM from a
// seccomp filter that predates it): the walk then uses openat.
var noOpenat2 atomic.Bool

// readInHome reads the file rel (slash-separated, relative) under h's home
// (under root): no symbolic link or mount point is followed below the
// home, the home, each directory and the file must be owned by h's user,
// root or bwmon's user, and the file must be a regular one of at most
// limit bytes. A home that is itself the root of a user-served filesystem
// (FUSE) is not read.
func readInHome(root string, h Home, rel string, limit int64, b budget) ([]byte, error) {
	dir := filepath.Join(root, h.Dir)
	home, err := openRetry(func() (int, error) {
		return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, pathErr(dir, err)
	}
	defer unix.Close(home)
	top, err := statFD(home)
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the status of %s: %w", dir, err)
	case !trusted(top.uid, h.UID):
		return nil, fmt.Errorf("%s (uid %d): %w", dir, top.uid, errOwner)
	}
	if !top.mountRootKnown || top.mountRoot {
		if err := checkNotUserServed(home, dir); err != nil {
			return nil, err
		}
	}
	parts := strings.Split(rel, "/")
	cur, path := home, dir
	defer func() {
		if cur != home {
			unix.Close(cur)
		}
	}()
	for _, name := range parts[:len(parts)-1] {
		path = filepath.Join(path, name)
		next, kernelChecked, err := openBeneath(cur, name, openDir)
		if err != nil {
			return nil, pathErr(path, err)
		}
		if cur != home {
			unix.Close(cur)
		}
		cur = next
		fi, err := statFD(cur)
		switch {
		case err != nil:
			return nil, fmt.Errorf("reading the status of %s: %w", path, err)
		case fi.mode == unix.S_IFLNK:
			return nil, fmt.Errorf("%s: %w", path, errSymlink)
		case fi.mode != unix.S_IFDIR:
			return nil, fmt.Errorf("%s: %w", path, errNotDir)
		case !kernelChecked && fi.dev != top.dev:
			return nil, fmt.Errorf("%s: %w", path, errMount)
		case !trusted(fi.uid, h.UID):
			return nil, fmt.Errorf("%s (uid %d): %w", path, fi.uid, errOwner)
		}
	}
	path = filepath.Join(path, parts[len(parts)-1])
	if b.over() {
		return nil, errDeadline
	}
	fd, kernelChecked, err := openBeneath(cur, parts[len(parts)-1], openFile)
	if err != nil {
		return nil, pathErr(path, err)
	}
	defer unix.Close(fd)
	fi, err := checkRegular(fd, path, limit, h.UID)
	if err != nil {
		return nil, err
	}
	if !kernelChecked && fi.dev != top.dev {
		return nil, fmt.Errorf("%s: %w", path, errMount)
	}
	return readWhole(fd, path, fi.size, limit, b)
}

// openBeneath opens the single component name of directory dirfd without
// following a symbolic link. kernelChecked reports that the kernel also
// refused to cross a mount point (openat2's RESOLVE_NO_XDEV); otherwise the
// caller compares devices, which also refuses a btrfs subvolume.
func openBeneath(dirfd int, name string, flags int) (fd int, kernelChecked bool, err error) {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return -1, false, fmt.Errorf("%q is not a file name", name)
	}
	if !noOpenat2.Load() {
		how := &unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
			unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV}
		fd, err := openRetry(func() (int, error) { return unix.Openat2(dirfd, name, how) })
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fd, true, err
		}
		noOpenat2.Store(true)
	}
	// Before openat2: O_NOFOLLOW refuses a symbolic link (with O_PATH it
	// opens the link itself, which the caller's type check refuses).
	fd, err = openRetry(func() (int, error) { return unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW, 0) })
	return fd, false, err
}

// checkNotUserServed refuses the home open as fd (at dir) when the mount it
// is the root of is a FUSE filesystem: a user's FUSE server could stall
// every read of it, and so the lookup worker.
func checkNotUserServed(fd int, dir string) error {
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fmt.Errorf("finding where %s is: %w", dir, err)
	}
	data, over, err := readProc(mountInfo, maxMountInfo)
	if err == nil && over {
		err = fmt.Errorf("%s (more than %d bytes): %w", mountInfo, maxMountInfo, errTooLarge)
	}
	if err != nil {
		return fmt.Errorf("checking the filesystem of %s: %w", dir, err)
	}
	fstype := ""
	for _, m := range ParseMountInfo(string(data)) {
		if m.Point == real {
			fstype = m.FSType // the last mount on a point is the one seen
		}
	}
	if userServed(fstype) {
		return fmt.Errorf("%s (%s): %w", dir, fstype, errUserMount)
	}
	return nil
}
