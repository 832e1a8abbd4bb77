package links

import (
	"bytes"
	"encoding/binary"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// rtnetlink's numbers (linux/rtnetlink.h, linux/if_link.h), spelt here so
// that the parsers build and are tested on any OS.
const (
	rtmNewLink  = 16
	rtmGetLink  = 18
	rtmNewStats = 92
	rtmGetStats = 94

	iflaIfname      = 3
	iflaLink        = 5
	iflaMaster      = 10
	iflaLinkinfo    = 18
	iflaExtMask     = 29
	iflaLinkNetnsid = 37
	iflaInfoKind    = 1

	iflaStatsLink64 = 1 // in RTM_NEWSTATS: struct rtnl_link_stats64

	rtextFilterSkipStats = 1 << 3 // IFLA_EXT_MASK: leave the stats out of RTM_NEWLINK

	iffUp       = 0x1
	iffLoopback = 0x8

	ifinfomsgLen  = 16 // family, pad, type, index, flags, change
	ifStatsMsgLen = 12 // family, pad, pad, ifindex, filter_mask
	stats64Min    = 32 // rx_packets, tx_packets, rx_bytes, tx_bytes
	maxNameLen    = 64 // IFNAMSIZ is 16; anything longer is cut
	maxKindLen    = 32
)

// Link is what RTM_NEWLINK says of one interface, beside its counters.
type Link struct {
	// Index is the interface's index in its namespace.
	Index int32
	// Name is the interface's name as the kernel has it: any bytes but
	// '/', ':' and white space, at most 15 of them; not clean.
	Name string
	// Type is the link type (ARPHRD_*: 1 Ethernet, 772 loopback, 65534
	// none).
	Type uint16
	// Flags are the interface's flags (IFF_*).
	Flags uint32
	// Kind is the driver's kind for virtual links ("veth", "bridge",
	// "vlan", "macvlan", "tun", "wireguard"); "" for a physical device.
	Kind string
	// Master is the index of the bridge, bond, team or VRF the interface
	// is enslaved to; 0 when none.
	Master int32
	// Parent is the index of the link below (the lower device of a VLAN
	// or macvlan, a veth's peer); 0 when none. ParentElsewhere says it is
	// in another namespace (a veth's peer in a container), whose indexes
	// mean nothing here.
	Parent          int32
	ParentElsewhere bool
}

// Counters are an interface's cumulative counters as the kernel keeps
// them (rtnl_link_stats64): in is what it received, out what it sent.
type Counters struct {
	BytesIn, PacketsIn, BytesOut, PacketsOut uint64
}

// ParseLink reads the payload of an RTM_NEWLINK message. ok is false when
// the payload is too short or its attributes do not add up.
func ParseLink(payload []byte) (l Link, ok bool) {
	if len(payload) < ifinfomsgLen {
		return Link{}, false
	}
	l.Type = binary.NativeEndian.Uint16(payload[2:])
	l.Index = int32(binary.NativeEndian.Uint32(payload[4:]))
	l.Flags = binary.NativeEndian.Uint32(payload[8:])
	ok = nlconn.Attrs(payload[ifinfomsgLen:], func(typ uint16, v []byte) {
		switch typ {
		case iflaIfname:
			l.Name = cString(v, maxNameLen)
		case iflaMaster:
			l.Master = int32From(v)
		case iflaLink:
			l.Parent = int32From(v)
		case iflaLinkNetnsid:
			l.ParentElsewhere = true
		case iflaLinkinfo:
			nlconn.Attrs(v, func(typ uint16, v []byte) {
				if typ == iflaInfoKind {
					l.Kind = cString(v, maxKindLen)
				}
			})
		}
	})
	return l, ok
}

// ParseStats reads the payload of an RTM_NEWSTATS message: the
// interface's index and its 64-bit counters. ok is false when the payload
// is too short or carries no IFLA_STATS_LINK_64.
func ParseStats(payload []byte) (index int32, c Counters, ok bool) {
	if len(payload) < ifStatsMsgLen {
		return 0, Counters{}, false
	}
	index = int32(binary.NativeEndian.Uint32(payload[4:]))
	found := false
	if !nlconn.Attrs(payload[ifStatsMsgLen:], func(typ uint16, v []byte) {
		if typ == iflaStatsLink64 && len(v) >= stats64Min {
			c = Counters{
				PacketsIn:  binary.NativeEndian.Uint64(v[0:]),
				PacketsOut: binary.NativeEndian.Uint64(v[8:]),
				BytesIn:    binary.NativeEndian.Uint64(v[16:]),
				BytesOut:   binary.NativeEndian.Uint64(v[24:]),
			}
			found = true
		}
	}) {
		return 0, Counters{}, false
	}
	return index, c, found
}

// cString is v up to its first NUL, at most max bytes.
func cString(v []byte, max int) string {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	if len(v) > max {
		v = v[:max]
	}
	return string(v)
}

func int32From(v []byte) int32 {
	if len(v) < 4 {
		return 0
	}
	return int32(binary.NativeEndian.Uint32(v))
}

// linkRequest is an RTM_GETLINK dump request with sequence number seq
// that leaves the counters out (RTM_GETSTATS brings them).
func linkRequest(seq uint32) []byte {
	b := make([]byte, nlconn.HeaderLen+ifinfomsgLen, nlconn.HeaderLen+ifinfomsgLen+8)
	b = nlconn.AppendAttr(b, iflaExtMask, binary.NativeEndian.AppendUint32(nil, rtextFilterSkipStats))
	header(b, rtmGetLink, seq)
	return b
}

// statsRequest is an RTM_GETSTATS dump request for every interface's
// IFLA_STATS_LINK_64, with sequence number seq.
func statsRequest(seq uint32) []byte {
	b := make([]byte, nlconn.HeaderLen+ifStatsMsgLen)
	binary.NativeEndian.PutUint32(b[nlconn.HeaderLen+8:], 1<<(iflaStatsLink64-1))
	header(b, rtmGetStats, seq)
	return b
}

// setSeq sets the sequence number of request b.
func setSeq(b []byte, seq uint32) { binary.NativeEndian.PutUint32(b[8:], seq) }

// header fills the netlink header of request b: a dump.
func header(b []byte, typ uint16, seq uint32) {
	const request, dump = 0x1, 0x300 // NLM_F_REQUEST, NLM_F_DUMP
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], request|dump)
	binary.NativeEndian.PutUint32(b[8:], seq)
}
