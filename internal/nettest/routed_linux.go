package nettest

import (
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Routed is three namespaces in a row, Inside — Gateway — Outside, the
// gateway routing between its two links: a container host and its
// container, or a router and a LAN host on one side and the rest of the
// world on the other.
type Routed struct {
	Inside, Gateway, Outside string
	// InsideDev and OutsideDev are the gateway's interfaces towards each.
	InsideDev, OutsideDev   string
	InsideIP, GatewayInIP   netip.Addr // 10.78.1.0/24
	GatewayOutIP, OutsideIP netip.Addr // 10.78.2.0/24
}

// NewRouted builds the three namespaces, with forwarding on in the gateway
// and routes both ways, so that Inside and Outside reach each other with
// no NAT.
func NewRouted(tb testing.TB) *Routed {
	tb.Helper()
	RequireRoot(tb)
	r := &Routed{
		Inside: NewNetNS(tb), Gateway: NewNetNS(tb), Outside: NewNetNS(tb),
		InsideIP: netip.MustParseAddr("10.78.1.2"), GatewayInIP: netip.MustParseAddr("10.78.1.1"),
		GatewayOutIP: netip.MustParseAddr("10.78.2.1"), OutsideIP: netip.MustParseAddr("10.78.2.2"),
	}
	r.InsideDev, r.OutsideDev = r.Gateway+"i", r.Gateway+"o"
	link := func(gwDev, ns, dev string, gwIP, ip netip.Addr) {
		MustIP(tb, "link", "add", gwDev, "netns", r.Gateway, "type", "veth", "peer", "name", dev, "netns", ns)
		MustIP(tb, "-n", r.Gateway, "addr", "add", gwIP.String()+"/24", "dev", gwDev)
		MustIP(tb, "-n", ns, "addr", "add", ip.String()+"/24", "dev", dev)
		MustIP(tb, "-n", r.Gateway, "link", "set", gwDev, "up")
		MustIP(tb, "-n", ns, "link", "set", dev, "up")
	}
	link(r.InsideDev, r.Inside, r.Inside+"g", r.GatewayInIP, r.InsideIP)
	link(r.OutsideDev, r.Outside, r.Outside+"g", r.GatewayOutIP, r.OutsideIP)
	MustIP(tb, "-n", r.Inside, "route", "add", "default", "via", r.GatewayInIP.String())
	MustIP(tb, "-n", r.Outside, "route", "add", "10.78.1.0/24", "via", r.GatewayOutIP.String())
	MustExec(tb, "ip", "netns", "exec", r.Gateway, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	return r
}

// natTable is the gateway's nftables table of NAT rules.
const natTable = "bwmontest-nat"

// Masquerade makes the gateway hide the inside host behind its outside
// address, as Docker's default bridge network does for its containers.
func (r *Routed) Masquerade(tb testing.TB) {
	tb.Helper()
	r.nat(tb, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.OutsideDev)},
		&expr.Masq{},
	})
}

// ForwardPort makes the gateway forward TCP connections to its outside
// address's port to the inside host's toPort (DNAT), as a container's
// published port is.
func (r *Routed) ForwardPort(tb testing.TB, port, toPort uint16) {
	tb.Helper()
	in := r.InsideIP.As4()
	r.nat(tb, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.OutsideDev)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Immediate{Register: 1, Data: in[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(toPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	})
}

// nat adds a chain with one rule to the gateway's NAT table.
func (r *Routed) nat(tb testing.TB, hook *nftables.ChainHook, prio *nftables.ChainPriority, rule []expr.Any) {
	tb.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(NetNSFD(tb, r.Gateway)))
	if err != nil {
		tb.Fatalf("nftables in %s: %v", r.Gateway, err)
	}
	t := c.AddTable(&nftables.Table{Name: natTable, Family: nftables.TableFamilyIPv4})
	ch := c.AddChain(&nftables.Chain{Name: "nat" + hookName(hook), Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: rule})
	if err := c.Flush(); err != nil {
		tb.Fatalf("adding a NAT rule in %s: %v", r.Gateway, err)
	}
}

func hookName(h *nftables.ChainHook) string {
	if *h == *nftables.ChainHookPrerouting {
		return "pre"
	}
	return "post"
}

// ifname is an interface name as nftables compares it: NUL-padded to 16.
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// AddRemote gives the outside namespace one more address, a on its
// loopback, routed to from the gateway: a second remote host past the
// gateway, in another range than OutsideIP (a test-only range such as
// 198.18.0.0/15, the benchmarking one, stands for "the internet").
func (r *Routed) AddRemote(tb testing.TB, a netip.Addr) {
	tb.Helper()
	MustIP(tb, "-n", r.Outside, "addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", "lo")
	MustIP(tb, "-n", r.Gateway, "route", "add", netip.PrefixFrom(a, a.BitLen()).String(), "via", r.OutsideIP.String())
}
