package model

import (
	"strconv"
	"time"
)

// InterfaceRole says how an interface takes part in Coverage.
type InterfaceRole string

// The roles of an interface.
const (
	// RoleCounted: its IP-layer bytes are the interface bytes coverage
	// compares bwmon's with.
	RoleCounted InterfaceRole = "counted"
	// RoleLoopback: the loopback, whose traffic never leaves the
	// namespace; not counted.
	RoleLoopback InterfaceRole = "loopback"
	// RolePort: a port of a bridge, bond or team; what reaches the IP
	// stack through it is counted on its master. Not counted.
	RolePort InterfaceRole = "port"
	// RoleStacked: a VLAN or macvlan on a lower device of the same
	// namespace, whose counters hold its frames too. Not counted.
	RoleStacked InterfaceRole = "stacked"
)

// InterfaceTick is what one interface moved during a tick, as a monitor
// read it from the kernel's link statistics.
type InterfaceTick struct {
	// Index is the interface's index in its namespace.
	Index int32
	// Name is the kernel's name of the interface, not clean: the
	// aggregator cleans it.
	Name string
	// Kind is the kind of link ("veth", "bridge", "vlan", "tun",
	// "wireguard"; "device" for a physical one, "loopback").
	Kind string
	Role InterfaceRole
	// LinkIn and LinkOut are the bytes the interface's counters added,
	// PacketsIn and PacketsOut their packets; IPIn and IPOut the IP-layer
	// bytes: the link bytes less the link header the kernel counts for
	// this kind of link, per packet. IPEstimated says that rule is an
	// estimate for this kind.
	LinkIn, LinkOut       uint64
	PacketsIn, PacketsOut uint64
	IPIn, IPOut           uint64
	IPEstimated           bool
}

// LinkTick is what a monitor read, during one tick, of the network
// interfaces of the namespace it watches, and which of the bytes it
// counted crossed them.
type LinkTick struct {
	// NetNS labels the namespace: "" for the agent's own, else the
	// monitor's netns setting.
	NetNS string
	// NetNSID tells namespaces apart (the namespace's inode): two
	// monitors of one namespace report the same interfaces.
	NetNSID uint64
	// Interfaces are the namespace's interfaces, each with what it moved
	// during the tick.
	Interfaces []InterfaceTick
	// AccountedIn and AccountedOut are the bytes of the tick that the
	// monitor counted (for an app, a forwarded pair, an unattributed
	// reason or another namespace's table) as they crossed the
	// namespace's interfaces: none for a flow between two of its own
	// addresses (over the loopback), its bytes in and out once for a
	// flow with one local end, and each byte once in and once out for a
	// flow it routed (in on one interface, out on another).
	AccountedIn, AccountedOut uint64
}

// MaxInterfaces bounds the interfaces a Snapshot lists by name; the
// others are folded into one line named OtherApp. A host of containers
// has a veth per container.
const MaxInterfaces = 64

// Interface is one interface's line in a Snapshot.
type Interface struct {
	// Name is the interface's name as safename.Clean makes it; OtherApp
	// on the line of the interfaces beyond MaxInterfaces.
	Name string `json:"name"`
	// NetNS is the namespace's label when it is not the agent's own.
	NetNS string        `json:"netns,omitempty"`
	Kind  string        `json:"kind"`
	Role  InterfaceRole `json:"role"`
	// BytesIn and BytesOut are IP-layer bytes since Since, RateIn and
	// RateOut their rate over the last tick; the link-layer figures and
	// the packets are beside them.
	BytesIn      uint64  `json:"bytes_in"`
	BytesOut     uint64  `json:"bytes_out"`
	RateIn       float64 `json:"rate_in"`
	RateOut      float64 `json:"rate_out"`
	LinkBytesIn  uint64  `json:"link_bytes_in"`
	LinkBytesOut uint64  `json:"link_bytes_out"`
	LinkRateIn   float64 `json:"link_rate_in"`
	LinkRateOut  float64 `json:"link_rate_out"`
	PacketsIn    uint64  `json:"packets_in"`
	PacketsOut   uint64  `json:"packets_out"`
	// IPEstimated says the IP-layer figure is an estimate for this kind
	// of link (see docs/design.md).
	IPEstimated bool `json:"ip_estimated,omitempty"`
	// Since is when its counting began: the agent's first read of the
	// interface, or its appearance.
	Since time.Time `json:"since"`
	// Folded is, on the OtherApp line only, how many interfaces it holds.
	Folded int `json:"folded,omitempty"`
}

// Coverage is how much of the traffic of the watched namespaces'
// interfaces bwmon accounted for. Its own figures are those of the last
// tick; Last15m, Last24h and Total are over longer spans.
type Coverage struct {
	CoverageSpan
	Last15m CoverageSpan `json:"last_15m"`
	Last24h CoverageSpan `json:"last_24h"`
	// Total is since the agent started.
	Total CoverageSpan `json:"total"`
}

// CoverageSpan is coverage over a span of time.
type CoverageSpan struct {
	// In and Out are AccountedBytes over InterfaceBytes, per direction;
	// nil when the interfaces moved no byte. They may pass 1 (see
	// docs/design.md).
	In  *float64 `json:"in"`
	Out *float64 `json:"out"`
	// InterfaceBytesIn and InterfaceBytesOut are the IP-layer bytes of
	// the counted interfaces (RoleCounted) within the span;
	// AccountedBytesIn and AccountedBytesOut what bwmon accounted of them
	// (LinkTick).
	InterfaceBytesIn  uint64 `json:"interface_bytes_in"`
	InterfaceBytesOut uint64 `json:"interface_bytes_out"`
	AccountedBytesIn  uint64 `json:"accounted_bytes_in"`
	AccountedBytesOut uint64 `json:"accounted_bytes_out"`
	// SpanS is how many seconds the figures cover: less than the span's
	// length while the agent is younger.
	SpanS float64 `json:"span_s"`
}

// String says the span's shares for people: "in 99.3% out 99.9%", with
// "–" for a direction whose interfaces moved nothing.
func (s CoverageSpan) String() string {
	pct := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return strconv.FormatFloat(100**p, 'f', 1, 64) + "%"
	}
	return "in " + pct(s.In) + " out " + pct(s.Out)
}

// Ratio returns accounted over iface, or nil when iface is 0.
func Ratio(accounted, iface uint64) *float64 {
	if iface == 0 {
		return nil
	}
	r := float64(accounted) / float64(iface)
	return &r
}
