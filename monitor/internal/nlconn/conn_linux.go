package nlconn

import (
	"errors"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn is a netlink socket read and written through raw syscalls into
// one buffer it reuses. It serves one goroutine at a time.
type Conn struct {
	c   *netlink.Conn // opens the socket in a network namespace
	rc  syscall.RawConn
	fd  int
	buf []byte

	// The callbacks handed to rc, made once (a closure made per call
	// would be allocated per call), and what they pass back.
	readFn, writeFn func(fd uintptr) bool
	req             []byte
	got             int
	err             error
}

// Dial opens a netlink socket of family proto in the network namespace
// netnsFD (0: the caller's), with a receive buffer of rcvbuf bytes when
// rcvbuf > 0 (root may go past net.core.rmem_max) and a reused read
// buffer of bufSize.
func Dial(proto, netnsFD, rcvbuf, bufSize int) (*Conn, error) {
	c, err := netlink.Dial(proto, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	n := &Conn{c: c, rc: rc, buf: make([]byte, bufSize)}
	if err := rc.Control(func(fd uintptr) {
		n.fd = int(fd)
		if rcvbuf > 0 && unix.SetsockoptInt(n.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
			_ = unix.SetsockoptInt(n.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}
	}); err != nil {
		c.Close()
		return nil, err
	}
	// A netlink socket that is not connected sends to the kernel, so
	// plain read and write do, without a sockaddr to allocate.
	n.readFn = func(fd uintptr) bool {
		n.got, n.err = unix.Read(int(fd), n.buf)
		return !errors.Is(n.err, unix.EAGAIN)
	}
	n.writeFn = func(fd uintptr) bool {
		_, n.err = unix.Write(int(fd), n.req)
		return !errors.Is(n.err, unix.EAGAIN)
	}
	return n, nil
}

// Close closes the socket. It does not block.
func (n *Conn) Close() error { return n.c.Close() }

// Send writes one datagram of requests to the kernel, waiting while the
// socket is not writable.
func (n *Conn) Send(req []byte) error {
	n.req = req
	err := n.rc.Write(n.writeFn)
	n.req = nil
	if err != nil {
		return err
	}
	return n.err
}

// Recv reads one datagram of answers into the reused buffer; the slice is
// valid until the next Recv.
func (n *Conn) Recv() ([]byte, error) {
	if err := n.rc.Read(n.readFn); err != nil {
		return nil, err
	}
	if n.err != nil {
		return nil, n.err
	}
	return n.buf[:n.got], nil
}
