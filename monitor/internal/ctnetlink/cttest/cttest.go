package cttest

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"

	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/nlconn"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
)

// Linux's values, whatever the OS the test is built for.
const (
	afInet     = 2     // AF_INET
	afInet6    = 10    // AF_INET6
	nlmFCreate = 0x400 // NLM_F_CREATE
)

// Message types of the conntrack subsystem (NFNL_SUBSYS_CTNETLINK << 8).
const (
	// TypeNew is IPCTNL_MSG_CT_NEW: an entry of a dump or a GET answer;
	// with NLM_F_CREATE, a NEW event; without, an update.
	TypeNew = 1<<8 | 0
	// TypeDelete is IPCTNL_MSG_CT_DELETE: a DESTROY event.
	TypeDelete = 1<<8 | 2
)

// Encode encodes r as a netlink message of type typ with flags, numbered
// seq: an nfgenmsg, both tuples, both byte counters (with a packet
// count) and the ID.
func Encode(r ctnetlink.Rec, typ, flags uint16, seq uint32) []byte {
	family := byte(afInet)
	if !r.Orig.Src.Is4() {
		family = afInet6
	}
	p := []byte{family, 0, 0, 0} // nfgenmsg
	for i, t := range []ctnetlink.Tuple{r.Orig, r.Reply} {
		var tuple, ip, proto int
		p, tuple = nlconn.BeginNested(p, uint16(1+i)) // CTA_TUPLE_ORIG, CTA_TUPLE_REPLY
		p, ip = nlconn.BeginNested(p, 1)              // CTA_TUPLE_IP
		if family == afInet {
			src, dst := t.Src.As4(), t.Dst.As4()
			p = nlconn.AppendAttr(p, 1, src[:]) // CTA_IP_V4_SRC
			p = nlconn.AppendAttr(p, 2, dst[:])
		} else {
			src, dst := t.Src.As16(), t.Dst.As16()
			p = nlconn.AppendAttr(p, 3, src[:]) // CTA_IP_V6_SRC
			p = nlconn.AppendAttr(p, 4, dst[:])
		}
		nlconn.EndNested(p, ip)
		p, proto = nlconn.BeginNested(p, 2) // CTA_TUPLE_PROTO
		p = nlconn.AppendAttr(p, 1, []byte{r.Proto})
		switch {
		case r.ICMP && family == afInet: // CTA_PROTO_ICMP_ID, _TYPE, _CODE
			p = icmpAttrs(p, 4, t)
		case r.ICMP: // CTA_PROTO_ICMPV6_ID, _TYPE, _CODE
			p = icmpAttrs(p, 7, t)
		default: // CTA_PROTO_SRC_PORT, _DST_PORT
			p = nlconn.AppendAttr(p, 2, binary.BigEndian.AppendUint16(nil, t.SPort))
			p = nlconn.AppendAttr(p, 3, binary.BigEndian.AppendUint16(nil, t.DPort))
		}
		nlconn.EndNested(p, proto)
		nlconn.EndNested(p, tuple)
	}
	for i, n := range []uint64{r.OrigBytes, r.ReplyBytes} {
		var ctr int
		p, ctr = nlconn.BeginNested(p, uint16(9+i))                        // CTA_COUNTERS_ORIG, _REPLY
		p = nlconn.AppendAttr(p, 1, binary.BigEndian.AppendUint64(nil, 1)) // CTA_COUNTERS_PACKETS
		p = nlconn.AppendAttr(p, 2, binary.BigEndian.AppendUint64(nil, n)) // CTA_COUNTERS_BYTES
		nlconn.EndNested(p, ctr)
	}
	p = nlconn.AppendAttr(p, 12, binary.BigEndian.AppendUint32(nil, r.ID)) // CTA_ID
	return nltest.MsgFlags(typ, flags, seq, p)
}

// icmpAttrs appends the echo ID (attribute first) and the type and code
// (first+1, first+2) of an ICMP tuple.
func icmpAttrs(p []byte, first uint16, t ctnetlink.Tuple) []byte {
	p = nlconn.AppendAttr(p, first, binary.BigEndian.AppendUint16(nil, t.SPort))
	p = nlconn.AppendAttr(p, first+1, []byte{byte(t.DPort >> 8)})
	return nlconn.AppendAttr(p, first+2, []byte{byte(t.DPort)})
}

// Event returns r's NEW event, or with destroy its DESTROY event, as a
// decoded netlink message.
func Event(r ctnetlink.Rec, destroy bool) netlink.Message {
	typ, flags := uint16(TypeNew), uint16(nlmFCreate)
	if destroy {
		typ, flags = TypeDelete, 0
	}
	b := Encode(r, typ, flags, 0)
	h := netlink.Header{Length: uint32(len(b)), Type: netlink.HeaderType(typ), Flags: netlink.HeaderFlags(flags)}
	return netlink.Message{Header: h, Data: b[nlconn.HeaderLen:]}
}
