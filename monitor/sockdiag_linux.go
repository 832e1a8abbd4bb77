package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// sockDiag looks up one socket by its exact tuple over NETLINK_SOCK_DIAG,
// the way the kernel demultiplexes a packet: for TCP it finds established,
// time-wait and listening sockets; for UDP connected and bound (wildcard)
// ones. github.com/vishvananda/netlink's SocketGet sends NLM_F_DUMP, which
// makes the kernel ignore the tuple and dump everything, so bwmon builds the
// 56-byte inet_diag_req_v2 itself.
//
// It speaks through an nlconn.Conn: a lookup allocates nothing, which matters at
// start, when every flow of a large table is looked up.
type sockDiag struct {
	*nlconn.Conn
	seq uint32
	req []byte
}

func dialSockDiag(netnsFD int) (*sockDiag, error) {
	c, err := nlconn.Dial(unix.NETLINK_SOCK_DIAG, netnsFD, 0, 8<<10)
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag netlink socket: %w", err)
	}
	return &sockDiag{Conn: c, req: make([]byte, unix.NLMSG_HDRLEN+sizeofDiagReq)}, nil
}

// diagSocket is what bwmon needs of an inet_diag_msg.
type diagSocket struct {
	state uint8
	uid   uint32
	inode uint64
}

const (
	sizeofDiagReq = 56
	sizeofDiagMsg = 72
	tcpListen     = 10
	tcpEstab      = 1
	tcpSynRecv    = 3
)

// lookup returns the socket of protocol proto (TCP or UDP) whose local end
// is local and whose peer is remote. found is false when there is none.
func (s *sockDiag) lookup(proto uint8, local, remote netip.AddrPort) (diagSocket, bool, error) {
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
	s.seq++
	h := s.req[:unix.NLMSG_HDRLEN]
	binary.NativeEndian.PutUint32(h[0:], uint32(len(s.req)))
	binary.NativeEndian.PutUint16(h[4:], 20) // SOCK_DIAG_BY_FAMILY
	binary.NativeEndian.PutUint16(h[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(h[8:], s.seq)
	binary.NativeEndian.PutUint32(h[12:], 0)
	req := s.req[unix.NLMSG_HDRLEN:]
	clear(req)
	req[0] = family
	req[1] = proto
	binary.LittleEndian.PutUint32(req[4:], 0xffffffff) // all states
	binary.BigEndian.PutUint16(req[8:], src.Port())
	binary.BigEndian.PutUint16(req[10:], dst.Port())
	putAddr(req[12:28], src.Addr(), family)
	putAddr(req[28:44], dst.Addr(), family)
	// idiag_if = 0 (any), cookie = INET_DIAG_NOCOOKIE.
	binary.LittleEndian.PutUint32(req[48:], 0xffffffff)
	binary.LittleEndian.PutUint32(req[52:], 0xffffffff)

	if err := s.Send(s.req); err != nil {
		return diagSocket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
	}
	// One answer: the socket, or an error message (ENOENT: none). Answers
	// to an earlier request whose reader gave up are skipped by sequence.
	for {
		b, err := s.Recv()
		if err != nil {
			return diagSocket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
		}
		d, found, done, err := parseDiagAnswer(b, s.seq)
		if err != nil {
			return diagSocket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
		}
		if done {
			return d, found, nil
		}
	}
}

// parseDiagAnswer reads a datagram of sock_diag answers for the request
// numbered seq: done is false when it holds none (answers to earlier
// requests are skipped); found says whether the answer is a socket. It
// allocates nothing.
func parseDiagAnswer(b []byte, seq uint32) (d diagSocket, found, done bool, err error) {
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
			if len(m) >= sizeofDiagMsg {
				d = diagSocket{
					state: m[1],
					uid:   binary.NativeEndian.Uint32(m[64:]),
					inode: uint64(binary.NativeEndian.Uint32(m[68:])),
				}
				found = true
			}
		}
		return false
	})
	if merr != nil {
		return diagSocket{}, false, true, errMalformedDiag
	}
	return d, found, done, err
}

var errMalformedDiag = errors.New("malformed netlink message in sock_diag answer")

func putAddr(b []byte, a netip.Addr, family uint8) {
	if family == unix.AF_INET {
		v4 := a.Unmap().As4()
		copy(b, v4[:])
		return
	}
	v6 := a.As16()
	copy(b, v6[:])
}

// acceptWait is how long the event path waits, in steps, for a server to
// accept a connection whose socket no process holds yet: a server that
// answers and closes within a tick would otherwise be seen only once its
// socket is orphaned.
const (
	acceptWait  = 5 * time.Millisecond
	acceptSteps = 25
)

// acceptWaiter lets one lookup at a time wait for an accept: a server
// slow to accept under a burst of connections must not hold every event
// worker (their flows are looked up again at the tick).
var acceptWaiter = make(chan struct{}, 1)

// lookupAccepted is lookup, but a TCP socket not accepted yet (established
// or half-open, with no inode) is looked up again for up to acceptWait,
// when no other lookup is waiting.
func (s *sockDiag) lookupAccepted(proto uint8, local, remote netip.AddrPort) (diagSocket, bool, error) {
	waiting := false
	defer func() {
		if waiting {
			<-acceptWaiter
		}
	}()
	for i := 0; ; i++ {
		d, found, err := s.lookup(proto, local, remote)
		if err != nil || !found || d.inode != 0 || proto != unix.IPPROTO_TCP ||
			(d.state != tcpEstab && d.state != tcpSynRecv) || i == acceptSteps {
			return d, found, err
		}
		if !waiting {
			select {
			case acceptWaiter <- struct{}{}:
				waiting = true
			default:
				return d, found, err
			}
		}
		time.Sleep(acceptWait / acceptSteps)
	}
}

// listener returns the inode of the TCP socket listening where local is
// (its address or the wildcard). The kernel's exact lookup with no peer
// finds no connection and falls back to the listener, as for a SYN.
func (s *sockDiag) listener(local netip.AddrPort) (uint64, bool) {
	none := netip.IPv4Unspecified()
	if !local.Addr().Unmap().Is4() {
		none = netip.IPv6Unspecified()
	}
	d, found, err := s.lookup(unix.IPPROTO_TCP, local, netip.AddrPortFrom(none, 0))
	if err != nil || !found || d.state != tcpListen || d.inode == 0 {
		return 0, false
	}
	return d.inode, true
}
