package ctnetlink_test

import (
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink/cttest"
	"github.com/bwmon/bwmon/monitor/internal/nlconn/nltest"
)

// TestEventReader reads the NEW and DESTROY events of UDP flows in a
// namespace through the blocking reader, decodes them with ti-mo's decoder,
// and stops within ReaderPoll of Close, its socket closed.
func TestEventReader(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Watched)
	fd := nettest.NetNSFD(t, p.Watched)
	fds := nettest.OpenFiles(t)
	e, err := ctnetlink.OpenEvents(fd)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		news, destroys int
		err            error
	}
	const flows = 50
	done := make(chan result, 1)
	var seen atomic.Int32 // events of the flows read so far
	go func() {
		var r result
		for {
			msgs, err := e.Read()
			if err != nil {
				r.err = err
				done <- r
				return
			}
			for _, m := range msgs {
				var ev conntrack.Event
				if ev.Unmarshal(m) != nil || ev.Flow == nil || ev.Flow.TupleOrig.Proto.DestinationPort != 6101 {
					continue
				}
				switch ev.Type {
				case conntrack.EventNew:
					r.news++
					seen.Add(1)
				case conntrack.EventDestroy:
					r.destroys++
					seen.Add(1)
				}
			}
		}
	}()
	gen, _ := nettest.Generator(t, "evgen")
	nettest.RunOK(t, 20*time.Second, p.Watched, gen, "udp-flows", p.PeerIP4.String()+":6101", "50")
	// Deleting the flows makes DESTROY events.
	ct, err := conntrack.Dial(&netlink.Config{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.Flush(); err != nil {
		t.Fatal(err)
	}
	ct.Close()
	// Every event read before Close (a loaded machine takes its time);
	// at most a few seconds, then the check below says what was missing.
	for deadline := time.Now().Add(5 * time.Second); seen.Load() < 2*flows && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * ctnetlink.ReaderPoll):
		t.Fatalf("Read still blocked %s after Close", 5*ctnetlink.ReaderPoll)
	}
	if took := time.Since(start); took > 3*ctnetlink.ReaderPoll {
		t.Errorf("Read returned %s after Close, want within about %s", took, ctnetlink.ReaderPoll)
	}
	if !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", r.err)
	}
	if n := nettest.OpenFiles(t); n != fds {
		t.Errorf("%d files open after Read returned, %d before the reader was opened", n, fds)
	}
	if r.news != flows || r.destroys != flows {
		t.Errorf("read %d NEW and %d DESTROY events of the %d flows, want all", r.news, r.destroys, flows)
	}
}

// TestEventReaderClosedUnread: a monitor that fails to start after its
// reader was made closes it without ever reading: no socket is left open.
func TestEventReaderClosedUnread(t *testing.T) {
	nettest.RequireRoot(t)
	var fds int
	for round := range 2 { // the first opens what the runtime keeps (its poller)
		fds = nettest.OpenFiles(t)
		e, err := ctnetlink.OpenEvents(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("Close (round %d): %v", round, err)
		}
	}
	if n := nettest.OpenFiles(t); n != fds {
		t.Errorf("%d files open after Close, %d before the reader was opened", n, fds)
	}
	e, err := ctnetlink.OpenEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := e.Read(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
}

// TestDecodeEvent: the event decoder keeps NEW and DESTROY events of
// flows, nothing else.
func TestDecodeEvent(t *testing.T) {
	const ctDelete = cttest.TypeDelete
	tests := []struct {
		name        string
		datagram    []byte
		wantOK      []bool
		wantDestroy []bool
		want        ctnetlink.Rec // of the events kept
	}{
		{"new", cttest.Encode(tcpRec, cttest.TypeNew, unix.NLM_F_CREATE|unix.NLM_F_EXCL, 0), []bool{true}, []bool{false}, tcpRec},
		{"destroy", cttest.Encode(pingRec, ctDelete, 0, 0), []bool{true}, []bool{true}, pingRec},
		{"update", cttest.Encode(tcpRec, cttest.TypeNew, 0, 0), []bool{false}, []bool{false}, ctnetlink.Rec{}},
		{"new and destroy in one datagram", slices.Concat(cttest.Encode(tcpRec, cttest.TypeNew, unix.NLM_F_CREATE, 0), cttest.Encode(tcpRec, ctDelete, 0, 0)),
			[]bool{true, true}, []bool{false, true}, tcpRec},
		{"another subsystem", nltest.Msg(2<<8|1, 0, []byte{2, 0, 0, 0}), []bool{false}, []bool{false}, ctnetlink.Rec{}},
		{"no payload", nltest.Msg(ctDelete, 0, nil), []bool{false}, []bool{false}, ctnetlink.Rec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := ctnetlink.ParseDatagram(tt.datagram)
			if err != nil || len(msgs) != len(tt.wantOK) {
				t.Fatalf("ParseDatagram = %d messages, %v; want %d", len(msgs), err, len(tt.wantOK))
			}
			for i, m := range msgs {
				rec, destroy, ok := ctnetlink.DecodeEvent(m)
				if ok != tt.wantOK[i] || destroy != tt.wantDestroy[i] {
					t.Errorf("message %d: ok %v destroy %v, want %v %v", i, ok, destroy, tt.wantOK[i], tt.wantDestroy[i])
				}
				if ok && rec != tt.want {
					t.Errorf("message %d: decoded\n got  %+v\n want %+v", i, rec, tt.want)
				}
			}
		})
	}
}

// FuzzDecodeEvents: no datagram makes the event path's decoding panic.
func FuzzDecodeEvents(f *testing.F) {
	f.Add(cttest.Encode(tcpRec, cttest.TypeNew, unix.NLM_F_CREATE, 0))
	f.Add(slices.Concat(cttest.Encode(pingRec, cttest.TypeDelete, 0, 0), nltest.Msg(unix.NLMSG_DONE, 0, nil)))
	f.Add(cttest.Encode(tcpRec, cttest.TypeNew, unix.NLM_F_CREATE, 0)[:50])
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := ctnetlink.ParseDatagram(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if rec, _, ok := ctnetlink.DecodeEvent(m); ok {
				k := ctnetlink.KeyOf(&rec)
				_ = k.Hash()
			}
		}
	})
}
