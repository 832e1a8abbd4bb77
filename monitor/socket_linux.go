package monitor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/netns"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
)

// Socket is the socket monitor: it counts the bytes of every local socket
// of the watched namespace (of every namespace with namespaces = "all")
// from the kernel's per-socket counters (package sockbpf: cgroup eBPF
// programs that record each socket's owner when it is created), and
// claims their ends, so that the conntrack monitor leaves those bytes to
// it (claims.go). The conntrack monitor that made it calls Collect first
// in each tick, then reads its own tables.
type Socket struct {
	name string
	src  socketSource
	ctr  *socketCounter
	live atomic.Int64 // sockets counted now (for Stats from any goroutine)
	// lateUnchecked is socketCounter.lateUnchecked, for Stats.
	lateUnchecked atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// newSocket makes the socket monitor of o; it owns o.src.
func newSocket(o socketOptions) *Socket {
	return &Socket{name: o.name, src: o.src, ctr: newSocketCounter(o)}
}

// Name implements aggregator.Monitor.
func (m *Socket) Name() string { return m.name }

// Collect implements aggregator.Monitor: it adds to c what each socket's
// owner moved since the last call. It runs on one goroutine.
func (m *Socket) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	err := m.ctr.collect(c, now)
	m.live.Store(int64(m.ctr.live))
	m.lateUnchecked.Store(m.ctr.lateUnchecked)
	return err
}

// Stats implements aggregator.Monitor.
func (m *Socket) Stats() model.MonitorStats {
	st := m.src.Stats()
	return model.MonitorStats{CountMode: CountSocket, Sockets: int(m.live.Load()), SocketsMapFull: st.MapFull, SocketsRingLost: st.RingLost,
		SocketsLateUnchecked: m.lateUnchecked.Load()}
}

// Close implements aggregator.Monitor: it detaches the kernel's programs.
// It is safe to call more than once.
func (m *Socket) Close() error {
	m.closeOnce.Do(func() {
		m.closeErr = m.src.Close()
		if l := m.ctr.o.late; l != nil {
			_ = l.Close()
		}
	})
	return m.closeErr
}

// openSockets loads the kernel's per-socket counters for a monitor in
// mode mode. It returns nil and no error in SocketOff mode, and nil and
// the reason (logged once) in SocketAuto mode when the kernel does not
// allow them; in SocketOn mode that reason is the error.
func openSockets(mode SocketMode, open func() (socketSource, error)) (socketSource, error) {
	if mode == SocketOff {
		return nil, nil
	}
	src, err := open()
	if err == nil {
		return src, nil
	}
	if mode == SocketOn {
		return nil, fmt.Errorf("counting at the socket ([socket] mode = \"on\"): %w; fix that, or set [socket] mode = \"auto\" to fall back to conntrack", err)
	}
	return nil, err
}

// socketCaps are the capabilities the eBPF programs need beside
// CAP_NET_ADMIN (neededCaps).
var socketCaps = []capability{{39, "CAP_BPF"}, {38, "CAP_PERFMON"}}

// openSockbpf opens the real counters for up to max sockets at once (0:
// sockbpf's default), once bwmon has the capabilities.
func openSockbpf(max int) (socketSource, error) {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		// CAP_SYS_ADMIN stands for both (and is all there was before
		// Linux 5.8).
		admin, _ := missingCapsOf(string(b), []capability{{21, "CAP_SYS_ADMIN"}})
		if missing, err := missingCapsOf(string(b), socketCaps); err == nil && len(missing) > 0 && len(admin) > 0 {
			return nil, fmt.Errorf("%w: bwmon lacks %s (give it CAP_BPF and CAP_PERFMON as bwmon.service does, or run it as root)", sockbpf.ErrUnsupported, strings.Join(missing, " and "))
		}
	}
	c, err := sockbpf.Open(sockbpf.Options{MaxSockets: max})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// soNetNSCookie is SO_NETNS_COOKIE (Linux 5.14), which x/sys/unix lacks.
const soNetNSCookie = 71

// netnsCookie returns the kernel's cookie of namespace ns, as the eBPF
// programs see it (bpf_get_netns_cookie), from a socket opened there.
func netnsCookie(ns *netns.NS) (uint64, error) {
	var cookie uint64
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, soNetNSCookie)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reading the cookie of network namespace %q (SO_NETNS_COOKIE, Linux 5.14): %w", ns.Name(), err)
	}
	return cookie, nil
}

// errSocketScope is the reason for conntrack alone when the namespace's
// sockets cannot be told from the others'.
var errSocketScope = errors.New("cannot tell the watched namespace's sockets apart")
