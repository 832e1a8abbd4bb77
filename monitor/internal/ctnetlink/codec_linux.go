package ctnetlink

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

const (
	ctnlMsgGet   = 1<<8 | 1 // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
	ctnlMsgNew   = 1<<8 | 0 // IPCTNL_MSG_CT_NEW: an entry
	ctaTupleOrig = 1
	ctaTupleRep  = 2
	ctaCountOrig = 9
	ctaCountRep  = 10
	ctaID        = 12
	ctaTupleIP   = 1
	ctaTupleProt = 2
	ctaIPv4Src   = 1
	ctaIPv4Dst   = 2
	ctaIPv6Src   = 3
	ctaIPv6Dst   = 4
	ctaProtoNum  = 1
	ctaProtoSrc  = 2
	ctaProtoDst  = 3
	ctaICMPID    = 4
	ctaICMPType  = 5
	ctaICMPCode  = 6
	ctaICMP6ID   = 7
	ctaICMP6Type = 8
	ctaICMP6Code = 9
	ctaProtoInfo = 4 // CTA_PROTOINFO, holding CTA_PROTOINFO_TCP (1), holding its state (1)
	ctaCtrBytes  = 2 // CTA_COUNTERS_BYTES (64-bit)
	ctaCtr32Byte = 4 // CTA_COUNTERS32_BYTES
)

// appendEntry decodes the entry of an IPCTNL_MSG_CT_NEW payload (nfgenmsg
// first) onto recs; a malformed one is left out.
func appendEntry(recs []Rec, msg []byte) []Rec {
	if len(msg) < 4 {
		return recs
	}
	var r Rec
	if decodeCT(msg[4:], &r) {
		recs = append(recs, r)
	}
	return recs
}

func decodeCT(b []byte, r *Rec) bool {
	ok := true
	nlconn.Attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleOrig:
			ok = ok && decodeTuple(v, &r.Orig, r)
		case ctaTupleRep:
			ok = ok && decodeTuple(v, &r.Reply, r)
		case ctaCountOrig:
			r.OrigBytes = counterBytes(v)
		case ctaCountRep:
			r.ReplyBytes = counterBytes(v)
		case ctaID:
			if len(v) >= 4 {
				r.ID = binary.BigEndian.Uint32(v)
			}
		case ctaProtoInfo:
			r.Done = tcpDone(v)
		}
	})
	return ok && r.Orig.Src.IsValid()
}

// TCP_CONNTRACK_TIME_WAIT and TCP_CONNTRACK_CLOSE: a connection that
// carries no more data.
const (
	tcpTimeWait = 7
	tcpClose    = 8
)

// tcpDone reports whether a CTA_PROTOINFO holds a TCP state in which the
// connection carries no more data.
func tcpDone(b []byte) bool {
	done := false
	nlconn.Attrs(b, func(typ uint16, v []byte) {
		if typ != 1 { // CTA_PROTOINFO_TCP
			return
		}
		nlconn.Attrs(v, func(typ uint16, v []byte) {
			if typ == 1 && len(v) >= 1 { // CTA_PROTOINFO_TCP_STATE
				done = v[0] == tcpTimeWait || v[0] == tcpClose
			}
		})
	})
	return done
}

func counterBytes(v []byte) uint64 {
	var n uint64
	nlconn.Attrs(v, func(typ uint16, v []byte) {
		switch {
		case typ == ctaCtrBytes && len(v) >= 8:
			n = binary.BigEndian.Uint64(v)
		case typ == ctaCtr32Byte && len(v) >= 4:
			n = uint64(binary.BigEndian.Uint32(v))
		}
	})
	return n
}

func decodeTuple(b []byte, t *Tuple, r *Rec) bool {
	return nlconn.Attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleIP:
			nlconn.Attrs(v, func(typ uint16, v []byte) {
				switch {
				case (typ == ctaIPv4Src || typ == ctaIPv4Dst) && len(v) == 4:
					t.setAddr(typ == ctaIPv4Src, netip.AddrFrom4([4]byte(v)))
				case (typ == ctaIPv6Src || typ == ctaIPv6Dst) && len(v) == 16:
					t.setAddr(typ == ctaIPv6Src, netip.AddrFrom16([16]byte(v)))
				}
			})
		case ctaTupleProt:
			var icmpType, icmpCode uint8
			nlconn.Attrs(v, func(typ uint16, v []byte) {
				switch typ {
				case ctaProtoNum:
					if len(v) >= 1 {
						r.Proto = v[0]
					}
				case ctaProtoSrc:
					if len(v) >= 2 {
						t.SPort = binary.BigEndian.Uint16(v)
					}
				case ctaProtoDst:
					if len(v) >= 2 {
						t.DPort = binary.BigEndian.Uint16(v)
					}
				case ctaICMPID, ctaICMP6ID:
					if len(v) >= 2 {
						r.ICMP = true
						t.SPort = binary.BigEndian.Uint16(v)
					}
				case ctaICMPType, ctaICMP6Type:
					if len(v) >= 1 {
						icmpType = v[0]
					}
				case ctaICMPCode, ctaICMP6Code:
					if len(v) >= 1 {
						icmpCode = v[0]
					}
				}
			})
			if r.ICMP {
				t.DPort = uint16(icmpType)<<8 | uint16(icmpCode)
			}
		}
	})
}

// setAddr sets the tuple's source address (src) or destination.
func (t *Tuple) setAddr(src bool, a netip.Addr) {
	if src {
		t.Src = a
	} else {
		t.Dst = a
	}
}

// appendGet appends an IPCTNL_MSG_CT_GET request for the flow k.
func appendGet(b []byte, k *Key, seq uint32) []byte {
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, ctnlMsgGet)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	family := byte(unix.AF_INET)
	if !k.v4 {
		family = unix.AF_INET6
	}
	b = append(b, family, 0, 0, 0) // nfgenmsg

	b, tuple := nlconn.BeginNested(b, ctaTupleOrig)
	b, ip := nlconn.BeginNested(b, ctaTupleIP)
	if family == unix.AF_INET {
		b = nlconn.AppendAttr(b, ctaIPv4Src, k.src[12:])
		b = nlconn.AppendAttr(b, ctaIPv4Dst, k.dst[12:])
	} else {
		b = nlconn.AppendAttr(b, ctaIPv6Src, k.src[:])
		b = nlconn.AppendAttr(b, ctaIPv6Dst, k.dst[:])
	}
	nlconn.EndNested(b, ip)
	b, proto := nlconn.BeginNested(b, ctaTupleProt)
	b = nlconn.AppendAttr(b, ctaProtoNum, []byte{k.proto})
	switch k.proto {
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		idT, typT, codeT := uint16(ctaICMPID), uint16(ctaICMPType), uint16(ctaICMPCode)
		if k.proto == unix.IPPROTO_ICMPV6 {
			idT, typT, codeT = ctaICMP6ID, ctaICMP6Type, ctaICMP6Code
		}
		b = nlconn.AppendAttr(b, idT, binary.BigEndian.AppendUint16(nil, k.sport))
		b = nlconn.AppendAttr(b, typT, []byte{byte(k.dport >> 8)})
		b = nlconn.AppendAttr(b, codeT, []byte{byte(k.dport)})
	default:
		b = nlconn.AppendAttr(b, ctaProtoSrc, binary.BigEndian.AppendUint16(nil, k.sport))
		b = nlconn.AppendAttr(b, ctaProtoDst, binary.BigEndian.AppendUint16(nil, k.dport))
	}
	nlconn.EndNested(b, proto)
	nlconn.EndNested(b, tuple)
	b = nlconn.AppendAttr(b, ctaID, binary.BigEndian.AppendUint32(nil, k.id))
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
