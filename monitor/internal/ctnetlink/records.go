package ctnetlink

import "net/netip"

// Rec is what bwmon keeps of one conntrack entry. It is a value (no
// pointers but netip's), so a dump of 100,000 flows fills one reused slice
// instead of allocating 100,000 decoded objects.
type Rec struct {
	ID    uint32
	Proto uint8
	// ICMP says the tuples' ports hold the ICMP echo ID (SPort) and
	// type<<8|code (DPort).
	ICMP        bool
	Orig, Reply Tuple
	// OrigBytes and ReplyBytes are the IP-layer bytes each direction
	// carried (headers included), 0 unless net.netfilter.nf_conntrack_acct.
	OrigBytes  uint64
	ReplyBytes uint64
	// Done: a TCP connection in TIME_WAIT or CLOSE, which carries no more
	// data (its DESTROY event brings its last counters).
	Done bool
}

// Tuple is one direction of a conntrack entry.
type Tuple struct {
	Src, Dst     netip.Addr
	SPort, DPort uint16
}

// Key identifies a conntrack entry: its ID and original tuple, so that a
// reused ID on another tuple is another flow. It holds no pointer
// (netip.Addr has one): a map of 100,000 keys is then 48-byte slots the
// garbage collector never scans.
type Key struct {
	src, dst     [16]byte // IPv4 addresses in IPv4-mapped form when v4
	id           uint32
	sport, dport uint16
	proto        uint8
	v4           bool
}

// KeyOf returns r's key.
func KeyOf(r *Rec) Key {
	o := &r.Orig
	return Key{id: r.ID, proto: r.Proto, src: o.Src.As16(), dst: o.Dst.As16(), v4: o.Src.Is4(), sport: o.SPort, dport: o.DPort}
}

// Hash spreads keys over workers: the events of one flow always go to
// the same one.
func (k *Key) Hash() uint32 { return k.id ^ uint32(k.sport)<<16 ^ uint32(k.dport) }
