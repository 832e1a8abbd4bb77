package links

import (
	"encoding/binary"
	"testing"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// linkMsg builds an RTM_NEWLINK payload: an ifinfomsg, then attrs.
func linkMsg(typ uint16, index int32, flags uint32, attrs ...[]byte) []byte {
	b := make([]byte, ifinfomsgLen)
	binary.NativeEndian.PutUint16(b[2:], typ)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func attr(typ uint16, v []byte) []byte { return nlconn.AppendAttr(nil, typ, v) }

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func kind(k string) []byte { return attr(iflaLinkinfo, attr(iflaInfoKind, append([]byte(k), 0))) }

// statsMsg builds an RTM_NEWSTATS payload with IFLA_STATS_LINK_64.
func statsMsg(index int32, c Counters) []byte {
	b := make([]byte, ifStatsMsgLen)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	s := make([]byte, 24*8) // struct rtnl_link_stats64 has more fields
	binary.NativeEndian.PutUint64(s[0:], c.PacketsIn)
	binary.NativeEndian.PutUint64(s[8:], c.PacketsOut)
	binary.NativeEndian.PutUint64(s[16:], c.BytesIn)
	binary.NativeEndian.PutUint64(s[24:], c.BytesOut)
	return append(b, attr(iflaStatsLink64, s)...)
}

func TestParseLink(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    Link
		ok      bool
	}{
		{name: "loopback", payload: linkMsg(arphrdLoopback, 1, iffUp|iffLoopback, attr(iflaIfname, []byte("lo\x00"))),
			want: Link{Index: 1, Name: "lo", Type: arphrdLoopback, Flags: iffUp | iffLoopback}, ok: true},
		{name: "a veth in a bridge, its peer in another namespace",
			payload: linkMsg(arphrdEther, 7, iffUp, attr(iflaIfname, []byte("veth1a2b\x00")), attr(iflaMaster, u32(3)),
				attr(iflaLink, u32(2)), attr(iflaLinkNetnsid, u32(0)), kind("veth")),
			want: Link{Index: 7, Name: "veth1a2b", Type: arphrdEther, Flags: iffUp, Kind: "veth", Master: 3, Parent: 2, ParentElsewhere: true}, ok: true},
		{name: "a name of hostile bytes is kept as data, cut at 64",
			payload: linkMsg(arphrdEther, 4, 0, attr(iflaIfname, append([]byte("\x1b[31m\xff\u202e"), make([]byte, 100)...))),
			want:    Link{Index: 4, Name: "\x1b[31m\xff\u202e", Type: arphrdEther}, ok: true},
		{name: "a name without its NUL", payload: linkMsg(arphrdNone, 9, 0, attr(iflaIfname, []byte("wg0")), kind("wireguard")),
			want: Link{Index: 9, Name: "wg0", Type: arphrdNone, Kind: "wireguard"}, ok: true},
		{name: "too short", payload: make([]byte, 10)},
		{name: "an attribute longer than the message", payload: append(linkMsg(arphrdEther, 5, 0), 0xff, 0x00, 0x03, 0x00), want: Link{Index: 5, Type: arphrdEther}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseLink(tt.payload)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseLink = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	c := Counters{BytesIn: 1 << 40, PacketsIn: 7, BytesOut: 3, PacketsOut: 1}
	tests := []struct {
		name    string
		payload []byte
		index   int32
		want    Counters
		ok      bool
	}{
		{name: "counters", payload: statsMsg(12, c), index: 12, want: c, ok: true},
		{name: "no IFLA_STATS_LINK_64", payload: make([]byte, ifStatsMsgLen)},
		{name: "stats too short", payload: append(make([]byte, ifStatsMsgLen), attr(iflaStatsLink64, make([]byte, 16))...)},
		{name: "too short", payload: make([]byte, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, got, ok := ParseStats(tt.payload)
			if ok != tt.ok || (ok && (i != tt.index || got != tt.want)) {
				t.Errorf("ParseStats = %d, %+v, %v; want %d, %+v, %v", i, got, ok, tt.index, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add(linkMsg(arphrdEther, 7, iffUp, attr(iflaIfname, []byte("eth0\x00")), attr(iflaMaster, u32(3)), kind("veth")))
	f.Add(make([]byte, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, _ := ParseLink(b)
		if len(l.Name) > maxNameLen || len(l.Kind) > maxKindLen {
			t.Fatalf("name %d bytes, kind %d: over the caps", len(l.Name), len(l.Kind))
		}
		OverheadOf(&l)
		RoleOf(&l, map[int32]*Link{l.Index: &l, l.Master: &l, l.Parent: &l})
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add(statsMsg(3, Counters{BytesIn: 100, PacketsIn: 1}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, c, ok := ParseStats(b)
		if !ok && c != (Counters{}) {
			t.Fatalf("not ok, yet counters %+v", c)
		}
		IP(c.BytesIn, c.PacketsIn, ethHeader)
	})
}
