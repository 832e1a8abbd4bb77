package monitor

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

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
			msgs, err := e.read()
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
	if err := e.close(); err != nil {
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
	if err := e.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if e.fd != -1 {
		t.Errorf("close left the reader's socket (fd %d) open", fd)
	}
	if _, err := e.read(); !errors.Is(err, net.ErrClosed) {
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
