package monitor

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
)

// fakeLate answers Get from a table of entries, in the order asked, the
// missing ones left out, as the kernel does.
type fakeLate struct {
	recs  []ctnetlink.Rec
	asked int
	err   error
}

func (f *fakeLate) Get(keys []ctnetlink.Key) ([]ctnetlink.Rec, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.asked += len(keys)
	var out []ctnetlink.Rec
	for _, k := range keys {
		for i := range f.recs {
			r := &f.recs[i]
			// The kernel finds an entry by either direction's tuple.
			rev := ctnetlink.Rec{Proto: r.Proto, Orig: r.Reply}
			if k == ctnetlink.KeyOf(&ctnetlink.Rec{Proto: r.Proto, Orig: r.Orig}) || k == ctnetlink.KeyOf(&rev) {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}

func (f *fakeLate) Close() error { return nil }

// TestCheckLate: the flows of late sockets are looked up a tick after
// their close; what conntrack counted beyond the socket's final counters
// goes to the socket's owner, in the socket's directions whichever way
// the entry runs; a flow not closed yet is looked at again later (each
// wait twice the last) and books only what is new; a flow gone, or closed
// at both ends, is let go.
func TestCheckLate(t *testing.T) {
	ap := netip.MustParseAddrPort
	client, server := ap("10.0.0.1:40000"), ap("10.0.0.2:80")
	accepted, peer := ap("10.0.0.1:443"), ap("10.0.0.9:51000")
	gone := ap("10.0.0.1:40001")
	fl := &fakeLate{recs: []ctnetlink.Rec{
		// An outbound connection, still in LAST_ACK.
		{Proto: protoTCP, Orig: ctnetlink.Tuple{Src: client.Addr(), Dst: server.Addr(), SPort: client.Port(), DPort: server.Port()},
			Reply:     ctnetlink.Tuple{Src: server.Addr(), Dst: client.Addr(), SPort: server.Port(), DPort: client.Port()},
			OrigBytes: 1300, ReplyBytes: 200},
		// An accepted one: the peer's is the original direction.
		{Proto: protoTCP, Orig: ctnetlink.Tuple{Src: peer.Addr(), Dst: accepted.Addr(), SPort: peer.Port(), DPort: accepted.Port()},
			Reply:     ctnetlink.Tuple{Src: accepted.Addr(), Dst: peer.Addr(), SPort: accepted.Port(), DPort: peer.Port()},
			OrigBytes: 500, ReplyBytes: 5104, Done: true},
	}}
	now := time.Unix(1000, 0)
	s := newSocketCounter(socketOptions{late: fl})
	s.now = now
	app := model.Key("app")
	owner := func(st *sockState) {
		s.own(st, app, model.Info{Process: &model.Process{PID: 7, Comm: "app"}})
		st.resolved, st.home = true, true
	}
	for _, k := range []sockbpf.Socket{
		{Proto: protoTCP, Local: client, Remote: server, BytesOut: 1248, BytesIn: 148, Closed: true, Late: true},
		{Proto: protoTCP, Local: accepted, Remote: peer, BytesOut: 5052, BytesIn: 448, Closed: true, Late: true},
		{Proto: protoTCP, Local: gone, Remote: server, BytesOut: 1000, BytesIn: 100, Closed: true, Late: true},
		{Proto: protoTCP, Local: ap("10.0.0.1:40002"), Remote: server, BytesOut: 1000, BytesIn: 100, Closed: true}, // not late
	} {
		st := &sockState{}
		owner(st)
		s.noteLate(&k, st)
	}
	if len(s.late) != 3 {
		t.Fatalf("%d late flows noted, want 3", len(s.late))
	}
	check := func(at time.Duration, wantRows []lateRow, wantLeft int) {
		t.Helper()
		s.lateRows = s.lateRows[:0]
		if err := s.checkLate(now.Add(at)); err != nil {
			t.Fatal(err)
		}
		if len(s.lateRows) != len(wantRows) {
			t.Fatalf("at %v: rows %+v, want %+v", at, s.lateRows, wantRows)
		}
		for i, r := range wantRows {
			if g := s.lateRows[i]; g.key != app || g.in != r.in || g.out != r.out {
				t.Errorf("at %v: row %d = %+v, want in %d, out %d", at, i, g, r.in, r.out)
			}
		}
		if len(s.late) != wantLeft {
			t.Errorf("at %v: %d late flows left, want %d", at, len(s.late), wantLeft)
		}
	}
	check(0, nil, 3) // not due before half a second
	// The outbound flow's last ACK and FIN, and the accepted one's (done);
	// the third is gone from the table.
	check(time.Second, []lateRow{{in: 52, out: 52}, {in: 52, out: 52}}, 1)
	fl.recs[0].OrigBytes += 52 // a retransmitted ACK
	fl.recs[0].Done = true
	check(1500*time.Millisecond, nil, 1) // next look 1 s after the last
	check(2*time.Second, []lateRow{{out: 52}}, 0)

	// Another flow on the tuple (a client reusing the time-wait port):
	// found with another ID at a later look, or far beyond the socket's
	// counters at the first, it books nothing.
	fl.recs[0].ID, fl.recs[0].Done = 40, false
	for _, k := range []sockbpf.Socket{
		{Proto: protoTCP, Local: client, Remote: server, BytesOut: 1248, BytesIn: 148, Closed: true, Late: true},
		{Proto: protoTCP, Local: accepted, Remote: peer, BytesOut: 100, BytesIn: 100, Closed: true, Late: true},
	} {
		st := &sockState{}
		owner(st)
		s.noteLate(&k, st)
	}
	s.now = now.Add(10 * time.Second)
	check(11*time.Second, []lateRow{{in: 52, out: 104}}, 1) // not the accepted one: 5,004 bytes beyond
	fl.recs[0].ID, fl.recs[0].OrigBytes = 41, 1400
	check(12*time.Second, nil, 0)

	// Lookups that fail leave the flows for the next tick, until their
	// time is past.
	fl.err = errors.New("netlink: no buffer space")
	st := &sockState{}
	owner(st)
	s.noteLate(&sockbpf.Socket{Proto: protoTCP, Local: client, Remote: server, Closed: true, Late: true}, st)
	if err := s.checkLate(s.now.Add(time.Second)); err == nil || len(s.late) != 1 {
		t.Errorf("a failed lookup: err %v, %d late flows left; want the error, 1", err, len(s.late))
	}
	if err := s.checkLate(s.now.Add(lateWait)); err == nil || len(s.late) != 0 {
		t.Errorf("a failed lookup past the flow's time: err %v, %d late flows left; want the error, none", err, len(s.late))
	}

	// A full list counts what it cannot take.
	s.late = make([]lateFlow, maxLate)
	st = &sockState{}
	owner(st)
	s.noteLate(&sockbpf.Socket{Proto: protoTCP, Local: client, Remote: server, Closed: true, Late: true}, st)
	if s.lateUnchecked != 1 {
		t.Errorf("lateUnchecked = %d, want 1", s.lateUnchecked)
	}
}
