package monitor

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink/cttest"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
	"github.com/bwmon/bwmon/monitor/internal/subscription/subtest"
)

var errEIO = fmt.Errorf("recvmsg: %w", unix.EIO)

// TestConntrackEventsRestart reproduces finding 7 for conntrack: a receive
// error other than ENOBUFS stopped the event reader for good. Now the
// reader is opened again, events flow again, the failure is counted in
// ReadErrors, and the next tick reads the whole table (gaps).
func TestConntrackEventsRestart(t *testing.T) {
	clock := nettest.NewClock(time.Unix(1000, 0))
	var logs nettest.SyncBuffer
	m := &tableReader{log: slog.New(slog.NewTextHandler(&logs, nil)), now: clock.Now, stop: make(chan struct{}), table: flows.New(flows.Options{})}
	paused := make(chan time.Duration, 10)
	m.events = subscription.New(subscription.Options{What: "conntrack events", Log: m.log, Now: clock.Now,
		Wait: func(d time.Duration, stop <-chan struct{}) bool { paused <- d; return false }})
	m.events.Set(&subtest.Source{Advance: clock.Advance, Reads: []subtest.Read{{Err: errEIO}}})
	rec := ctnetlink.Rec{ID: 7, Proto: unix.IPPROTO_UDP,
		Orig:  ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SPort: 4000, DPort: 53},
		Reply: ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), SPort: 53, DPort: 4000}}
	opens := 0
	open := func() (subscription.Source, error) {
		opens++
		return &subtest.Source{Advance: clock.Advance, Reads: []subtest.Read{{Msgs: []netlink.Message{cttest.Event(rec, true)}}}}, nil
	}
	workers := []chan event{make(chan event, 4)}
	m.wg.Add(1)
	go m.receive(workers, open)

	select {
	case ev := <-workers[0]:
		if !ev.destroy || ev.rec.ID != rec.ID || ev.rec.Orig != rec.Orig {
			t.Errorf("event after the restart %+v, want the DESTROY of flow %d", ev, rec.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the reader failed: it was not restarted")
	}
	m.wg.Wait() // the second source reads as closed at its end
	select {
	case d := <-paused:
		if d != subscription.RestartMin {
			t.Errorf("paused %s before reopening, want %s", d, subscription.RestartMin)
		}
	default:
		t.Errorf("no pause before reopening")
	}
	if opens != 1 {
		t.Errorf("opened %d times, want 1", opens)
	}
	if s := m.stats(); s.ReadErrors != 1 {
		t.Errorf("ReadErrors %d, want 1", s.ReadErrors)
	}
	if m.gaps() != 1 {
		t.Errorf("gaps %d after a restart, want 1 (a full dump next tick)", m.gaps())
	}
	if _, ok := <-workers[0]; ok {
		t.Errorf("workers' channel still open after the reader stopped")
	}
	if out := logs.String(); !contains(out, "level=WARN", "reader=\"conntrack events\"", "retry_in=100ms") {
		t.Errorf("want a warning naming the reader and the pause; logged:\n%s", out)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
