package monitor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// fakeSource hands out, at each Read, the next list of sockets, each at a
// slot of its own (by cookie) unless the test gave it one.
type fakeSource struct {
	reads [][]sockbpf.Socket
	st    sockbpf.Stats
	slots map[uint64]int
	exes  map[int]string // recorded executable names by PID (any comm)
}

func (f *fakeSource) Read(fn func(*sockbpf.Socket)) error {
	if len(f.reads) == 0 {
		return nil
	}
	if f.slots == nil {
		f.slots = map[uint64]int{}
	}
	for i := range f.reads[0] {
		k := &f.reads[0][i]
		if k.Slot == 0 {
			slot, ok := f.slots[k.Cookie]
			if !ok {
				slot = len(f.slots) + 1
				f.slots[k.Cookie] = slot
			}
			k.Slot = slot
		}
		fn(k)
	}
	f.reads = f.reads[1:]
	return nil
}
func (f *fakeSource) ExeName(pid int, comm string) string { return f.exes[pid] }
func (f *fakeSource) Stats() sockbpf.Stats                { return f.st }
func (f *fakeSource) Close() error                        { return nil }

// collectTicks runs n ticks of s a second apart from time 1000, into one
// collection, and returns each key's bytes in and out.
func collectTicks(t *testing.T, s *socketCounter, n int) map[model.Key][2]uint64 {
	t.Helper()
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	for range n {
		if err := s.collect(c, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	got := map[model.Key][2]uint64{}
	for _, e := range c.Entries() {
		got[e.Key] = [2]uint64{e.BytesIn, e.BytesOut}
	}
	return got
}

type procsFunc func(pid int) *model.Process

func (f procsFunc) Process(pid int) *model.Process { return f(pid) }

// ForkedSince: any process may have forked (its sockets' holders are
// looked for).
func (f procsFunc) ForkedSince(int, time.Time) bool { return true }

func (f procsFunc) HolderPID(uint64) (int, bool) { return 0, false }
func (f procsFunc) Refresh() error               { return nil }

// holderResolver answers every socket with one process (the inode holder).
type holderResolver struct {
	p     *model.Process
	calls int
}

func (h *holderResolver) IsLocal(a netip.Addr) bool { return true }
func (h *holderResolver) Resolve(proto uint8, local, remote netip.AddrPort, level flows.Level) (model.Info, bool) {
	h.calls++
	if h.p == nil {
		return model.Info{}, level == flows.Final
	}
	return model.Info{Process: h.p}, true
}
func (h *holderResolver) ResolveOuter(proto uint8, e *flows.Ends, level flows.Level) (model.Info, bool) {
	return h.Resolve(proto, e.Local, e.Remote, level)
}

var (
	tLocal  = netip.MustParseAddrPort("10.0.0.1:40000")
	tRemote = netip.MustParseAddrPort("10.0.0.2:80")
)

func TestSocketCounter(t *testing.T) {
	curl := &model.Process{PID: 100, StartTime: 1, Comm: "curl", Exe: "/usr/bin/curl"}
	daemon := &model.Process{PID: 200, StartTime: 2, Comm: "daemon", Exe: "/usr/sbin/daemon"}
	procs := procsFunc(func(pid int) *model.Process {
		switch pid {
		case 100:
			return curl
		case 1:
			return &model.Process{PID: 1, Comm: "systemd", Exe: "/sbin/init"}
		}
		return nil
	})
	sock := func(cookie uint64, pid int, comm string, in, out uint64, closed bool) sockbpf.Socket {
		return sockbpf.Socket{Cookie: cookie, PID: pid, Comm: comm, NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: in, BytesOut: out, Closed: closed}
	}
	for _, tc := range []struct {
		name   string
		reads  [][]sockbpf.Socket
		holder *model.Process
		want   map[model.Key][2]uint64 // in, out over all ticks
	}{
		{"creator, counted by deltas", [][]sockbpf.Socket{
			{sock(1, 100, "curl", 100, 200, false)},
			{sock(1, 100, "curl", 150, 300, true)},
		}, nil, map[model.Key][2]uint64{model.KeyProcess(curl): {150, 300}}},
		{"gone between ticks: closed at first sight", [][]sockbpf.Socket{
			{sock(2, 100, "curl", 1000, 2000, true)},
		}, nil, map[model.Key][2]uint64{model.KeyProcess(curl): {1000, 2000}}},
		{"pid 0: the inode holder", [][]sockbpf.Socket{
			{sock(3, 0, "", 10, 20, false)},
		}, daemon, map[model.Key][2]uint64{model.KeyProcess(daemon): {10, 20}}},
		{"pid 0, nobody holds it (the kernel's reset): left to conntrack", [][]sockbpf.Socket{
			{sock(10, 0, "", 10, 20, false)},
			{sock(10, 0, "", 10, 20, false)},
			{sock(10, 0, "", 10, 20, true)},
		}, nil, map[model.Key][2]uint64{}},
		{"pid 0 ICMP (the kernel's echo replies): left to conntrack", [][]sockbpf.Socket{
			{{Cookie: 11, NetNSCookie: 42, Proto: protoICMP, Local: netip.MustParseAddrPort("10.0.0.1:0"), Remote: netip.MustParseAddrPort("10.0.0.2:0"), BytesOut: 84}},
		}, daemon, map[model.Key][2]uint64{}},
		{"socket activation: pid 1 created it, the service holds it", [][]sockbpf.Socket{
			{sock(4, 1, "systemd", 10, 20, false)},
		}, daemon, map[model.Key][2]uint64{model.KeyProcess(daemon): {10, 20}}},
		{"creator exec'd since: the holder", [][]sockbpf.Socket{
			{sock(5, 100, "sh", 10, 20, false)},
		}, daemon, map[model.Key][2]uint64{model.KeyProcess(daemon): {10, 20}}},
		{"exited, unknown to the table: what the kernel recorded", [][]sockbpf.Socket{
			{sock(6, 300, "short", 10, 20, true)},
		}, nil, map[model.Key][2]uint64{model.KeyProcess(&model.Process{PID: 300, Comm: "short"}): {10, 20}}},
		{"handed over while alive: the holder decides", [][]sockbpf.Socket{
			{sock(7, 100, "curl", 10, 10, false)},
			{sock(7, 100, "curl", 20, 20, false)},
			{sock(7, 100, "curl", 30, 30, false)},
			{sock(7, 100, "curl", 40, 40, false)},
		}, daemon, map[model.Key][2]uint64{model.KeyProcess(daemon): {40, 40}}},
		{"namespace not recorded, found in the watched one", [][]sockbpf.Socket{
			{{Cookie: 9, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 5, BytesOut: 6}},
		}, daemon, map[model.Key][2]uint64{model.KeyProcess(daemon): {5, 6}}},
		{"namespace not recorded, not in the watched one: not counted", [][]sockbpf.Socket{
			{{Cookie: 9, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 5, BytesOut: 6}},
		}, nil, map[model.Key][2]uint64{}},
		{"another namespace's socket: not counted", [][]sockbpf.Socket{
			{{Cookie: 8, PID: 100, Comm: "curl", NetNSCookie: 99, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 5, BytesOut: 5}},
		}, nil, map[model.Key][2]uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{reads: tc.reads}
			cl := newClaims()
			s := newSocketCounter(socketOptions{src: src, procs: procs, owners: &holderResolver{p: tc.holder}, netns: 42, claims: cl})
			defer func() {
				if len(tc.want) == 0 && cl.len() != 0 {
					t.Errorf("%d ends claimed, want none: their bytes are conntrack's", cl.len())
				}
			}()
			got := collectTicks(t, s, len(tc.reads))
			if len(got) != len(tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s: in, out %v, want %v (all: %v)", k, got[k], w, got)
				}
			}
		})
	}
}

// TestSocketExeName: a process that exited before it was read is named by
// the executable's file name the programs recorded (its comm is cut at 15
// bytes), where they recorded one; else by its comm.
func TestSocketExeName(t *testing.T) {
	procs := procsFunc(func(int) *model.Process { return nil })
	sock := func(cookie uint64, pid int) sockbpf.Socket {
		return sockbpf.Socket{Cookie: cookie, PID: pid, Comm: "oneshot-123456-", NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesOut: 10, Closed: true}
	}
	src := &fakeSource{reads: [][]sockbpf.Socket{{sock(1, 300), sock(2, 301)}}, exes: map[int]string{300: "oneshot-123456-0001"}}
	s := newSocketCounter(socketOptions{src: src, procs: procs, owners: &holderResolver{}, netns: 42, claims: newClaims()})
	got := collectTicks(t, s, 1)
	named := model.KeyProcess(&model.Process{PID: 300, Comm: "oneshot-123456-", Exe: "oneshot-123456-0001"})
	comm := model.KeyProcess(&model.Process{PID: 301, Comm: "oneshot-123456-"})
	if got[named] != [2]uint64{0, 10} || got[comm] != [2]uint64{0, 10} || len(got) != 2 {
		t.Errorf("entries %v, want 10 bytes out under %s and under %s", got, named, comm)
	}
}

func TestClaims(t *testing.T) {
	cl := newClaims()
	now := time.Unix(1000, 0)
	udpL := netip.MustParseAddrPort("10.0.0.1:5353")
	cl.apply([]claimChange{{idOf(protoTCP, tLocal, tRemote), 1}, {idOf(protoUDP, udpL, tRemote), 1}}, now)
	for _, tc := range []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          bool
	}{
		{"tcp end", protoTCP, tLocal, tRemote, true},
		{"tcp, another peer", protoTCP, tLocal, netip.MustParseAddrPort("10.0.0.3:80"), false},
		{"tcp as v4-mapped", protoTCP, netip.AddrPortFrom(netip.AddrFrom16(tLocal.Addr().As16()), tLocal.Port()), tRemote, true},
		{"udp, any peer", protoUDP, udpL, netip.MustParseAddrPort("10.0.0.9:53"), true},
		{"udp, another port", protoUDP, netip.MustParseAddrPort("10.0.0.1:5354"), tRemote, false},
	} {
		if got := cl.has(tc.proto, tc.local, tc.remote); got != tc.want {
			t.Errorf("%s: claimed %v, want %v", tc.name, got, tc.want)
		}
	}
	// Let go of: still claimed for the grace period, then not.
	cl.apply([]claimChange{{idOf(protoTCP, tLocal, tRemote), -1}}, now)
	cl.apply(nil, now.Add(claimGrace-time.Second))
	if !cl.has(protoTCP, tLocal, tRemote) {
		t.Errorf("a closed socket's end is not claimed within the grace period")
	}
	cl.apply(nil, now.Add(claimGrace+time.Second))
	if cl.has(protoTCP, tLocal, tRemote) || cl.len() != 1 {
		t.Errorf("a closed socket's end is still claimed after the grace period (%d claims)", cl.len())
	}
}

// TestClaimsHold: ends held (sockets the socket monitor will count) are
// claimed for the grace period, or as long as a socket takes them; a
// second hold adds no expiry entry and leaves live claims alone.
func TestClaimsHold(t *testing.T) {
	cl := newClaims()
	now := time.Unix(1000, 0)
	idle, taken, live := idOf(protoTCP, tLocal, tRemote), idOf(protoUDP, tLocal, tRemote), idOf(protoTCP, tLocal, netip.MustParseAddrPort("10.0.0.3:80"))
	cl.apply([]claimChange{{live, 1}}, now)
	cl.hold([]claimID{idle, taken, live}, now)
	cl.hold([]claimID{idle, taken, live}, now.Add(5*time.Second))
	if len(cl.exp) != 2 {
		t.Errorf("%d expiry entries after two holds of two ends, want 2", len(cl.exp))
	}
	cl.apply([]claimChange{{taken, 1}}, now.Add(time.Second)) // taken on
	cl.apply(nil, now.Add(claimGrace+time.Second))
	cl.mu.RLock()
	_, idleHeld := cl.m[idle]
	tk, lv := cl.m[taken], cl.m[live]
	cl.mu.RUnlock()
	if idleHeld || tk.live != 1 || lv.live != 1 {
		t.Errorf("after the grace period: idle end held %v, taken %+v, live %+v; want the idle one gone, the others held by one socket", idleHeld, tk, lv)
	}
}

func TestClaimResolver(t *testing.T) {
	p := &model.Process{PID: 100, Comm: "curl"}
	cl := newClaims()
	cl.apply([]claimChange{{idOf(protoTCP, tLocal, tRemote), 1}}, time.Unix(1000, 0))
	other := netip.MustParseAddrPort("10.0.0.1:40001")
	for _, tc := range []struct {
		name   string
		inner  *model.Process
		local  netip.AddrPort
		sure   bool
		level  flows.Level
		want   model.Info
		wantOK bool
	}{
		{"claimed", nil, tLocal, true, flows.Quick, model.Info{Unattributed: flows.ReasonAtSocket}, true},
		{"new flow, every socket followed: no lookup, claimed at the next tick", p, other, true, flows.Quick, model.Info{}, false},
		{"first read by a dump, every socket followed: no lookup until the last attempt", p, other, true, flows.Tick, model.Info{}, false},
		{"a socket, every socket followed: counted there", p, other, true, flows.Final, model.Info{Unattributed: flows.ReasonAtSocket}, true},
		{"no socket: conntrack's", nil, other, true, flows.Final, model.Info{}, true},
		{"a socket, one not followed lately: wait", p, other, false, flows.Tick, model.Info{}, false},
		{"a socket, one not followed lately, unclaimed at the end: conntrack's", p, other, false, flows.Final, model.Info{Process: p}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl.sure.Store(tc.sure)
			r := claimResolver{Resolver: &holderResolver{p: tc.inner}, claims: cl}
			got, ok := r.Resolve(protoTCP, tc.local, tRemote, tc.level)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestSocketCounterUnderPressure: once the programs could not follow a
// socket (no memory for its state), ends not claimed are conntrack's
// (claims not sure) for claimGrace; sockets that found the map full are
// counted in overflow, so claims stay sure.
func TestSocketCounterUnderPressure(t *testing.T) {
	src := &fakeSource{}
	cl := newClaims()
	s := newSocketCounter(socketOptions{src: src, procs: procsFunc(func(int) *model.Process { return nil }), owners: &holderResolver{}, claims: cl})
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	for _, step := range []struct {
		at        time.Duration
		mapFull   uint64
		noStorage uint64
		sure      bool
	}{
		{0, 0, 0, true},
		{time.Second, 3, 0, true},
		{2 * time.Second, 3, 2, false},
		{claimGrace + time.Second, 3, 2, false},
		{claimGrace + 3*time.Second, 3, 2, true},
	} {
		src.st.MapFull, src.st.NoStorage = step.mapFull, step.noStorage
		if err := s.collect(c, now.Add(step.at)); err != nil {
			t.Fatal(err)
		}
		if got := cl.sure.Load(); got != step.sure {
			t.Errorf("at +%s with %d sockets that found the map full, %d with no state: sure %v, want %v", step.at, step.mapFull, step.noStorage, got, step.sure)
		}
	}
}

// TestSocketOverflow: the bytes of the sockets that found the map full
// (sockbpf's overflow entries) go to their creator while it is the
// process the kernel recorded, else to what it recorded; those of no known
// creator are unattributed (socket_map_full); other namespaces' are left
// alone; an entry deleted and made again counts from zero.
func TestSocketOverflow(t *testing.T) {
	gen := &model.Process{PID: 100, StartTime: 1, Comm: "gen", Exe: "/usr/bin/gen"}
	procs := procsFunc(func(pid int) *model.Process { return map[int]*model.Process{100: gen}[pid] })
	over := func(netns uint64, pid int, comm string, in, out uint64) sockbpf.Socket {
		return sockbpf.Socket{Overflow: true, NetNSCookie: netns, PID: pid, Comm: comm, BytesIn: in, BytesOut: out, Slot: -1}
	}
	src := &fakeSource{reads: [][]sockbpf.Socket{
		{over(42, 100, "gen", 10, 100), over(42, 200, "gone", 1, 2), over(42, 0, "", 5, 5), over(7, 100, "gen", 1000, 1000)},
		{over(42, 100, "gen", 30, 300), over(42, 0, "", 5, 5)},
		{over(42, 100, "gen", 4, 4)}, // deleted since, made again
	}}
	s := newSocketCounter(socketOptions{src: src, procs: procs, owners: &holderResolver{}, netns: 42, claims: newClaims()})
	got := collectTicks(t, s, 3)
	want := map[model.Key][2]uint64{
		model.KeyProcess(gen): {34, 304},
		model.KeyProcess(&model.Process{PID: 200, Comm: "gone"}): {1, 2},
		model.KeyUnattributed(model.ReasonSocketMapFull):         {5, 5},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %v, want %v", k, got[k], w)
		}
	}
}

// localOnly is holderResolver with local addresses of its own.
type localOnly struct {
	holderResolver
	local map[netip.Addr]bool
}

func (l *localOnly) IsLocal(a netip.Addr) bool { return l.local[a] }

// TestSocketCounterCrossed: what the watched namespace's sockets book
// towards a remote address is coverage's (takeCrossed); loopback and
// other namespaces' sockets cross none of its interfaces.
func TestSocketCounterCrossed(t *testing.T) {
	curl := &model.Process{PID: 100, StartTime: 1, Comm: "curl", Exe: "/usr/bin/curl"}
	procs := procsFunc(func(pid int) *model.Process { return curl })
	lo := netip.MustParseAddrPort("127.0.0.1:8080")
	res := &localOnly{holderResolver: holderResolver{p: curl}, local: map[netip.Addr]bool{tLocal.Addr(): true, lo.Addr(): true}}
	src := &fakeSource{reads: [][]sockbpf.Socket{
		{
			{Cookie: 1, PID: 100, NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 1000, BytesOut: 200},
			{Cookie: 2, PID: 100, NetNSCookie: 42, Proto: protoTCP, Local: netip.MustParseAddrPort("127.0.0.1:50000"), Remote: lo, BytesIn: 7000, BytesOut: 7000},
			{Cookie: 3, PID: 100, NetNSCookie: 99, Proto: protoTCP, Local: netip.MustParseAddrPort("172.17.0.2:40000"), Remote: tRemote, BytesIn: 5, BytesOut: 5},
		},
		{{Cookie: 1, PID: 100, NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 1500, BytesOut: 260, Closed: true}},
	}}
	// namespaces = "all": every namespace's sockets counted, the watched
	// one's (cookie 42) crossed its interfaces.
	s := newSocketCounter(socketOptions{src: src, procs: procs, owners: res, home: 42, claims: newClaims()})
	var in, out uint64
	for range 2 {
		c := model.NewMonitorEntryCollection(time.Hour)
		if err := s.collect(c, time.Unix(1000, 0)); err != nil {
			t.Fatal(err)
		}
		i, o := s.takeCrossed()
		in, out = in+i, out+o
	}
	if in != 1500 || out != 260 {
		t.Errorf("crossed in %d, out %d; want 1500, 260 (the remote connection's, not loopback's or another namespace's)", in, out)
	}
}

// noForks is a process table whose processes never forked.
type noForks struct{ procsFunc }

func (noForks) ForkedSince(int, time.Time) bool { return false }

// TestSocketCounterHolderOnlyAfterFork: the holder of a live socket is
// looked for only when its creator may have handed it over (it forked
// since it made it); the creator counts either way.
func TestSocketCounterHolderOnlyAfterFork(t *testing.T) {
	curl := &model.Process{PID: 100, StartTime: 1, Comm: "curl", Exe: "/usr/bin/curl"}
	for _, tc := range []struct {
		name    string
		procs   processes
		lookups bool
	}{
		{"forked since", procsFunc(func(int) *model.Process { return curl }), true},
		{"never forked", noForks{procsFunc(func(int) *model.Process { return curl })}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := sockbpf.Socket{Cookie: 1, PID: 100, Comm: "curl", NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: 10, BytesOut: 20}
			src := &fakeSource{reads: [][]sockbpf.Socket{{sock}, {sock}, {sock}}}
			h := &holderResolver{p: curl}
			s := newSocketCounter(socketOptions{src: src, procs: tc.procs, owners: h, netns: 42, claims: newClaims()})
			c := model.NewMonitorEntryCollection(time.Hour)
			for range 3 {
				if err := s.collect(c, time.Unix(1000, 0)); err != nil {
					t.Fatal(err)
				}
			}
			if (h.calls > 0) != tc.lookups {
				t.Errorf("%d holder lookups, want some: %v", h.calls, tc.lookups)
			}
			if u := c.Usage(time.Unix(1000, 0)); len(u) != 1 || u[0].In != 10 || u[0].Out != 20 {
				t.Errorf("usage %+v, want curl's 10 in, 20 out", u)
			}
		})
	}
}

// TestSocketSlotReused: a socket closes and its slot goes to a new one
// before its close record is read; a Read lists the new socket first.
// Both are counted in full, once, and the old one's end is let go of.
func TestSocketSlotReused(t *testing.T) {
	curl := &model.Process{PID: 100, StartTime: 1, Comm: "curl", Exe: "/usr/bin/curl"}
	wget := &model.Process{PID: 101, StartTime: 1, Comm: "wget", Exe: "/usr/bin/wget"}
	procs := procsFunc(func(pid int) *model.Process {
		return map[int]*model.Process{100: curl, 101: wget}[pid]
	})
	other := netip.MustParseAddrPort("10.0.0.1:40001")
	a := func(in uint64, closed bool) sockbpf.Socket {
		return sockbpf.Socket{Cookie: 1, PID: 100, Comm: "curl", NetNSCookie: 42, Proto: protoTCP, Local: tLocal, Remote: tRemote, BytesIn: in, Closed: closed, Slot: 7}
	}
	b := func(in uint64) sockbpf.Socket {
		return sockbpf.Socket{Cookie: 2, PID: 101, Comm: "wget", NetNSCookie: 42, Proto: protoTCP, Local: other, Remote: tRemote, BytesIn: in, Slot: 7}
	}
	for _, tc := range []struct {
		name     string
		reads    [][]sockbpf.Socket
		want     map[model.Key]uint64
		claims   int // ends claimed at the end (live)
		lost     uint64
		liveLeft int
	}{
		{"record after the new socket", [][]sockbpf.Socket{
			{a(100, false)},
			{b(10), a(150, true)},
			{b(30)},
		}, map[model.Key]uint64{model.KeyProcess(curl): 150, model.KeyProcess(wget): 30}, 1, 0, 1},
		{"record before the new socket", [][]sockbpf.Socket{
			{a(100, false)},
			{a(150, true), b(10)},
		}, map[model.Key]uint64{model.KeyProcess(curl): 150, model.KeyProcess(wget): 10}, 1, 0, 1},
		{"record never comes", [][]sockbpf.Socket{
			{a(100, false)},
			{b(10)}, {b(20)}, {b(30)}, {b(40)},
		}, map[model.Key]uint64{model.KeyProcess(curl): 100, model.KeyProcess(wget): 40}, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClaims()
			s := newSocketCounter(socketOptions{src: &fakeSource{reads: tc.reads}, procs: procs, owners: &holderResolver{}, netns: 42, claims: cl})
			got := collectTicks(t, s, len(tc.reads))
			if len(got) != len(tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k][0] != w {
					t.Errorf("%s: in %d, want %d", k, got[k], w)
				}
			}
			live := 0
			cl.mu.RLock()
			for _, c := range cl.m {
				if c.live > 0 {
					live++
				}
			}
			cl.mu.RUnlock()
			if live != tc.claims {
				t.Errorf("%d ends claimed by live sockets, want %d", live, tc.claims)
			}
			if s.lostClose != tc.lost || s.live != tc.liveLeft || len(s.gone) != 0 {
				t.Errorf("lost %d, live %d, waiting for a record %d; want %d, %d, 0", s.lostClose, s.live, len(s.gone), tc.lost, tc.liveLeft)
			}
		})
	}
}

// TestSocketTupleSeq: a socket's end is looked at again when its
// TupleSeq changed, and at the Read after (the kernel may note the tuple
// as a Read takes it), not otherwise.
func TestSocketTupleSeq(t *testing.T) {
	gen := &model.Process{PID: 100, StartTime: 1, Comm: "gen", Exe: "/usr/bin/gen"}
	procs := procsFunc(func(pid int) *model.Process { return map[int]*model.Process{100: gen}[pid] })
	at := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(tLocal.Addr(), port) }
	sock := func(seq uint32, port uint16) sockbpf.Socket {
		return sockbpf.Socket{Cookie: 1, PID: 100, Comm: "gen", NetNSCookie: 42, Proto: protoUDP, Local: at(port), Remote: tRemote, TupleSeq: seq, BytesOut: 1, Slot: 3}
	}
	src := &fakeSource{}
	cl := newClaims()
	s := newSocketCounter(socketOptions{src: src, procs: procs, owners: &holderResolver{}, netns: 42, claims: cl})
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	for i, step := range []struct {
		sock sockbpf.Socket
		want uint16 // the port claimed after the Read
	}{
		{sock(1, 5000), 5000},
		{sock(1, 5001), 5001}, // the Read after a change: looked at again
		{sock(1, 5002), 5001}, // same TupleSeq: not looked at
		{sock(2, 5003), 5003}, // new TupleSeq
		{sock(2, 5004), 5004}, // the Read after
		{sock(2, 5000), 5004},
	} {
		src.reads = [][]sockbpf.Socket{{step.sock}}
		if err := s.collect(c, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		// The ends let go of stay claimed for claimGrace: only the live
		// claim counts here.
		live := 0
		for p := uint16(5000); p <= 5004; p++ {
			cl.mu.RLock()
			cm := cl.m[idOf(protoUDP, at(p), tRemote)]
			cl.mu.RUnlock()
			if cm.live > 0 {
				live++
				if p != step.want {
					t.Errorf("read %d: port %d claimed, want %d", i, p, step.want)
				}
			}
		}
		if live != 1 {
			t.Errorf("read %d: %d ends claimed by the socket, want 1", i, live)
		}
	}
}

// TestSocketIntake: a tick takes on newPerTick new sockets, and more while
// its time allows; the rest wait for the next ticks, their bytes in the
// kernel's counters, and are counted in full then.
func TestSocketIntake(t *testing.T) {
	gen := &model.Process{PID: 100, StartTime: 1, Comm: "gen", Exe: "/usr/bin/gen"}
	procs := procsFunc(func(pid int) *model.Process { return map[int]*model.Process{100: gen}[pid] })
	var socks []sockbpf.Socket
	for i := range 10 {
		socks = append(socks, sockbpf.Socket{Cookie: uint64(i + 1), PID: 100, Comm: "gen", NetNSCookie: 42, Proto: protoUDP,
			Local: netip.AddrPortFrom(tLocal.Addr(), uint16(5000+i)), Remote: tRemote, TupleSeq: 1, BytesOut: 100, Slot: i + 1})
	}
	for _, tc := range []struct {
		name   string
		intake time.Duration
		live   []int // sockets taken on after each tick
	}{
		{"time allows", time.Hour, []int{10, 10}},
		{"no time beyond the first", 0, []int{4, 8, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{}
			s := newSocketCounter(socketOptions{src: src, procs: procs, owners: &holderResolver{}, netns: 42, claims: newClaims()})
			s.perTick, s.intake = 4, tc.intake
			c := model.NewMonitorEntryCollection(time.Hour)
			now := time.Unix(1000, 0)
			for i, want := range tc.live {
				src.reads = [][]sockbpf.Socket{socks}
				if err := s.collect(c, now); err != nil {
					t.Fatal(err)
				}
				now = now.Add(time.Second)
				if s.live != want {
					t.Errorf("tick %d: %d sockets taken on, want %d", i, s.live, want)
				}
			}
			var out uint64
			for _, e := range c.Entries() {
				out += e.BytesOut
			}
			if out != 1000 {
				t.Errorf("%d bytes out, want 1000", out)
			}
		})
	}
}

// TestSocketOlder: sockets older than the agent (PID 0) are placed by one
// list of the namespace's sockets, also those taken on ticks later (the
// intake spent); a socket the list lacks, made after it, has the list
// made again, at most every olderEvery.
func TestSocketOlder(t *testing.T) {
	daemon := &model.Process{PID: 100, StartTime: 1, Comm: "daemon", Exe: "/usr/sbin/daemon"}
	sock := func(i int) sockbpf.Socket {
		return sockbpf.Socket{Cookie: uint64(i), NetNSCookie: 42, Type: 2, Proto: protoUDP,
			Local: netip.AddrPortFrom(tLocal.Addr(), uint16(5000+i)), Remote: tRemote, TupleSeq: 1, BytesOut: 100, Slot: i}
	}
	var socks []sockbpf.Socket
	for i := 1; i <= 10; i++ {
		socks = append(socks, sock(i))
	}
	existing := 10
	lists := 0
	src := &fakeSource{}
	s := newSocketCounter(socketOptions{src: src, procs: unforked{p: daemon, holdsFrom: 1000}, owners: &holderResolver{}, netns: 42, claims: newClaims(),
		listOlder: func(f func(sockets.Socket)) error {
			lists++
			for i := 1; i <= existing; i++ {
				f(sockets.Socket{Cookie: uint64(i), Inode: uint64(1000 + i)})
			}
			return nil
		}})
	s.perTick, s.intake = 1, 0 // ten ticks to take them on, past olderEvery
	c := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	tick := func() {
		t.Helper()
		src.reads = [][]sockbpf.Socket{socks}
		if err := s.collect(c, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	for range 11 {
		tick()
	}
	if lists != 1 || s.live != 10 {
		t.Errorf("after 11 ticks: listed %d times, %d sockets taken on; want 1 and 10", lists, s.live)
	}
	// A socket made since, of PID 0 (accepted before its server was
	// known, say): listed again.
	existing = 11
	socks = append(socks, sock(11))
	tick()
	if lists != 2 || s.live != 11 {
		t.Errorf("after a new socket: listed %d times, %d sockets taken on; want 2 and 11", lists, s.live)
	}
	var out uint64
	for _, e := range c.Entries() {
		if e.Key != model.KeyProcess(daemon) {
			t.Errorf("entry %s: want every byte the daemon's", e.Key)
		}
		out += e.BytesOut
	}
	if out != 1100 {
		t.Errorf("%d bytes out, want 1100", out)
	}
}

// TestSocketOlderClaimedAtStart: the list of the namespace's sockets made
// at start claims the end of each socket whose holder is known, so that
// the conntrack tables look none of them up; not a listener's, an
// unconnected socket's or one no known process holds. A claim of a socket
// never taken on lapses after claimGrace; one taken on lasts as long as
// it.
func TestSocketOlderClaimedAtStart(t *testing.T) {
	daemon := &model.Process{PID: 100, StartTime: 1, Comm: "daemon", Exe: "/usr/sbin/daemon"}
	end := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(tLocal.Addr(), port) }
	listed := []sockets.Socket{
		{Proto: protoTCP, Local: end(5001), Remote: tRemote, Cookie: 1, Inode: 1001}, // taken on below
		{Proto: protoUDP, Local: end(5002), Remote: tRemote, Cookie: 2, Inode: 1002}, // never moves bytes
		{Proto: protoTCP, Local: end(5003), Remote: tRemote, Cookie: 3, Inode: 3},    // no known holder
		{Proto: protoTCP, Local: end(80), Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), Cookie: 4, Inode: 1004},
		{Proto: protoUDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 53), Cookie: 5, Inode: 1005},
		{Proto: protoTCP, Local: end(5006), Remote: tRemote, Cookie: 6}, // time-wait: no inode
	}
	cl := newClaims()
	src := &fakeSource{}
	s := newSocketCounter(socketOptions{src: src, procs: unforked{p: daemon, holdsFrom: 1000}, owners: &holderResolver{}, netns: 42, claims: cl,
		listOlder: func(f func(sockets.Socket)) error {
			for _, so := range listed {
				f(so)
			}
			return nil
		}})
	now := time.Unix(1000, 0)
	if err := s.listOlder(now); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false, false, false, false}
	for i, so := range listed {
		if got := cl.has(so.Proto, so.Local, so.Remote); got != want[i] {
			t.Errorf("socket %d (%s %s): claimed %v at start, want %v", so.Cookie, so.Local, so.Remote, got, want[i])
		}
	}
	// The first socket moves bytes: taken on at the first tick, with its
	// claim.
	c := model.NewMonitorEntryCollection(time.Hour)
	first := sockbpf.Socket{Cookie: 1, NetNSCookie: 42, Type: 1, Proto: protoTCP, Local: end(5001), Remote: tRemote, TupleSeq: 1, BytesOut: 100, Slot: 1}
	for range 2 {
		now = now.Add(claimGrace)
		src.reads = [][]sockbpf.Socket{{first}}
		if err := s.collect(c, now); err != nil {
			t.Fatal(err)
		}
	}
	if !cl.has(protoTCP, end(5001), tRemote) {
		t.Error("the socket taken on lost its claim")
	}
	if cl.has(protoUDP, end(5002), tRemote) {
		t.Errorf("the claim of a socket never taken on outlived claimGrace (%s)", claimGrace)
	}
	if e := c.Entries(); len(e) != 1 || e[0].Key != model.KeyProcess(daemon) || e[0].BytesOut != 100 {
		t.Errorf("entries %+v, want the daemon's 100 bytes out", e)
	}
}

// TestSocketOlderForeign: a socket of PID 0 that the kernel, or its local
// address, says is another namespace's (a peer namespace's server older
// than the agent, its packets passing the programs too), or that is
// neither TCP nor UDP (the kernel's ICMPv6 socket), is not looked for in
// the watched namespace's list, which it would have made again every
// olderEvery (250 ms at 100,000 sockets).
func TestSocketOlderForeign(t *testing.T) {
	lists := 0
	src := &fakeSource{}
	s := newSocketCounter(socketOptions{src: src, procs: procsFunc(func(int) *model.Process { return nil }),
		owners: &localOnly{local: map[netip.Addr]bool{tLocal.Addr(): true}}, netns: 42, claims: newClaims(),
		listOlder: func(f func(sockets.Socket)) error {
			lists++
			return nil
		}})
	now := time.Unix(1000, 0)
	if err := s.listOlder(now); err != nil {
		t.Fatal(err)
	}
	foreign := []sockbpf.Socket{
		{Cookie: 1, Proto: protoUDP, Local: netip.MustParseAddrPort("10.9.9.9:53"), Remote: tRemote, TupleSeq: 1, BytesIn: 100},
		{Cookie: 2, NetNSCookie: 77, Proto: protoUDP, Local: tLocal, Remote: tRemote, TupleSeq: 1, BytesIn: 100},
		// Not in the list either: the list has TCP and UDP sockets only.
		{Cookie: 3, Type: 3, Proto: protoICMPv6, Local: netip.AddrPortFrom(tLocal.Addr(), 0), Remote: netip.MustParseAddrPort("[ff02::2]:0"), TupleSeq: 1, BytesOut: 56},
	}
	// Taken on past olderEvery after the list (the intake of 100,000
	// sockets took that long).
	now = now.Add(olderEvery)
	c := model.NewMonitorEntryCollection(time.Hour)
	for range 3 {
		now = now.Add(time.Second)
		src.reads = [][]sockbpf.Socket{foreign}
		if err := s.collect(c, now); err != nil {
			t.Fatal(err)
		}
	}
	if lists != 1 {
		t.Errorf("listed %d times, want once (at start)", lists)
	}
	if e := c.Entries(); len(e) != 0 {
		t.Errorf("entries %+v, want none: two sockets are another namespace's, the kernel's ICMPv6 is conntrack's", e)
	}
}

// TestSocketOlderClosed: an accepted connection of a server older than
// the agent (PID 0) that is over before the agent first reads it is not
// in the namespace's list, made at that very tick: the list cannot tell
// whose namespace it was, so its ends do, and its bytes go to the
// server holding its end (not dropped as another namespace's).
func TestSocketOlderClosed(t *testing.T) {
	server := &model.Process{PID: 100, StartTime: 1, Comm: "server", Exe: "/usr/sbin/server"}
	src := &fakeSource{}
	s := newSocketCounter(socketOptions{src: src, procs: procsFunc(func(int) *model.Process { return nil }),
		owners: &holderResolver{p: server}, netns: 42, claims: newClaims(),
		listOlder: func(f func(sockets.Socket)) error { return nil }})
	accepted := sockbpf.Socket{Cookie: 7, NetNSCookie: 42, Type: 1, Proto: protoTCP, Local: tLocal, Remote: tRemote,
		TupleSeq: 2, BytesIn: 100520, BytesOut: 364, Closed: true}
	src.reads = [][]sockbpf.Socket{{accepted}}
	c := model.NewMonitorEntryCollection(time.Hour)
	if err := s.collect(c, time.Unix(1000, 0)); err != nil {
		t.Fatal(err)
	}
	if e := c.Entries(); len(e) != 1 || e[0].Key != model.KeyProcess(server) || e[0].BytesIn != 100520 {
		t.Errorf("entries %+v, want the server's 100520 bytes in", e)
	}
}
