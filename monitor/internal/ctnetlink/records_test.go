package ctnetlink_test

import (
	"net/netip"
	"testing"

	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// TestKeyOf: a key names an entry by its ID and original tuple; the
// reply tuple and the counters do not change it; IPv4 and its IPv4-mapped
// IPv6 form are two flows.
func TestKeyOf(t *testing.T) {
	base := ctnetlink.Rec{ID: 7, Proto: 6, OrigBytes: 1,
		Orig:  ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SPort: 40000, DPort: 80},
		Reply: ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), SPort: 80, DPort: 40000}}
	tests := []struct {
		name string
		edit func(r *ctnetlink.Rec)
		same bool
	}{
		{"counters", func(r *ctnetlink.Rec) { r.OrigBytes, r.ReplyBytes = 9, 9 }, true},
		{"reply tuple (NAT)", func(r *ctnetlink.Rec) { r.Reply.Src = netip.MustParseAddr("172.17.0.2") }, true},
		{"ID reused", func(r *ctnetlink.Rec) { r.ID = 8 }, false},
		{"source port", func(r *ctnetlink.Rec) { r.Orig.SPort++ }, false},
		{"destination", func(r *ctnetlink.Rec) { r.Orig.Dst = netip.MustParseAddr("10.0.0.3") }, false},
		{"protocol", func(r *ctnetlink.Rec) { r.Proto = 17 }, false},
		{"IPv4-mapped", func(r *ctnetlink.Rec) {
			r.Orig.Src = netip.AddrFrom16(r.Orig.Src.As16())
			r.Orig.Dst = netip.AddrFrom16(r.Orig.Dst.As16())
		}, false},
	}
	k := ctnetlink.KeyOf(&base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			k2 := ctnetlink.KeyOf(&r)
			if (k2 == k) != tt.same {
				t.Errorf("same key %v, want %v", k2 == k, tt.same)
			}
			if tt.same && k2.Hash() != k.Hash() {
				t.Errorf("same key, other hash")
			}
		})
	}
}
