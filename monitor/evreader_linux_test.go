package monitor

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestEventReader reads the NEW and DESTROY events of UDP flows in a
// namespace through the blocking reader, decodes them with ti-mo's decoder,
// and stops within readerPoll of close.
func TestEventReader(t *testing.T) {
	p := nettest.NewPair(t)
	nettest.EngageConntrack(t, p.Watched)
	fd := nettest.NetNSFD(t, p.Watched)
	e := openEventReader(t, fd)
	type result struct {
		news, destroys int
		err            error
	}
	const flows = 50
	done := make(chan result, 1)
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
				case conntrack.EventDestroy:
					r.destroys++
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
	defer ct.Close()
	if err := ct.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * readerPoll):
		t.Fatalf("read still blocked %s after close", 5*readerPoll)
	}
	if took := time.Since(start); took > 3*readerPoll {
		t.Errorf("read returned %s after close, want within about %s", took, readerPoll)
	}
	if !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", r.err)
	}
	if e.fd != -1 {
		t.Errorf("the reader's socket (fd %d) is still open after read returned", e.fd)
	}
	if r.news != flows || r.destroys != flows {
		t.Errorf("read %d NEW and %d DESTROY events of the %d flows, want all", r.news, r.destroys, flows)
	}
}

// TestEventReaderClosedUnread: a monitor that fails to start after its
// reader was made closes it without ever reading: no socket is left open.
func TestEventReaderClosedUnread(t *testing.T) {
	e := openEventReader(t, 0)
	fd := e.fd
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if e.fd != -1 {
		t.Errorf("close left the reader's socket (fd %d) open", fd)
	}
	if _, err := e.Read(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
}

// openEventReader subscribes to the conntrack events of namespace netnsFD
// (0: this one) and makes a reader of them; the test closes it.
func openEventReader(t *testing.T, netnsFD int) *eventReader {
	t.Helper()
	c, err := dialEvents(netnsFD)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEventReader(c)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return e
}

// TestDecodeEvent: the event decoder keeps NEW and DESTROY events of
// flows, nothing else.
func TestDecodeEvent(t *testing.T) {
	const ctDelete = ctNewMsg | 2 // IPCTNL_MSG_CT_DELETE
	tests := []struct {
		name        string
		datagram    []byte
		wantOK      []bool
		wantDestroy []bool
		want        ctRec // of the events kept
	}{
		{"new", encodeCT(tcpRec, ctNewMsg, unix.NLM_F_CREATE|unix.NLM_F_EXCL, 0), []bool{true}, []bool{false}, tcpRec},
		{"destroy", encodeCT(pingRec, ctDelete, 0, 0), []bool{true}, []bool{true}, pingRec},
		{"update", encodeCT(tcpRec, ctNewMsg, 0, 0), []bool{false}, []bool{false}, ctRec{}},
		{"new and destroy in one datagram", slices.Concat(encodeCT(tcpRec, ctNewMsg, unix.NLM_F_CREATE, 0), encodeCT(tcpRec, ctDelete, 0, 0)),
			[]bool{true, true}, []bool{false, true}, tcpRec},
		{"another subsystem", nlmsg(2<<8|1, 0, []byte{2, 0, 0, 0}), []bool{false}, []bool{false}, ctRec{}},
		{"no payload", nlmsg(ctDelete, 0, nil), []bool{false}, []bool{false}, ctRec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := parseDatagram(tt.datagram)
			if err != nil || len(msgs) != len(tt.wantOK) {
				t.Fatalf("parseDatagram = %d messages, %v; want %d", len(msgs), err, len(tt.wantOK))
			}
			for i, m := range msgs {
				rec, destroy, ok := decodeEvent(m)
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
	f.Add(encodeCT(tcpRec, ctNewMsg, unix.NLM_F_CREATE, 0))
	f.Add(slices.Concat(encodeCT(pingRec, ctNewMsg|2, 0, 0), nlmsg(unix.NLMSG_DONE, 0, nil)))
	f.Add(encodeCT(tcpRec, ctNewMsg, unix.NLM_F_CREATE, 0)[:50])
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := parseDatagram(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if rec, _, ok := decodeEvent(m); ok {
				_ = keyOf(&rec)
			}
		}
	})
}
