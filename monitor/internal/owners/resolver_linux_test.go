package owners

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// fakeProcs knows holders by inode; holders in late are found only by a
// full scan.
type fakeProcs struct {
	holders map[uint64]*model.Process
	late    map[uint64]*model.Process
	scans   int
}

func (f *fakeProcs) Holder(inode uint64) *model.Process       { return f.holders[inode] }
func (f *fakeProcs) Known(inode uint64) bool                  { return f.holders[inode] != nil }
func (f *fakeProcs) OwnerQuick(inode uint64) *model.Process   { return f.holders[inode] }
func (f *fakeProcs) OwnerRefresh(inode uint64) *model.Process { return f.holders[inode] }
func (f *fakeProcs) OwnerByListener(uint64, uint64) *model.Process {
	return nil
}
func (f *fakeProcs) ProbeRecent()                {}
func (f *fakeProcs) ScanNewborns() int           { return 0 }
func (f *fakeProcs) FindYoung(inode uint64) bool { return f.Known(inode) }
func (f *fakeProcs) Young() []int                { return nil }
func (f *fakeProcs) FullScan() error {
	f.scans++
	for ino, p := range f.late {
		f.holders[ino] = p
	}
	return nil
}

// tables is a namespace without sock_diag whose /proc/net tables are
// given.
type tables map[string][]sockets.Socket

func (tables) DialDiag() (*sockets.Diag, error) { return nil, errors.New("no sock_diag here") }
func (t tables) ReadTable(name string) ([]sockets.Socket, error) {
	return t[name], nil
}

func sock(local, remote string, inode uint64) sockets.Socket {
	return sockets.Socket{Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), Inode: inode}
}

var (
	curl  = &model.Process{PID: 10, Exe: "/usr/bin/curl"}
	ping  = &model.Process{PID: 11, Exe: "/usr/bin/ping"}
	gre   = &model.Process{PID: 12, Exe: "/usr/sbin/gred"}
	local = netip.MustParseAddr("10.0.0.1")
)

// newResolver makes a resolver of a namespace with address 10.0.0.1 whose
// sockets are rows, held by the processes of procs.
func newResolver(t *testing.T, rows tables, procs *fakeProcs, clock *nettest.Clock) *Resolver {
	t.Helper()
	sk := sockets.NewNamespace(1, rows, 1, sockets.NewCache(clock.Now))
	t.Cleanup(func() { sk.Close() })
	r, err := New(Options{Sockets: sk, Procs: procs, Now: clock.Now,
		Addresses: func() ([]netip.Addr, error) { return []netip.Addr{local}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolve: an owner, or at the last attempt the reason there is none.
func TestResolve(t *testing.T) {
	rows := tables{
		"tcp":  {sock("10.0.0.1:40000", "192.0.2.1:443", 100), sock("10.0.0.1:40001", "192.0.2.1:443", 101)},
		"icmp": {sock("10.0.0.1:7", "0.0.0.0:0", 200)},
		"raw":  {sock("0.0.0.0:47", "0.0.0.0:0", 300)},
	}
	procs := &fakeProcs{holders: map[uint64]*model.Process{100: curl, 200: ping, 300: gre}}
	peer := netip.MustParseAddrPort("192.0.2.1:443")
	tests := []struct {
		name       string
		proto      uint8
		local      string
		level      flows.Level
		wantOK     bool
		wantProc   *model.Process
		wantReason model.Reason
	}{
		{"tcp, its process", unix.IPPROTO_TCP, "10.0.0.1:40000", flows.Tick, true, curl, ""},
		{"tcp, no process yet", unix.IPPROTO_TCP, "10.0.0.1:40001", flows.Tick, false, nil, ""},
		{"tcp, no process at last", unix.IPPROTO_TCP, "10.0.0.1:40001", flows.Final, true, nil, model.ReasonNoProcess},
		{"tcp, no socket yet", unix.IPPROTO_TCP, "10.0.0.1:40002", flows.Tick, false, nil, ""},
		{"tcp, no socket at last", unix.IPPROTO_TCP, "10.0.0.1:40002", flows.Final, true, nil, model.ReasonNoSocket},
		{"ping socket", unix.IPPROTO_ICMP, "10.0.0.1:7", flows.Tick, true, ping, ""},
		{"echo answered by the kernel", unix.IPPROTO_ICMP, "10.0.0.1:8", flows.Final, true, nil, model.ReasonKernel},
		{"raw socket", 47, "10.0.0.1:0", flows.Final, true, gre, ""},
		{"no raw socket", 50, "10.0.0.1:0", flows.Final, true, nil, model.ReasonNoSocket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, rows, procs, nettest.NewClock(time.Unix(1000, 0)))
			remote := peer
			if tt.proto != unix.IPPROTO_TCP {
				remote = netip.AddrPortFrom(peer.Addr(), 0)
			}
			info, ok := r.Resolve(tt.proto, netip.MustParseAddrPort(tt.local), remote, tt.level)
			if ok != tt.wantOK || info.Process != tt.wantProc || info.Unattributed != tt.wantReason {
				t.Errorf("Resolve = %+v, %v; want process %v, reason %q, ok %v", info, ok, tt.wantProc, tt.wantReason, tt.wantOK)
			}
		})
	}
}

// TestFullScanRate: an open socket that no process known holds makes the
// tick read every process's fds, at most every fullScanEvery.
func TestFullScanRate(t *testing.T) {
	clock := nettest.NewClock(time.Unix(1000, 0))
	rows := tables{"tcp": {sock("10.0.0.1:40000", "192.0.2.1:443", 100), sock("10.0.0.1:40001", "192.0.2.1:443", 101)}}
	procs := &fakeProcs{holders: map[uint64]*model.Process{}, late: map[uint64]*model.Process{100: curl}}
	r := newResolver(t, rows, procs, clock)
	peer := netip.MustParseAddrPort("192.0.2.1:443")
	if info, ok := r.Resolve(unix.IPPROTO_TCP, netip.MustParseAddrPort("10.0.0.1:40000"), peer, flows.Tick); !ok || info.Process != curl {
		t.Errorf("Resolve = %+v, %v; want curl found by a full scan", info, ok)
	}
	r.Resolve(unix.IPPROTO_TCP, netip.MustParseAddrPort("10.0.0.1:40001"), peer, flows.Tick)
	if procs.scans != 1 {
		t.Errorf("%d full scans within %s, want 1", procs.scans, fullScanEvery)
	}
	clock.Advance(fullScanEvery)
	r.Resolve(unix.IPPROTO_TCP, netip.MustParseAddrPort("10.0.0.1:40001"), peer, flows.Tick)
	if procs.scans != 2 {
		t.Errorf("%d full scans after %s, want 2", procs.scans, fullScanEvery)
	}
}

// TestIsLocal: loopback and the namespace's addresses, IPv4-mapped or not,
// read again every localEvery.
func TestIsLocal(t *testing.T) {
	clock := nettest.NewClock(time.Unix(1000, 0))
	addrs := []netip.Addr{local}
	sk := sockets.NewNamespace(1, tables{}, 1, sockets.NewCache(clock.Now))
	defer sk.Close()
	r, err := New(Options{Sockets: sk, Procs: &fakeProcs{}, Now: clock.Now,
		Addresses: func() ([]netip.Addr, error) { return addrs, nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1", "::ffff:10.0.0.1"} {
		if !r.IsLocal(netip.MustParseAddr(a)) {
			t.Errorf("%s is not local", a)
		}
	}
	second := netip.MustParseAddr("10.0.0.2")
	addrs = append(addrs, second)
	if err := r.RefreshLocal(); err != nil || r.IsLocal(second) {
		t.Errorf("read again within %s (%v)", localEvery, err)
	}
	clock.Advance(localEvery)
	if err := r.RefreshLocal(); err != nil || !r.IsLocal(second) {
		t.Errorf("%s not local after %s (%v)", second, localEvery, err)
	}
}
