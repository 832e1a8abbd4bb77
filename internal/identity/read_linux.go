package identity

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Every file is opened with O_NONBLOCK (a FIFO opens without waiting for a
// writer), O_NOFOLLOW (its last component is not followed) and O_CLOEXEC,
// then fstat'ed: only a regular file of trusted owner and of at most its cap
// is read, in chunks, until the lookup's deadline. home_linux.go walks a
// user's home.

const (
	openFile = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY
	// openDir opens a directory to walk through, not to read; without
	// O_DIRECTORY, so that a symbolic link is told apart (by type).
	openDir = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	// readChunk is how much one read(2) takes; the deadline is checked
	// between chunks.
	readChunk = 64 << 10
)

// euid is bwmon's own user: its files are trusted as root's are.
var euid = uint32(os.Geteuid())

// trusted reports whether a file of owner uid may be read: root's, bwmon's
// own user's, or (user >= 0) that user's.
func trusted(uid uint32, user int) bool {
	return uid == 0 || uid == euid || (user >= 0 && uint64(uid) == uint64(user))
}

// fileInfo is what statFD tells of an open file.
type fileInfo struct {
	mode uint32 // S_IFMT bits
	uid  uint32
	size int64
	dev  uint64
	// mountRoot: the file is the root of a mount; known says whether the
	// kernel (5.8+) told.
	mountRoot, mountRootKnown bool
}

// statFD stats fd without asking its filesystem (AT_STATX_DONT_SYNC: a
// FUSE server is not consulted), falling back to fstat before Linux 4.11.
func statFD(fd int) (fileInfo, error) {
	var sx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC|unix.AT_SYMLINK_NOFOLLOW,
		unix.STATX_TYPE|unix.STATX_UID|unix.STATX_SIZE, &sx)
	if err == nil {
		return fileInfo{
			mode: uint32(sx.Mode) & unix.S_IFMT, uid: sx.Uid, size: int64(sx.Size),
			dev:            unix.Mkdev(sx.Dev_major, sx.Dev_minor),
			mountRoot:      sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0,
			mountRootKnown: sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0,
		}, nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return fileInfo{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileInfo{}, err
	}
	return fileInfo{mode: st.Mode & unix.S_IFMT, uid: st.Uid, size: st.Size, dev: st.Dev}, nil
}

// openRegular opens path as a file to read (never following its last
// component, never waiting on a FIFO) and checks that it is a regular file
// of at most limit bytes owned by a trusted user (user: see trusted).
func openRegular(path string, limit int64, user int) (int, fileInfo, error) {
	fd, err := openRetry(func() (int, error) { return unix.Open(path, openFile, 0) })
	if err != nil {
		return -1, fileInfo{}, pathErr(path, err)
	}
	fi, err := checkRegular(fd, path, limit, user)
	if err != nil {
		unix.Close(fd)
		return -1, fileInfo{}, err
	}
	return fd, fi, nil
}

// checkRegular checks what openRegular promises of fd.
func checkRegular(fd int, path string, limit int64, user int) (fileInfo, error) {
	fi, err := statFD(fd)
	switch {
	case err != nil:
		return fi, fmt.Errorf("reading the status of %s: %w", path, err)
	case fi.mode != unix.S_IFREG:
		return fi, fmt.Errorf("%s: %w", path, errNotRegular)
	case !trusted(fi.uid, user):
		return fi, fmt.Errorf("%s (uid %d): %w", path, fi.uid, errOwner)
	case fi.size > limit:
		return fi, fmt.Errorf("%s (%d bytes, cap %d): %w", path, fi.size, limit, errTooLarge)
	}
	return fi, nil
}

// readTrusted reads a runtime's file outside any user's home: a regular
// file owned by root or bwmon's user, of at most limit bytes, before b
// runs out.
func readTrusted(path string, limit int64, b budget) ([]byte, error) {
	fd, fi, err := openRegular(path, limit, -1)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readWhole(fd, path, fi.size, limit, b)
}

// readWhole reads fd to its end: more than limit bytes (the file grew) is
// refused.
func readWhole(fd int, path string, size, limit int64, b budget) ([]byte, error) {
	data, over, err := readUpTo(fd, size, limit, b)
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", path, err)
	case over:
		return nil, fmt.Errorf("%s (more than %d bytes): %w", path, limit, errTooLarge)
	}
	return data, nil
}

// readUpTo reads fd until its end or limit bytes; over reports that there
// was more. size is a hint (0 for procfs).
func readUpTo(fd int, size, limit int64, b budget) (data []byte, over bool, err error) {
	data = make([]byte, 0, min(max(size, 1024), limit)+1)
	for {
		if b.over() {
			return nil, false, errDeadline
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // grow
		}
		end := min(cap(data), len(data)+readChunk, int(limit)+1)
		n, err := unix.Read(fd, data[len(data):end])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil, false, errWouldBlock
		case err != nil:
			return nil, false, err
		case n == 0:
			return data, false, nil
		}
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return data[:limit], true, nil
		}
	}
}

// readProc reads up to limit bytes of a /proc file (or of a testdata
// tree's stand-in): a regular file, never a FIFO; over reports that it was
// cut.
func readProc(path string, limit int64) (data []byte, over bool, err error) {
	fd, err := openRetry(func() (int, error) { return unix.Open(path, openFile, 0) })
	if err != nil {
		return nil, false, pathErr(path, err)
	}
	defer unix.Close(fd)
	fi, err := statFD(fd)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("reading the status of %s: %w", path, err)
	case fi.mode != unix.S_IFREG:
		return nil, false, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	data, over, err = readUpTo(fd, 0, limit, budget{})
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, over, nil
}

// listDir returns up to limit names of the directory path (owned by root
// or bwmon's user), before b runs out.
func listDir(path string, limit int, b budget) ([]string, error) {
	fd, err := openRetry(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, pathErr(path, err)
	}
	defer unix.Close(fd)
	fi, err := statFD(fd)
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the status of %s: %w", path, err)
	case !trusted(fi.uid, -1):
		return nil, fmt.Errorf("%s (uid %d): %w", path, fi.uid, errOwner)
	}
	buf := make([]byte, 32<<10)
	var names []string
	for len(names) < limit {
		if b.over() {
			return nil, errDeadline
		}
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", path, err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], limit-len(names), names)
	}
	return names, nil
}

// openRetry retries an open interrupted by a signal.
func openRetry(open func() (int, error)) (int, error) {
	for {
		fd, err := open()
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// pathErr wraps an open's error with its path, naming what the refusals
// mean.
func pathErr(path string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		err = errSymlink
	case errors.Is(err, unix.EXDEV):
		err = errMount
	case errors.Is(err, unix.ENOTDIR):
		err = errNotDir
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}
