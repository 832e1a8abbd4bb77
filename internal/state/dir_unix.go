//go:build unix

package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// stateDir is an open state directory. The store's files are opened
// relative to it (openat) and never through a symlink, so what the checks
// of openDir saw is what the store writes in, whatever happens to the
// directory's path afterwards.
type stateDir struct {
	path string
	f    *os.File // the directory, O_RDONLY|O_DIRECTORY
}

// openDir opens the state directory at path. With check, it must be safe
// for the agent to write in: a directory owned by the agent's user or root
// that neither group nor others may write. A symlink in its place (as
// systemd's StateDirectory= makes with DynamicUser=yes) is followed only
// when nobody else could have planted it: the link and the directory
// holding it belong to root or the agent's user and the holder is writable
// by no one else. Readers (bwmon report) open without check.
func openDir(path string, check bool) (*stateDir, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	nofollow := 0
	if check {
		nofollow = unix.O_NOFOLLOW
	}
	fd, err := unix.Open(path, flags|nofollow, 0)
	if check && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)) {
		if lerr := trustedLink(path); lerr != nil {
			return nil, lerr
		}
		fd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if check {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
		if err := trustedDir(path, &st); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return &stateDir{path: path, f: os.NewFile(uintptr(fd), path)}, nil
}

// trusted reports whether uid is the agent's user or root.
func trusted(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

// trustedDir checks the state directory's owner and mode.
func trustedDir(path string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory: set [state] dir to a directory", path)
	}
	if !trusted(st.Uid) {
		return fmt.Errorf("state directory %s belongs to uid %d, not to bwmon's user (uid %d) or root: another user could plant files in it; run chown %d %s, or set [state] dir to a directory of bwmon's own",
			path, st.Uid, os.Geteuid(), os.Geteuid(), path)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("state directory %s may be written by its group or others (mode %04o): they could plant files in it; run chmod 0700 %s, or set [state] dir to a directory of bwmon's own",
			path, st.Mode&0o7777, path)
	}
	return nil
}

// trustedLink checks a symlink given as the state directory: it and the
// directory holding it must be beyond the reach of other users.
func trustedLink(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return fmt.Errorf("%s is not a directory: set [state] dir to a directory", path)
	}
	target, _ := filepath.EvalSymlinks(path)
	refuse := func(why string) error {
		return fmt.Errorf("state directory %s is a symlink (to %q) %s, so another user could have planted it: set [state] dir to the directory itself, or make the link and the directory holding it belong to root or bwmon's user and be writable by no one else",
			path, target, why)
	}
	if !trusted(st.Uid) {
		return refuse(fmt.Sprintf("owned by uid %d", st.Uid))
	}
	parent := filepath.Dir(path)
	var pst unix.Stat_t
	if err := unix.Stat(parent, &pst); err != nil {
		return &fs.PathError{Op: "stat", Path: parent, Err: err}
	}
	if !trusted(pst.Uid) || pst.Mode&0o022 != 0 {
		return refuse(fmt.Sprintf("in %s (uid %d, mode %04o)", parent, pst.Uid, pst.Mode&0o7777))
	}
	return nil
}

// openFile opens the file name in the directory without following a
// symlink and without blocking on a FIFO; it must be a regular file. Its
// signature is bbolt's Options.OpenFile (the path is ignored).
func (d *stateDir) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	path := filepath.Join(d.path, name)
	fd, err := unix.Openat(int(d.f.Fd()), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, uint32(perm.Perm()))
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink: bwmon follows none in its state directory; remove it", path)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file: remove it", path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// boltOpener returns d.openFile for name as bbolt's Options.OpenFile.
func (d *stateDir) boltOpener(name string) func(string, int, os.FileMode) (*os.File, error) {
	return func(_ string, flag int, perm os.FileMode) (*os.File, error) { return d.openFile(name, flag, perm) }
}

// exists reports whether the directory holds name (a symlink counts).
func (d *stateDir) exists(name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(d.f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &fs.PathError{Op: "stat", Path: filepath.Join(d.path, name), Err: err}
	}
	return true, nil
}

// rename renames from to to within the directory (a symlink is renamed,
// not followed).
func (d *stateDir) rename(from, to string) error {
	if err := unix.Renameat(int(d.f.Fd()), from, int(d.f.Fd()), to); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(d.path, from), New: filepath.Join(d.path, to), Err: err}
	}
	return nil
}

// remove removes the file name from the directory.
func (d *stateDir) remove(name string) error {
	if err := unix.Unlinkat(int(d.f.Fd()), name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// names lists the directory's entries.
func (d *stateDir) names() ([]string, error) {
	fd, err := unix.Openat(int(d.f.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// lock takes the directory's lock file for the life of a Store, without
// waiting: a second agent on the same directory would overwrite the first
// one's totals with its own. The lock file must be a regular file of the
// agent's own with one link: a symlink or a hard link planted there is
// refused, never truncated.
func (d *stateDir) lock() (*os.File, error) {
	path := filepath.Join(d.path, LockName)
	fd, err := unix.Openat(int(d.f.Fd()), LockName, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symlink: bwmon follows none in its state directory; remove it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening lock file: %w", &fs.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		unix.Close(fd)
		return nil, fmt.Errorf("lock file %s is not a regular file of bwmon's own with one link (uid %d, %d links): remove it", path, st.Uid, st.Nlink)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s): stop it, or give this one another [state] dir", ErrLocked, pidText(b[:n]))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// pidText is the lock file's pid, or "unknown" when it holds no number.
func pidText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(s); err != nil {
		return "unknown"
	}
	return s
}

// Close closes the directory.
func (d *stateDir) Close() error { return d.f.Close() }
