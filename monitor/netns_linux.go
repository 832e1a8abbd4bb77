package monitor

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// netNS is the network namespace a monitor watches: the agent's own, or one
// named in the configuration. bwmon itself stays in the host's namespaces
// (the proc connector works only there) and reaches into the watched one by
// file descriptor: netlink sockets are opened in it, and the few files that
// follow the reader's namespace (/proc/thread-self/net/*, /proc/sys/net/*)
// are read from a thread that has entered it.
type netNS struct {
	name   string
	handle netns.NsHandle // -1: the agent's own
}

// openNetNS opens the namespace spec names: "" for the agent's own, a name
// under /run/netns (as `ip netns add` makes), or a path such as
// /proc/PID/ns/net.
func openNetNS(spec string) (*netNS, error) {
	if spec == "" {
		return &netNS{handle: -1}, nil
	}
	path := spec
	if !strings.ContainsRune(spec, '/') {
		path = "/run/netns/" + spec
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %q: %w (name one from `ip netns list`, or a path like /proc/PID/ns/net)", spec, err)
	}
	return &netNS{name: spec, handle: h}, nil
}

// fd is the namespace's descriptor for netlink.Config.NetNS (0: own).
func (n *netNS) fd() int {
	if n.handle < 0 {
		return 0
	}
	return int(n.handle)
}

func (n *netNS) Close() error {
	if n.handle >= 0 {
		return n.handle.Close()
	}
	return nil
}

// do runs f on a thread that is in the namespace.
func (n *netNS) do(f func() error) error {
	if n.handle < 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked if it cannot return to its
		// namespace, so the runtime retires it.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.handle); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", n.name, err)
			return
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// DialDiag opens a sock_diag socket in the namespace (sockets.Source).
func (n *netNS) DialDiag() (*sockets.Diag, error) { return sockets.DialDiag(n.fd()) }

// ReadTable reads /proc/net/NAME as the namespace sees it, from a thread
// that entered it (sockets.Source).
func (n *netNS) ReadTable(name string) ([]sockets.Socket, error) {
	var rows []sockets.Socket
	err := n.do(func() error {
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

// addresses lists the addresses of the namespace's interfaces.
func (n *netNS) addresses() ([]netip.Addr, error) {
	h, err := netlink.NewHandleAt(n.handleOrNone())
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink: %w", err)
	}
	defer h.Close()
	list, err := h.AddrList(nil, unix.AF_UNSPEC)
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

func (n *netNS) handleOrNone() netns.NsHandle {
	if n.handle < 0 {
		return netns.None()
	}
	return n.handle
}

// readSysctl and writeSysctl access /proc/sys/KEY (dots as slashes) in the
// namespace.
func (n *netNS) readSysctl(key string) (string, error) {
	var v string
	err := n.do(func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

func (n *netNS) writeSysctl(key, value string) error {
	return n.do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
}

// inode identifies the namespace (as /proc/PID/ns/net shows it).
func (n *netNS) inode() (uint64, error) {
	if n.handle < 0 {
		return nsInode("/proc/thread-self/ns/net")
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(n.handle), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

const (
	// nsGetUserNS is NS_GET_USERNS (_IO(0xb7, 0x1)): a descriptor of the
	// user namespace that owns a namespace.
	nsGetUserNS = 0xb701
	// initUserInode is the inode of the initial user namespace
	// (PROC_USER_INIT_INO, fixed since Linux 3.8).
	initUserInode = 0xEFFFFFFD
)

// userOwned reports whether the namespace belongs to a user namespace
// other than the initial one: one an ordinary user made (`unshare -rn`,
// rootless containers), where bwmon is a guest.
func (n *netNS) userOwned() (bool, error) {
	fd := int(n.handle)
	if n.handle < 0 {
		h, err := netns.Get()
		if err != nil {
			return false, err
		}
		defer h.Close()
		fd = int(h)
	}
	return userOwnedFD(fd)
}

// userOwnedFD is userOwned for a namespace descriptor.
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
