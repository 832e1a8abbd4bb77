package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// Diag looks sockets up over NETLINK_SOCK_DIAG. For a lookup by tuple it
// builds the 56-byte inet_diag_req_v2 itself: github.com/vishvananda/
// netlink's SocketGet sends NLM_F_DUMP, which makes the kernel ignore the
// tuple and dump everything.
//
// It speaks through an nlconn.Conn: a lookup allocates nothing, which
// matters at start, when every flow of a large table is looked up. It
// serves one goroutine at a time (Namespace pools them).
type Diag struct {
	conn *nlconn.Conn
	seq  uint32
	req  []byte
}

// DialDiag opens a sock_diag socket in the network namespace netnsFD (0:
// the caller's).
func DialDiag(netnsFD int) (*Diag, error) {
	c, err := nlconn.Dial(unix.NETLINK_SOCK_DIAG, netnsFD, 0, 8<<10)
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag netlink socket: %w", err)
	}
	return &Diag{conn: c, req: make([]byte, nlconn.HeaderLen+sizeofDiagReq)}, nil
}

// Close closes the socket. It does not block.
func (d *Diag) Close() error { return d.conn.Close() }

const (
	sizeofDiagReq    = 56
	sizeofDiagMsg    = 72
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
)

// putRequest fills d.req with an inet_diag_req_v2 for protocol proto
// between src and dst (zero for a dump), with header flags.
func (d *Diag) putRequest(flags uint16, family, proto uint8, src, dst netip.AddrPort) {
	d.seq++
	h := d.req[:nlconn.HeaderLen]
	binary.NativeEndian.PutUint32(h[0:], uint32(len(d.req)))
	binary.NativeEndian.PutUint16(h[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(h[6:], flags)
	binary.NativeEndian.PutUint32(h[8:], d.seq)
	binary.NativeEndian.PutUint32(h[12:], 0)
	req := d.req[nlconn.HeaderLen:]
	clear(req)
	req[0] = family
	req[1] = proto
	binary.LittleEndian.PutUint32(req[4:], 0xffffffff) // all states
	if src.IsValid() {
		binary.BigEndian.PutUint16(req[8:], src.Port())
		binary.BigEndian.PutUint16(req[10:], dst.Port())
		putAddr(req[12:28], src.Addr(), family)
		putAddr(req[28:44], dst.Addr(), family)
	}
	// idiag_if = 0 (any), cookie = INET_DIAG_NOCOOKIE.
	binary.LittleEndian.PutUint32(req[48:], 0xffffffff)
	binary.LittleEndian.PutUint32(req[52:], 0xffffffff)
}

// Lookup returns the socket of protocol proto (TCP or UDP) whose local end
// is local and whose peer is remote. found is false when there is none.
func (d *Diag) Lookup(proto uint8, local, remote netip.AddrPort) (Socket, bool, error) {
	family := uint8(unix.AF_INET)
	if !local.Addr().Unmap().Is4() || !remote.Addr().Unmap().Is4() {
		family = unix.AF_INET6
	}
	// The kernel's UDP lookup takes the tuple from the packet's point of
	// view (udp_dump_one: "src and dst are swapped for historical
	// reasons"); TCP's takes it from the socket's.
	src, dst := local, remote
	if proto == unix.IPPROTO_UDP {
		src, dst = remote, local
	}
	d.putRequest(unix.NLM_F_REQUEST, family, proto, src, dst)
	if err := d.conn.Send(d.req); err != nil {
		return Socket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
	}
	// One answer: the socket, or an error message (ENOENT: none). Answers
	// to an earlier request whose reader gave up are skipped by sequence.
	for {
		b, err := d.conn.Recv()
		if err != nil {
			return Socket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
		}
		s, found, done, err := parseAnswer(b, d.seq)
		if err != nil {
			return Socket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
		}
		if done {
			return s, found, nil
		}
	}
}

// parseAnswer reads a datagram of sock_diag answers for the request
// numbered seq: done is false when it holds none (answers to earlier
// requests are skipped); found says whether the answer is a socket. It
// allocates nothing.
func parseAnswer(b []byte, seq uint32) (s Socket, found, done bool, err error) {
	merr := nlconn.Messages(b, func(typ uint16, msgSeq uint32, m []byte) bool {
		if msgSeq != seq {
			return true
		}
		done = true
		switch typ {
		case nlconn.TypeError:
			if errno := unix.Errno(nlconn.ErrorCode(m)); errno != 0 && errno != unix.ENOENT {
				err = errno
			}
		case nlconn.TypeDone:
		default:
			s, found = decodeDiagMsg(m)
		}
		return false
	})
	if merr != nil {
		return Socket{}, false, true, errMalformed
	}
	return s, found, done, err
}

var errMalformed = errors.New("malformed netlink message in sock_diag answer")

// decodeDiagMsg decodes an inet_diag_msg; false when it is too short.
func decodeDiagMsg(m []byte) (Socket, bool) {
	if len(m) < sizeofDiagMsg {
		return Socket{}, false
	}
	return Socket{
		Local:  netip.AddrPortFrom(getAddr(m[8:24], m[0]), binary.BigEndian.Uint16(m[4:])),
		Remote: netip.AddrPortFrom(getAddr(m[24:40], m[0]), binary.BigEndian.Uint16(m[6:])),
		State:  m[1],
		UID:    binary.NativeEndian.Uint32(m[64:]),
		Inode:  uint64(binary.NativeEndian.Uint32(m[68:])),
		Cookie: uint64(binary.NativeEndian.Uint32(m[44:])) | uint64(binary.NativeEndian.Uint32(m[48:]))<<32,
	}, true
}

func putAddr(b []byte, a netip.Addr, family uint8) {
	if family == unix.AF_INET {
		v4 := a.Unmap().As4()
		copy(b, v4[:])
		return
	}
	v6 := a.As16()
	copy(b, v6[:])
}

func getAddr(b []byte, family uint8) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

// List calls f with every socket of protocol proto (TCP or UDP) and
// family (AF_INET or AF_INET6) in the namespace, with its inode and
// cookie: one dump, for the sockets that were open before their owner was
// watched. A dump the kernel reports interrupted (the table changed) is
// not retried: what it listed is handed over all the same.
func (d *Diag) List(proto, family uint8, f func(Socket)) error {
	withProto := func(s Socket) {
		s.Proto = proto
		f(s)
	}
	d.putRequest(unix.NLM_F_REQUEST|unix.NLM_F_DUMP, family, proto, netip.AddrPort{}, netip.AddrPort{})
	if err := d.conn.Send(d.req); err != nil {
		return fmt.Errorf("listing sockets: %w", err)
	}
	for {
		b, err := d.conn.Recv()
		if err != nil {
			return fmt.Errorf("listing sockets: %w", err)
		}
		done, err := parseList(b, d.seq, withProto)
		if err != nil || done {
			return err
		}
	}
}

// parseList hands f the sockets of one datagram of the dump numbered seq;
// done is true at its end.
func parseList(b []byte, seq uint32, f func(Socket)) (done bool, err error) {
	merr := nlconn.Messages(b, func(typ uint16, msgSeq uint32, m []byte) bool {
		if msgSeq != seq {
			return true
		}
		switch typ {
		case nlconn.TypeDone:
			done = true
		case nlconn.TypeError:
			done = true
			if errno := unix.Errno(nlconn.ErrorCode(m)); errno != 0 {
				err = fmt.Errorf("listing sockets: %w", errno)
			}
		case sockDiagByFamily:
			if s, ok := decodeDiagMsg(m); ok {
				f(s)
			}
		}
		return !done
	})
	if merr != nil {
		return true, fmt.Errorf("listing sockets: %w", merr)
	}
	return done, err
}

// acceptWait is how long the event path waits, in steps, for a server to
// accept a connection whose socket no process holds yet: a server that
// answers and closes within a tick would otherwise be seen only once its
// socket is orphaned.
const (
	acceptWait  = 5 * time.Millisecond
	acceptSteps = 25
)

// acceptWaiter lets one lookup at a time, in the whole process, wait for
// an accept: a server slow to accept under a burst of connections must not
// hold every event worker (their flows are looked up again at the tick).
var acceptWaiter = make(chan struct{}, 1)

// LookupAccepted is Lookup, but a TCP socket not accepted yet (established
// or half-open, with no inode) is looked up again for up to acceptWait,
// when no other lookup is waiting.
func (d *Diag) LookupAccepted(proto uint8, local, remote netip.AddrPort) (Socket, bool, error) {
	waiting := false
	defer func() {
		if waiting {
			<-acceptWaiter
		}
	}()
	for i := 0; ; i++ {
		s, found, err := d.Lookup(proto, local, remote)
		if err != nil || !found || s.Inode != 0 || proto != unix.IPPROTO_TCP ||
			(s.State != TCPEstablished && s.State != TCPSynRecv) || i == acceptSteps {
			return s, found, err
		}
		if !waiting {
			select {
			case acceptWaiter <- struct{}{}:
				waiting = true
			default:
				return s, found, err
			}
		}
		time.Sleep(acceptWait / acceptSteps)
	}
}

// Listener returns the inode of the TCP socket listening where local is
// (its address or the wildcard). The kernel's exact lookup with no peer
// finds no connection and falls back to the listener, as for a SYN.
func (d *Diag) Listener(local netip.AddrPort) (uint64, bool) {
	none := netip.IPv4Unspecified()
	if !local.Addr().Unmap().Is4() {
		none = netip.IPv6Unspecified()
	}
	s, found, err := d.Lookup(unix.IPPROTO_TCP, local, netip.AddrPortFrom(none, 0))
	if err != nil || !found || s.State != TCPListen || s.Inode == 0 {
		return 0, false
	}
	return s.Inode, true
}
