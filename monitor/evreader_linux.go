package monitor

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// eventReader reads the conntrack event socket in plain blocking reads on
// a thread of its own. Through Go's network poller an event reaches bwmon
// after one more thread wake-up (the poller's, then the reader's): on the 2-
// core test machine that was enough for a third of 200 back-to-back 0.2 ms
// connections to have closed (their sockets in time-wait, which carries no
// inode) before bwmon read their NEW event; in blocking reads a tenth had.
//
// The socket is a duplicate of the subscribed one, with a receive timeout,
// so that the reader notices close within readerPoll; once read was called,
// only the reader's goroutine closes it (close on another thread would not
// wake a blocked read, and its number could be reused meanwhile).
type eventReader struct {
	conn    *netlink.Conn // subscribed (dialEvents); closed by close
	fd      int           // a duplicate, blocking
	closing atomic.Bool
	buf     []byte

	mu      sync.Mutex // guards reading, and fd until reading is set
	reading bool       // read was called: the reader owns fd

	closeOnce sync.Once
	closeErr  error
}

// readerPoll bounds how long close waits for the reader to notice.
const readerPoll = 100 * time.Millisecond

func newEventReader(c *netlink.Conn) (*eventReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("duplicating the conntrack event socket: %w", derr)
	}
	// The duplicate shares its file description, and with it
	// O_NONBLOCK, with the original: nothing reads through the original.
	tv := unix.NsecToTimeval(readerPoll.Nanoseconds())
	if err := errors.Join(unix.SetNonblock(fd, false),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up the conntrack event socket for blocking reads: %w", err)
	}
	return &eventReader{conn: c, fd: fd, buf: make([]byte, 64<<10)}, nil
}

// read returns the messages of the next datagram. It returns net.ErrClosed
// once close was called, having closed the reader's socket; it must be
// called from one goroutine only. Any other error but ENOBUFS (events
// dropped; reading goes on) closes the reader's socket too: the reader is
// done, and close releases the rest.
func (e *eventReader) Read() ([]netlink.Message, error) {
	if !e.reading {
		e.mu.Lock()
		e.reading = e.fd >= 0
		e.mu.Unlock()
		if !e.reading {
			return nil, net.ErrClosed // closed before it was ever read
		}
	}
	if e.fd < 0 {
		return nil, net.ErrClosed // failed before
	}
	for {
		if e.closing.Load() {
			e.closeFD()
			return nil, net.ErrClosed
		}
		n, err := unix.Read(e.fd, e.buf)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue // the timeout: look at closing again
		case errors.Is(err, unix.ENOBUFS):
			return nil, err
		case err != nil:
			e.closeFD()
			return nil, err
		}
		msgs, err := parseDatagram(e.buf[:n])
		if err != nil {
			e.closeFD()
			return nil, fmt.Errorf("parsing conntrack events: %w", err)
		}
		return msgs, nil
	}
}

// closeFD closes the reader's socket, from the reader's goroutine.
func (e *eventReader) closeFD() {
	if e.fd >= 0 {
		unix.Close(e.fd)
		e.fd = -1
	}
}

// parseDatagram splits a datagram into its netlink messages; their Data
// points into b.
func parseDatagram(b []byte) ([]netlink.Message, error) {
	raw, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, err
	}
	msgs := make([]netlink.Message, len(raw))
	for i, m := range raw {
		msgs[i] = netlink.Message{
			Header: netlink.Header{
				Length: m.Header.Len, Type: netlink.HeaderType(m.Header.Type),
				Flags: netlink.HeaderFlags(m.Header.Flags), Sequence: m.Header.Seq, PID: m.Header.Pid,
			},
			Data: m.Data,
		}
	}
	return msgs, nil
}

// close makes read return net.ErrClosed within readerPoll and closes the
// subscribed socket. It is safe more than once, from any goroutine.
func (e *eventReader) Close() error {
	e.mu.Lock()
	e.closing.Store(true)
	if !e.reading && e.fd >= 0 { // no reader: nobody else will close it
		unix.Close(e.fd)
		e.fd = -1
	}
	e.mu.Unlock()
	e.closeOnce.Do(func() { e.closeErr = e.conn.Close() })
	return e.closeErr
}
