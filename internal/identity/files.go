package identity

import (
	"errors"
	"time"
)

// What one read may take, by kind of file. A runtime's file larger than its
// cap is refused whole (JSON cut short names nothing); a /proc file is read
// up to its cap and the rest ignored.
const (
	// maxStorageJSON caps a containers/storage containers.json (Podman,
	// CRI-O): about 4,000 containers.
	maxStorageJSON = 4 << 20
	// maxConfigJSON caps one container's config file: Docker's
	// config.v2.json, CRI-O's userdata/config.json (an OCI spec whose
	// annotations Kubernetes bounds at 256 KiB).
	maxConfigJSON = 1 << 20
	// maxDaemonJSON caps /etc/docker/daemon.json.
	maxDaemonJSON = 64 << 10
	// maxPasswd caps /etc/passwd (about 150,000 accounts); a longer line
	// than maxPasswdLine is skipped.
	maxPasswd     = 16 << 20
	maxPasswdLine = 64 << 10
	// maxProcCgroup caps what is read of /proc/PID/cgroup: the kernel
	// writes at most PATH_MAX (4 KiB) a hierarchy.
	maxProcCgroup = 64 << 10
	// maxProcStatus caps what is read of /proc/PID/status: its Uid line
	// is within the first few hundred bytes.
	maxProcStatus = 8 << 10
	// maxMountInfo caps what is read of /proc/self/mountinfo, read only
	// when a rootless user's home is a mount point.
	maxMountInfo = 4 << 20
	// maxLogLinks caps the entries of /var/log/containers read for one
	// lookup.
	maxLogLinks = 16384
	// maxCgroupLen is the longest cgroup path handed out (the kernel's
	// PATH_MAX).
	maxCgroupLen = 4096
	// lookupTimeout bounds the reads of one container's name lookup; it
	// is checked between files and between 64 KiB chunks of a file.
	lookupTimeout = time.Second
)

// Why a file was refused. They are wrapped with the file's path.
var (
	errNotRegular = errors.New("not a regular file (a FIFO, device, socket or directory is never read)")
	errNotDir     = errors.New("not a directory")
	errTooLarge   = errors.New("larger than its cap")
	errOwner      = errors.New("owned by a user other than root, bwmon's own or the home's owner")
	errSymlink    = errors.New("a symbolic link (not followed in a user's home)")
	errMount      = errors.New("crosses a mount point (not followed in a user's home)")
	errUserMount  = errors.New("on a filesystem a user serves (FUSE): not read, it could stall")
	errDeadline   = errors.New("the lookup ran out of time")
	errWouldBlock = errors.New("the read would block")
)

// ErrNotSupported is returned where this operating system cannot read a
// process's identity.
var ErrNotSupported = errors.New("process identity is not supported")

// Home is a rootless user's home: where their containers keep their files,
// and who may own them.
type Home struct {
	// Dir is the home directory as /etc/passwd gives it (absolute); ""
	// for none.
	Dir string
	// UID is the user's: files and directories under Dir are read only
	// when this user, root or bwmon's own user owns them.
	UID int
}

// budget is the time left to a lookup.
type budget struct {
	until time.Time // zero: no deadline
	now   func() time.Time
}

// over reports whether the deadline passed.
func (b budget) over() bool {
	return !b.until.IsZero() && b.now != nil && !b.now().Before(b.until)
}
