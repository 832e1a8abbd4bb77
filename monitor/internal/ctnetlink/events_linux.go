package ctnetlink

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// EventReader reads the conntrack event socket in plain blocking reads on
// a thread of its own. Through Go's network poller an event reaches bwmon
// after one more thread wake-up (the poller's, then the reader's): on the 2-
// core test machine that was enough for a third of 200 back-to-back 0.2 ms
// connections to have closed (their sockets in time-wait, which carries no
// inode) before bwmon read their NEW event; in blocking reads a tenth had.
//
// The socket is a duplicate of the subscribed one, with a receive timeout,
// so that the reader notices Close within ReaderPoll; once Read was called,
// only the reader's goroutine closes it (close on another thread would not
// wake a blocked read, and its number could be reused meanwhile).
type EventReader struct {
	conn    *netlink.Conn // subscribed (dialEvents); closed by Close
	fd      int           // a duplicate, blocking
	closing atomic.Bool
	buf     []byte

	mu      sync.Mutex // guards reading, and fd until reading is set
	reading bool       // Read was called: the reader owns fd

	closeOnce sync.Once
	closeErr  error
}

// ReaderPoll bounds how long Close waits for the reader to notice.
const ReaderPoll = 100 * time.Millisecond

// OpenEvents subscribes to the conntrack NEW and DESTROY events of the
// network namespace netnsFD (0: the caller's) and returns their reader.
func OpenEvents(netnsFD int) (*EventReader, error) {
	c, err := dialEvents(netnsFD)
	if err != nil {
		return nil, err
	}
	r, err := newEventReader(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return r, nil
}

// dialEvents subscribes to conntrack NEW and DESTROY events, with a large
// receive buffer (forced past net.core.rmem_max, as root may) so bursts of
// new connections do not overflow it.
func dialEvents(netnsFD int) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, fmt.Errorf("opening conntrack event socket: %w", err)
	}
	for _, g := range []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy} {
		if err := c.JoinGroup(uint32(g)); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribing to conntrack events (kernel needs CONFIG_NF_CONNTRACK_EVENTS and net.netfilter.nf_conntrack_events=1): %w", err)
		}
	}
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) != nil {
				_ = c.SetReadBuffer(32 << 20)
			}
		})
	}
	return c, nil
}

func newEventReader(c *netlink.Conn) (*EventReader, error) {
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
	tv := unix.NsecToTimeval(ReaderPoll.Nanoseconds())
	if err := errors.Join(unix.SetNonblock(fd, false),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up the conntrack event socket for blocking reads: %w", err)
	}
	return &EventReader{conn: c, fd: fd, buf: make([]byte, 64<<10)}, nil
}

// Read returns the messages of the next datagram. It returns net.ErrClosed
// once Close was called, having closed the reader's socket; it must be
// called from one goroutine only. Any other error but ENOBUFS (events
// dropped; reading goes on) closes the reader's socket too: the reader is
// done, and Close releases the rest.
func (e *EventReader) Read() ([]netlink.Message, error) {
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
		msgs, err := ParseDatagram(e.buf[:n])
		if err != nil {
			e.closeFD()
			return nil, fmt.Errorf("parsing conntrack events: %w", err)
		}
		return msgs, nil
	}
}

// closeFD closes the reader's socket, from the reader's goroutine.
func (e *EventReader) closeFD() {
	if e.fd >= 0 {
		unix.Close(e.fd)
		e.fd = -1
	}
}

// ParseDatagram splits a datagram into its netlink messages; their Data
// points into b.
func ParseDatagram(b []byte) ([]netlink.Message, error) {
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

// Close makes Read return net.ErrClosed within ReaderPoll and closes the
// subscribed socket. It is safe more than once, from any goroutine, and
// does not wait for Read to return.
func (e *EventReader) Close() error {
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

// DecodeEvent decodes a conntrack NEW or DESTROY event (ti-mo/conntrack's
// decoder); ok is false for anything else.
func DecodeEvent(msg netlink.Message) (rec Rec, destroy, ok bool) {
	var ev conntrack.Event
	if err := ev.Unmarshal(msg); err != nil || ev.Flow == nil {
		return Rec{}, false, false
	}
	if ev.Type != conntrack.EventNew && ev.Type != conntrack.EventDestroy {
		return Rec{}, false, false
	}
	return RecOf(ev.Flow), ev.Type == conntrack.EventDestroy, true
}

// RecOf turns a flow decoded by ti-mo/conntrack into a Rec.
func RecOf(f *conntrack.Flow) Rec {
	tuple := func(t conntrack.Tuple) Tuple {
		if t.Proto.ICMPv4 || t.Proto.ICMPv6 {
			return Tuple{Src: t.IP.SourceAddress, Dst: t.IP.DestinationAddress, SPort: t.Proto.ICMPID, DPort: uint16(t.Proto.ICMPType)<<8 | uint16(t.Proto.ICMPCode)}
		}
		return Tuple{Src: t.IP.SourceAddress, Dst: t.IP.DestinationAddress, SPort: t.Proto.SourcePort, DPort: t.Proto.DestinationPort}
	}
	return Rec{
		ID: f.ID, Proto: f.TupleOrig.Proto.Protocol,
		ICMP: f.TupleOrig.Proto.ICMPv4 || f.TupleOrig.Proto.ICMPv6,
		Orig: tuple(f.TupleOrig), Reply: tuple(f.TupleReply),
		OrigBytes: f.CountersOrig.Bytes, ReplyBytes: f.CountersReply.Bytes,
		Done: f.ProtoInfo.TCP != nil && (f.ProtoInfo.TCP.State == tcpTimeWait || f.ProtoInfo.TCP.State == tcpClose),
	}
}
