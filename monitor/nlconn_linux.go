package monitor

import (
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nlConn is a netlink socket read and written through raw syscalls into
// one buffer it reuses: mdlayher/netlink's Execute and Receive allocate a
// page and a message slice for every answer, which for hundreds of
// thousands of socket lookups at start is over a gigabyte of garbage. It
// serves one goroutine at a time.
type nlConn struct {
	c   *netlink.Conn // opens the socket in a network namespace
	fd  int
	buf []byte
}

// dialNL opens a netlink socket of family proto in the network namespace
// netnsFD, with a receive buffer of rcvbuf bytes when rcvbuf > 0 (root may
// go past net.core.rmem_max) and a reused read buffer of bufSize.
func dialNL(proto, netnsFD, rcvbuf, bufSize int) (*nlConn, error) {
	c, err := netlink.Dial(proto, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	n := &nlConn{c: c, buf: make([]byte, bufSize)}
	if err := rc.Control(func(fd uintptr) {
		n.fd = int(fd)
		if rcvbuf > 0 && unix.SetsockoptInt(n.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
			_ = unix.SetsockoptInt(n.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}
	}); err != nil {
		c.Close()
		return nil, err
	}
	return n, nil
}

func (n *nlConn) Close() error { return n.c.Close() }

// send writes one datagram of requests to the kernel, waiting while the
// socket is not writable.
func (n *nlConn) send(req []byte) error {
	rc, err := n.c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err != nil {
		return err
	}
	return serr
}

// recv reads one datagram of answers into the reused buffer; the slice is
// valid until the next recv.
func (n *nlConn) recv() ([]byte, error) {
	rc, err := n.c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var got int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		got, _, rerr = unix.Recvfrom(int(fd), n.buf, 0)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return n.buf[:got], nil
}
