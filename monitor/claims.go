package monitor

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Every byte once: the socket monitor counts the bytes of the sockets it
// sees, and the conntrack monitor must not count them again. The socket
// monitor claims the local end of each socket it counts (claims); the
// conntrack tables' resolver (claimResolver) settles a side whose end is
// claimed as counted elsewhere, so that its bytes are booked for the
// interfaces' coverage but for no owner.
//
// A claim outlives its socket by claimGrace: a connection that closed
// before its conntrack flow was first read (a sub-millisecond one) is
// still known when the flow's side is resolved, ticks later.

// claimGrace is how long the end of a closed socket stays claimed. It
// covers the conntrack table's longest wait before it resolves a side
// (tickAttempts ticks of up to 10 s between full dumps on a large table).
const claimGrace = 30 * time.Second

// claimKey is a socket's end as conntrack sees it; claims keep its
// claimID. A UDP socket
// is claimed by its local end alone: an unconnected one talks to many
// peers and reports only the last; ICMP and raw sockets by their
// addresses (conntrack's "ports" are the echo ID and type).
type claimKey struct {
	local, remote [16]byte
	lport, rport  uint16
	proto         uint8
}

// claimID is a claimKey's 64-bit hash: what the claims and each socket's
// state keep instead of the 38-byte key (at 100,000 sockets, 7 MB less).
// Two ends with one ID would make an unclaimed end look claimed (its bytes
// left to the socket monitor, which does not count them): with 100,000
// claims, once in 10^14 lookups; the seed is the agent's own, so a local
// user cannot pick ends that collide.
type claimID uint64

var claimSeed = maphash.MakeSeed()

// id returns k's claimID.
func (k claimKey) id() claimID {
	var b [37]byte
	copy(b[:16], k.local[:])
	copy(b[16:32], k.remote[:])
	binary.LittleEndian.PutUint16(b[32:], k.lport)
	binary.LittleEndian.PutUint16(b[34:], k.rport)
	b[36] = k.proto
	return claimID(maphash.Bytes(claimSeed, b[:]))
}

// idOf returns the claimID of an end of protocol proto.
func idOf(proto uint8, local, remote netip.AddrPort) claimID {
	return keyOf(proto, local, remote).id()
}

// keyOf returns the claim key of an end of protocol proto.
func keyOf(proto uint8, local, remote netip.AddrPort) claimKey {
	k := claimKey{proto: proto, local: local.Addr().Unmap().As16()}
	switch proto {
	case protoTCP:
		k.lport, k.rport, k.remote = local.Port(), remote.Port(), remote.Addr().Unmap().As16()
	case protoUDP, protoUDPLite:
		k.lport = local.Port()
	default:
		k.remote = remote.Addr().Unmap().As16()
	}
	return k
}

const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoICMPv6  = 58
	protoUDPLite = 136
)

// claim is one claimed end: how many live sockets hold it, and until when
// it stays claimed once none does.
type claim struct {
	live  int32
	until uint32 // unix seconds, rounded up; meaningful when live == 0
}

// claimChange is one change of a tick, applied under the lock in one go.
type claimChange struct {
	key  claimID
	live int32 // +1 a socket took the end, -1 it let go of it
}

// claims is the set of ends the socket monitor counts. It is safe for
// concurrent use: the socket monitor changes it once a tick (apply), the
// conntrack tables' resolvers read it from any goroutine (has).
type claims struct {
	mu  sync.RWMutex // guards m and expiry
	m   map[claimID]claim
	exp []expiring // ends let go of, oldest first
	// sure says whether an end not claimed yet but found to have a
	// socket is counted at the socket (the kernel's map had room for
	// every socket lately); see claimResolver.
	sure atomic.Bool
}

type expiring struct {
	key   claimID
	until uint32
}

func newClaims() *claims {
	c := &claims{m: map[claimID]claim{}}
	c.sure.Store(true)
	return c
}

// has reports whether the end is claimed.
func (c *claims) has(proto uint8, local, remote netip.AddrPort) bool {
	k := idOf(proto, local, remote)
	c.mu.RLock()
	_, ok := c.m[k]
	c.mu.RUnlock()
	return ok
}

// apply records a tick's changes at time now and forgets the ends let go
// of more than claimGrace ago.
func (c *claims) apply(changes []claimChange, now time.Time) {
	// Seconds: 8 bytes a claim with its count (48-byte map slots).
	t := uint32(now.Unix())
	until := uint32(now.Add(claimGrace + time.Second - 1).Unix())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		cl := c.m[ch.key]
		cl.live += ch.live
		if cl.live <= 0 {
			cl.live, cl.until = 0, until
			c.exp = append(c.exp, expiring{ch.key, until})
		}
		c.m[ch.key] = cl
	}
	n := 0
	for ; n < len(c.exp) && c.exp[n].until <= t; n++ {
		e := c.exp[n]
		if cl, ok := c.m[e.key]; ok && cl.live == 0 && cl.until <= t {
			delete(c.m, e.key)
		}
	}
	if n > 0 {
		c.exp = append(c.exp[:0], c.exp[n:]...)
	}
}

// hold claims ends not claimed yet, for claimGrace from now: those of
// sockets the socket monitor will count once it takes them on. An end
// claimed already stays as it is (a list made again every few seconds
// adds no expiry entries).
func (c *claims) hold(ends []claimID, now time.Time) {
	if len(ends) == 0 {
		return
	}
	until := uint32(now.Add(claimGrace + time.Second - 1).Unix())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range ends {
		if _, ok := c.m[k]; ok {
			continue
		}
		c.m[k] = claim{until: until}
		c.exp = append(c.exp, expiring{k, until})
	}
}

// len is the number of ends claimed.
func (c *claims) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
