package owners

import (
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// fakePeers answers FindSockets from a map.
type fakePeers map[netip.Addr][]*sockets.Namespace

func (f fakePeers) FindSockets(a netip.Addr, _ func() []int) []*sockets.Namespace { return f[a] }
func (fakePeers) Kick()                                                           {}

// unreadableNS is a namespace bwmon may neither enter nor read.
type unreadableNS struct{}

func (unreadableNS) DialDiag() (*sockets.Diag, error) {
	return nil, errors.New("operation not permitted")
}
func (unreadableNS) ReadTable(string) ([]sockets.Socket, error) {
	return nil, errors.New("reading sockets of network namespace net:[1]: no process of it")
}

// TestResolveOuterReasons: a NATed flow whose inside address is held by a
// namespace bwmon cannot read is unattributed with that reason; one whose
// inside address no namespace holds is forwarded.
func TestResolveOuterReasons(t *testing.T) {
	inside := netip.MustParseAddr("172.31.9.9")
	unreadable := sockets.NewNamespace(1, unreadableNS{}, 1, sockets.NewCache(time.Now))
	r := &Resolver{peers: fakePeers{inside: {unreadable}}, now: time.Now, log: slog.New(slog.DiscardHandler)}
	e := &flows.Ends{Local: netip.AddrPortFrom(inside, 40000), Remote: netip.MustParseAddrPort("192.0.2.1:443"), Outer: true, NAT: true}

	if _, ok := r.ResolveOuter(unix.IPPROTO_TCP, e, flows.Tick); ok {
		t.Errorf("answered before the last attempt")
	}
	info, ok := r.ResolveOuter(unix.IPPROTO_TCP, e, flows.Final)
	if !ok || info.Unattributed != model.ReasonUnreadableNamespace {
		t.Errorf("unreadable namespace: %+v %v, want reason %s", info, ok, model.ReasonUnreadableNamespace)
	}

	lan := &flows.Ends{Local: netip.MustParseAddrPort("192.168.1.20:5000"), Remote: e.Remote, Outer: true, NAT: true}
	info, ok = r.ResolveOuter(unix.IPPROTO_TCP, lan, flows.Final)
	if !ok || info.Forwarded == nil || info.Forwarded.Inside != lan.Local.Addr() || info.Forwarded.Remote != lan.Remote.Addr() {
		t.Errorf("masqueraded LAN host: %+v %v, want forwarded %s -> %s", info, ok, lan.Local.Addr(), lan.Remote.Addr())
	}
	routed := &flows.Ends{Local: netip.AddrPortFrom(inside, 1), Remote: e.Remote, Outer: true}
	info, ok = r.ResolveOuter(unix.IPPROTO_TCP, routed, flows.Quick)
	if !ok || info.Forwarded == nil {
		t.Errorf("routed flow: %+v %v, want forwarded at once", info, ok)
	}
}
