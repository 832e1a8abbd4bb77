package netns

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// NS is the network namespace a monitor watches: the agent's own, or one
// named in the configuration or found by a Tracker. bwmon itself stays in
// the host's namespaces (the proc connector works only there) and reaches
// into the watched one by file descriptor.
type NS struct {
	name   string
	handle vnetns.NsHandle // -1: the agent's own
}

// Open opens the namespace spec names: "" for the agent's own, a name
// under /run/netns (as `ip netns add` makes), or a path such as
// /proc/PID/ns/net.
func Open(spec string) (*NS, error) {
	if spec == "" {
		return &NS{handle: -1}, nil
	}
	path := spec
	if !strings.ContainsRune(spec, '/') {
		path = "/run/netns/" + spec
	}
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %q: %w (name one from `ip netns list`, or a path like /proc/PID/ns/net)", spec, err)
	}
	return &NS{name: spec, handle: h}, nil
}

// Name is how the namespace was named ("" for the agent's own).
func (n *NS) Name() string { return n.name }

// FD is the namespace's descriptor for netlink.Config.NetNS (0: own).
func (n *NS) FD() int {
	if n.handle < 0 {
		return 0
	}
	return int(n.handle)
}

// Close closes the namespace's descriptor. It does not block and is safe
// more than once.
func (n *NS) Close() error {
	if n.handle >= 0 {
		return n.handle.Close()
	}
	return nil
}

// Do runs f on a thread that is in the namespace.
func (n *NS) Do(f func() error) error {
	if n.handle < 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked if it cannot return to its
		// namespace, so the runtime retires it.
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := vnetns.Set(n.handle); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", n.name, err)
			return
		}
		err = f()
		if vnetns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Addresses lists the addresses of the namespace's interfaces.
func (n *NS) Addresses() ([]netip.Addr, error) {
	h := n.handle
	if h < 0 {
		h = vnetns.None()
	}
	return addrsAt(h)
}

// addrsAt lists, by rtnetlink, the addresses of the interfaces of the
// namespace h (vnetns.None(): the caller's).
func addrsAt(h vnetns.NsHandle) ([]netip.Addr, error) {
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink: %w", err)
	}
	defer nl.Close()
	list, err := nl.AddrList(nil, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// ReadSysctl reads /proc/sys/KEY (dots as slashes) in the namespace.
func (n *NS) ReadSysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// WriteSysctl writes /proc/sys/KEY (dots as slashes) in the namespace.
func (n *NS) WriteSysctl(key, value string) error {
	return n.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
}

// Inode identifies the namespace (as /proc/PID/ns/net shows it).
func (n *NS) Inode() (uint64, error) {
	if n.handle < 0 {
		return Inode("/proc/thread-self/ns/net")
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(n.handle), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Inode returns the inode of the namespace file at path.
func Inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// DialDiag opens a sock_diag socket in the namespace (sockets.Source).
func (n *NS) DialDiag() (*sockets.Diag, error) { return sockets.DialDiag(n.FD()) }

// ReadTable reads /proc/net/NAME as the namespace sees it, from a thread
// that entered it (sockets.Source).
func (n *NS) ReadTable(name string) ([]sockets.Socket, error) {
	var rows []sockets.Socket
	err := n.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/" + name)
		if err != nil {
			return err
		}
		defer f.Close()
		rows, err = sockets.ParseProcNet(f)
		return err
	})
	return rows, err
}

const (
	// nsGetUserNS is NS_GET_USERNS (_IO(0xb7, 0x1)): a descriptor of the
	// user namespace that owns a namespace.
	nsGetUserNS = 0xb701
	// initUserInode is the inode of the initial user namespace
	// (PROC_USER_INIT_INO, fixed since Linux 3.8).
	initUserInode = 0xEFFFFFFD
)

// UserOwned reports whether the namespace belongs to a user namespace
// other than the initial one: one an ordinary user made (`unshare -rn`,
// rootless containers), where bwmon is a guest.
func (n *NS) UserOwned() (bool, error) {
	fd := int(n.handle)
	if n.handle < 0 {
		h, err := vnetns.Get()
		if err != nil {
			return false, err
		}
		defer h.Close()
		fd = int(h)
	}
	return userOwnedFD(fd)
}

// userOwnedFD is UserOwned for a namespace descriptor.
func userOwnedFD(fd int) (bool, error) {
	u, err := unix.IoctlRetInt(fd, nsGetUserNS)
	if err != nil {
		return false, fmt.Errorf("reading the owner of a network namespace (NS_GET_USERNS): %w", err)
	}
	defer unix.Close(u)
	var st unix.Stat_t
	if err := unix.Fstat(u, &st); err != nil {
		return false, fmt.Errorf("reading the owner of a network namespace: %w", err)
	}
	return st.Ino != initUserInode, nil
}
