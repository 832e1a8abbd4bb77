package sockbpf

import (
	"errors"
	"net/netip"
)

// ErrUnsupported is wrapped by Open's error when the host cannot run the
// programs (no cgroup v2, no CAP_BPF/CAP_PERFMON, a kernel too old or
// locked down, the verifier's refusal, another OS), as opposed to a bug.
var ErrUnsupported = errors.New("eBPF socket accounting is not available")

// Limits of Options.MaxSockets.
const (
	DefaultMaxSockets = 131072  // 16.5 MiB of kernel memory (128 bytes a slot, 4 an index entry)
	MinMaxSockets     = 64      // below this Open raises it
	MaxMaxSockets     = 1 << 22 // 512 MiB: above this Open lowers it
)

// Socket is one socket's owner and counters as the kernel recorded them.
type Socket struct {
	Cookie      uint64 // the kernel's socket cookie (sock_diag's idiag_cookie too)
	PID         int    // tgid of the process that created it (accepted: the listener's creator; 0: unknown)
	Comm        string // comm at creation (raw bytes, not sanitised)
	NetNSCookie uint64 // bpf_get_netns_cookie of the socket's namespace (0 if unknown)
	// Family is AF_INET or AF_INET6: the family of the packets once one was
	// seen (a v4-mapped IPv6 socket reports AF_INET), else the socket's.
	Family uint8
	// Type is the socket's type: SOCK_STREAM, SOCK_DGRAM or SOCK_RAW (0:
	// unknown). A kernel TCP or UDP socket (WireGuard's, NFS's) is a
	// stream or datagram socket; the kernel's control sockets that send
	// resets and echo replies are raw.
	Type  uint8
	Proto uint8 // IPPROTO_TCP, UDP, ICMP, ICMPV6 or a raw socket's protocol
	// Local and Remote are taken from the socket's packets: the first in
	// each direction and every 1024th after it. Zero until the first packet.
	Local, Remote netip.AddrPort
	// BytesIn and BytesOut count IP-layer bytes (skb->len at cgroup_skb, the
	// layer conntrack counts), cumulative since the socket's creation or
	// since the programs first saw it.
	BytesIn, BytesOut uint64
	// PacketsIn and PacketsOut count packets (GSO/GRO super-packets as
	// one), exactly while one CPU at a time sends or receives on the
	// socket; two CPUs racing on one socket may each lose a count (a plain
	// increment keeps the kernel's cost at one locked add a packet, for
	// the bytes, which are always exact).
	PacketsIn, PacketsOut uint64
	// TupleSeq changes whenever Local and Remote may have changed since
	// the last Read that reported the socket (0: no packet yet): a reader
	// keeping what it derived from them looks at them again only then.
	TupleSeq uint32
	// Listener: a listening TCP socket. It counts the handshakes (SYN in,
	// SYN-ACK out, the first ACK in) of the connections it accepts; its
	// Remote is zero.
	Listener bool
	// Adopted: the socket existed before the programs were attached; its
	// owner is unknown (PID 0) and its counters start at its first packet
	// seen.
	Adopted bool
	// Closed: these are its final counters (the socket was released, or a
	// TCP socket reached CLOSE); it will not be reported again.
	Closed bool
	// Late, on a closed TCP socket: it closed before its peer's FIN (it
	// went on as a time-wait socket in FIN-WAIT-2, as an orphan does once
	// its own FIN is acknowledged), so the peer's FIN and the ACK that
	// answers it pass after these final counters, where no program sees
	// them (conntrack's counters of the flow do). Only on Linux 6.2 and
	// later (bpf_cast_to_kern_ctx); false elsewhere.
	Late bool
	// Overflow: not a socket, but the bytes of the sockets of one creator
	// (PID, Comm; 0 for those the programs found no room for even there)
	// in namespace NetNSCookie that found the map full, cumulative: they
	// are counted, if not each on its own. Cookie is 0, Slot -1.
	Overflow bool
	// Slot is where the kernel keeps the socket's counters while it lives
	// (stable for its life, reused after it); in a close record, the slot
	// it left. A reader may keep its own per-socket state by Slot, checking
	// Cookie: a Read reports a slot's close record after the live socket
	// that took the slot since, if any.
	Slot int
}

// Options configure Open.
type Options struct {
	// CgroupPath is the cgroup v2 directory to attach to; "" finds the
	// root of the cgroup v2 hierarchy in /proc/self/mountinfo, which covers
	// every process on the host, containers included.
	CgroupPath string
	// MaxSockets is the number of sockets counted at once (the slots map);
	// 0 is DefaultMaxSockets. Each costs 128 bytes of kernel memory (and
	// 4 to 8 bytes of the packets' index, a power of two of entries). A
	// socket created while all are taken is not counted (Stats.MapFull).
	MaxSockets int
}

// Stats is never silent about loss.
type Stats struct {
	Live     int    // sockets in the map at the last Read
	MapFull  uint64 // sockets that found the map full (their bytes are not counted here)
	RingLost uint64 // close records the ring buffer could not take (kept in the map until Read instead: not lost)
	Closed   uint64 // close records read
	Adopted  uint64 // sockets first seen at a packet (older than the programs; PID 0)
	// NoStorage counts sockets the kernel could not give socket-local
	// storage (out of memory): not counted here.
	NoStorage uint64
}
