package links

import (
	"testing"

	"github.com/bwmon/bwmon/model"
)

// TestOverheadOf: the link header each kind of link counts, per direction,
// and the IP-layer bytes that leaves of 10 packets of 1028-byte IP packets.
func TestOverheadOf(t *testing.T) {
	tests := []struct {
		name        string
		link        Link
		in, out     uint64 // link bytes of the 10 packets
		ipIn, ipOut uint64
		estimated   bool
	}{
		{name: "physical Ethernet", link: Link{Type: arphrdEther}, in: 10420, out: 10420, ipIn: 10280, ipOut: 10280},
		{name: "veth (measured)", link: Link{Type: arphrdEther, Kind: "veth"}, in: 10420, out: 10420, ipIn: 10280, ipOut: 10280},
		{name: "bridge: receive after the header is pulled (measured)", link: Link{Type: arphrdEther, Kind: "bridge"}, in: 10280, out: 10420, ipIn: 10280, ipOut: 10280},
		{name: "vlan: the same, by the kernel's source", link: Link{Type: arphrdEther, Kind: "vlan"}, in: 10280, out: 10420, ipIn: 10280, ipOut: 10280},
		{name: "loopback: no header (measured)", link: Link{Type: arphrdLoopback, Flags: iffLoopback}, in: 10280, out: 10280, ipIn: 10280, ipOut: 10280},
		{name: "tun: no header (measured)", link: Link{Type: arphrdNone, Kind: "tun"}, in: 10280, out: 10280, ipIn: 10280, ipOut: 10280},
		{name: "tap: Ethernet", link: Link{Type: arphrdEther, Kind: "tun"}, in: 10420, out: 10420, ipIn: 10280, ipOut: 10280},
		{name: "wireguard: an estimate", link: Link{Type: arphrdNone, Kind: "wireguard"}, in: 10600, out: 10600, ipIn: 10280, ipOut: 10280, estimated: true},
		{name: "an unknown kind of Ethernet link: an estimate", link: Link{Type: arphrdEther, Kind: "dummy"}, in: 10420, out: 10420, ipIn: 10280, ipOut: 10280, estimated: true},
		{name: "an unknown type: the link bytes, an estimate", link: Link{Type: 32}, in: 10420, out: 10420, ipIn: 10420, ipOut: 10420, estimated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := OverheadOf(&tt.link)
			if in, out := IP(tt.in, 10, o.In), IP(tt.out, 10, o.Out); in != tt.ipIn || out != tt.ipOut || o.Estimated != tt.estimated {
				t.Errorf("IP in %d, out %d, estimated %v; want %d, %d, %v", in, out, o.Estimated, tt.ipIn, tt.ipOut, tt.estimated)
			}
		})
	}
}

func TestIP(t *testing.T) {
	tests := []struct {
		name                     string
		bytes, packets, overhead uint64
		want                     uint64
	}{
		{name: "headers off", bytes: 1042, packets: 1, overhead: 14, want: 1028},
		{name: "no header", bytes: 1028, packets: 1, overhead: 0, want: 1028},
		{name: "fewer bytes than headers: zero, not a wrap", bytes: 10, packets: 1, overhead: 14, want: 0},
		{name: "packets that would overflow", bytes: 100, packets: 1 << 62, overhead: 14, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IP(tt.bytes, tt.packets, tt.overhead); got != tt.want {
				t.Errorf("IP = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRoleOf(t *testing.T) {
	links := []Link{
		{Index: 1, Name: "lo", Type: arphrdLoopback, Flags: iffLoopback},
		{Index: 2, Name: "eth0", Type: arphrdEther},
		{Index: 3, Name: "docker0", Type: arphrdEther, Kind: "bridge"},
		{Index: 4, Name: "veth1", Type: arphrdEther, Kind: "veth", Master: 3, Parent: 2, ParentElsewhere: true},
		{Index: 5, Name: "eth0.10", Type: arphrdEther, Kind: "vlan", Parent: 2},
		{Index: 6, Name: "vrf-blue", Type: arphrdEther, Kind: "vrf"},
		{Index: 7, Name: "eth1", Type: arphrdEther, Master: 6},
		{Index: 8, Name: "mv0", Type: arphrdEther, Kind: "macvlan", Parent: 99},
		{Index: 9, Name: "veth2", Type: arphrdEther, Kind: "veth", Parent: 4, ParentElsewhere: true},
	}
	by := map[int32]*Link{}
	for i := range links {
		by[links[i].Index] = &links[i]
	}
	want := map[string]model.InterfaceRole{
		"lo": model.RoleLoopback, "eth0": model.RoleCounted, "docker0": model.RoleCounted, "veth1": model.RolePort,
		"eth0.10": model.RoleStacked, "vrf-blue": model.RoleCounted, "eth1": model.RoleCounted,
		"mv0":   model.RoleCounted, // its lower is not in this namespace
		"veth2": model.RoleCounted,
	}
	for i := range links {
		t.Run(links[i].Name, func(t *testing.T) {
			if got := RoleOf(&links[i], by); got != want[links[i].Name] {
				t.Errorf("role %q, want %q", got, want[links[i].Name])
			}
		})
	}
}
