package links

import "github.com/bwmon/bwmon/model"

// Link types (ARPHRD_*, linux/if_arp.h).
const (
	arphrdEther    = 1
	arphrdPPP      = 512
	arphrdRawIP    = 519
	arphrdTunnel   = 768
	arphrdTunnel6  = 769
	arphrdLoopback = 772
	arphrdSit      = 776
	arphrdIPGRE    = 778
	arphrdIP6GRE   = 823
	arphrdNone     = 0xfffe
)

// ethHeader is an Ethernet header without a VLAN tag (ETH_HLEN).
const ethHeader = 14

// Overhead is what an interface's byte counters hold above the IP packet,
// per packet, in each direction: the IP-layer bytes are the link bytes
// less Overhead times the packets.
type Overhead struct {
	In, Out uint64
	// Estimated says the rule is not exact for this kind of link: its
	// counters depend on the driver or hold a variable part (padding),
	// or the kind is not known here.
	Estimated bool
}

// kindOverheads are the rules for virtual links, by IFLA_INFO_KIND, as
// this kernel counts them (Linux 6.18; measured in namespaces where
// marked, else read in the kernel's source). Where a driver counts the
// frame before eth_type_trans pulls the Ethernet header, the header is in;
// where it counts after, it is not.
var kindOverheads = map[string]Overhead{
	// Measured: 1028-byte IP packets read 1042 in both directions.
	"veth": {ethHeader, ethHeader, false},
	// Measured: a bridge's receive counter (br_pass_frame_up) counts
	// after the header is pulled, its transmit counter before.
	"bridge": {0, ethHeader, false},
	// Source: vlan_do_receive counts skb->len after the header is pulled;
	// vlan_dev_hard_start_xmit counts the frame with its header (the tag
	// travels out of band).
	"vlan": {0, ethHeader, false},
	// Measured (transmit); source (macvlan_handle_frame adds ETH_HLEN).
	"macvlan": {ethHeader, ethHeader, false},
	"macvtap": {ethHeader, ethHeader, false},
	// The sum of their ports' counters: Ethernet frames.
	"bond": {ethHeader, ethHeader, false},
	"team": {ethHeader, ethHeader, false},
	// Tunnels count the inner IP packet (iptunnel_xmit_stats, and the
	// receive path after decapsulation).
	"ipip": {0, 0, false}, "sit": {0, 0, false}, "ip6tnl": {0, 0, false},
	"gre": {0, 0, false}, "ip6gre": {0, 0, false}, "vti": {0, 0, false}, "vti6": {0, 0, false},
	// Source: WireGuard counts the encrypted message on receive, 32
	// bytes (header and tag) above the IP packet padded to 16 bytes;
	// taken as 32 both ways, the padding left in.
	"wireguard": {32, 32, true},
	// Ethernet over UDP or GRE: the inner frame; not measured here.
	"vxlan": {0, ethHeader, true}, "geneve": {0, ethHeader, true}, "gretap": {0, ethHeader, true},
	"ip6gretap": {0, ethHeader, true}, "ipvlan": {0, 0, true}, "ipvtap": {0, 0, true},
}

// OverheadOf returns the rule for link l. tun devices (kind "tun") are
// told apart by type: a tun (no header; measured) or a tap (Ethernet).
func OverheadOf(l *Link) Overhead {
	if l.Type == arphrdLoopback || l.Flags&iffLoopback != 0 {
		// Measured: loopback_xmit counts after eth_type_trans, so its
		// counters hold the IP packets alone.
		return Overhead{}
	}
	if o, ok := kindOverheads[l.Kind]; ok {
		return o
	}
	switch l.Type {
	case arphrdEther:
		// A physical NIC, a tap: Ethernet frames as the driver counts
		// them (a few drivers add the 4-byte FCS).
		return Overhead{ethHeader, ethHeader, l.Kind != "" && l.Kind != "tun"}
	case arphrdNone, arphrdPPP, arphrdRawIP, arphrdTunnel, arphrdTunnel6, arphrdSit, arphrdIPGRE, arphrdIP6GRE:
		// A tun (measured: the IP packets alone), PPP, a raw-IP modem, an
		// IP tunnel: no link header counted.
		return Overhead{Estimated: l.Kind != "" && l.Kind != "tun"}
	}
	return Overhead{Estimated: true}
}

// IP returns the IP-layer bytes of link bytes carried in packets, for a
// link whose counters hold overhead bytes above each IP packet; never
// below zero (a driver that counts less than the rule says).
func IP(bytes, packets, overhead uint64) uint64 {
	if overhead != 0 && packets > bytes/overhead {
		return 0
	}
	return bytes - packets*overhead
}

// masterPorts are the kinds of masters whose ports hand their frames up
// to the master, which counts what reaches the IP stack. A VRF's ports
// are not such: they carry the IP traffic themselves.
var masterPorts = map[string]bool{"bridge": true, "bond": true, "team": true, "openvswitch": true}

// stackedKinds are the kinds of link stacked on a lower device whose own
// counters hold their frames as well.
var stackedKinds = map[string]bool{"vlan": true, "macvlan": true, "macvtap": true, "ipvlan": true, "ipvtap": true, "macsec": true}

// RoleOf says how l takes part in coverage among the links of its
// namespace, byIndex.
func RoleOf(l *Link, byIndex map[int32]*Link) model.InterfaceRole {
	switch {
	case l.Type == arphrdLoopback || l.Flags&iffLoopback != 0:
		return model.RoleLoopback
	case l.Master != 0 && byIndex[l.Master] != nil && masterPorts[byIndex[l.Master].Kind]:
		return model.RolePort
	case stackedKinds[l.Kind] && l.Parent != 0 && !l.ParentElsewhere && l.Parent != l.Index && byIndex[l.Parent] != nil:
		return model.RoleStacked
	}
	return model.RoleCounted
}
