package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// sockDiag looks up one socket by its exact tuple over NETLINK_SOCK_DIAG,
// the way the kernel demultiplexes a packet: for TCP it finds established,
// time-wait and listening sockets; for UDP connected and bound (wildcard)
// ones. github.com/vishvananda/netlink's SocketGet sends NLM_F_DUMP, which
// makes the kernel ignore the tuple and dump everything, so bwmon builds the
// 56-byte inet_diag_req_v2 itself.
type sockDiag struct {
	c *netlink.Conn
}

func dialSockDiag(netnsFD int) (*sockDiag, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag netlink socket: %w", err)
	}
	return &sockDiag{c: c}, nil
}

func (s *sockDiag) Close() error { return s.c.Close() }

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
	req := make([]byte, sizeofDiagReq)
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

	msgs, err := s.c.Execute(netlink.Message{
		Header: netlink.Header{Type: 20 /* SOCK_DIAG_BY_FAMILY */, Flags: netlink.Request},
		Data:   req,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return diagSocket{}, false, nil
		}
		return diagSocket{}, false, fmt.Errorf("looking up socket %s -> %s: %w", local, remote, err)
	}
	for _, m := range msgs {
		if len(m.Data) < sizeofDiagMsg {
			continue
		}
		d := m.Data
		return diagSocket{
			state: d[1],
			uid:   binary.NativeEndian.Uint32(d[64:]),
			inode: uint64(binary.NativeEndian.Uint32(d[68:])),
		}, true, nil
	}
	return diagSocket{}, false, nil
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
