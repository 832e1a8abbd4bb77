package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fakeRead is one answer of a fake source's read.
type fakeRead struct {
	msgs []netlink.Message
	err  error
	took time.Duration // advances the fake clock before answering
}

// fakeSource answers reads from a script; past its end it reads as
// closed. It stands for a netlink subscription at the lowest level.
type fakeSource struct {
	clock  *fakeClock
	reads  []fakeRead
	mu     sync.Mutex
	closed bool
}

func (f *fakeSource) read() ([]netlink.Message, error) {
	if len(f.reads) == 0 {
		return nil, net.ErrClosed
	}
	r := f.reads[0]
	f.reads = f.reads[1:]
	f.clock.advance(r.took)
	return r.msgs, r.err
}

func (f *fakeSource) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeSource) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// msg is a netlink message carrying a marker, to follow it through.
func msg(n byte) []netlink.Message { return []netlink.Message{{Data: []byte{n}}} }

var errEIO = fmt.Errorf("recvmsg: %w", unix.EIO)

// TestRestartingReader: a reader whose read fails is closed, counted,
// and opened again after a pause that doubles from 100 ms to 30 s and
// starts over after a healthy minute; ENOBUFS is reported without a
// restart; a close while paused or reopening ends it.
func TestRestartingReader(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		// first is the source set before run; opens are what open
		// returns, in turn (a nil source: open fails).
		first       []fakeRead
		opens       [][]fakeRead
		stopAt      int // wait returns "stopped" at this pause (1-based; 0: never)
		closeAtOpen int // close is called during this opening (1-based; 0: never)
		wantMsgs    []byte
		wantWaits   []time.Duration
		wantFails   uint64
		wantMissed  []error
	}{
		{
			name:       "fails once, then reads again",
			first:      []fakeRead{{msgs: msg(1)}, {err: errEIO}},
			opens:      [][]fakeRead{{{msgs: msg(2)}}},
			wantMsgs:   []byte{1, 2},
			wantWaits:  []time.Duration{100 * ms},
			wantFails:  1,
			wantMissed: []error{errEIO},
		},
		{
			name:       "ENOBUFS goes on reading",
			first:      []fakeRead{{err: unix.ENOBUFS}, {msgs: msg(1)}},
			wantMsgs:   []byte{1},
			wantMissed: []error{unix.ENOBUFS},
		},
		{
			name:  "pauses double up to 30 s",
			first: []fakeRead{{err: errEIO}},
			opens: [][]fakeRead{{{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}},
				{{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}}, {{err: errEIO}}, {{msgs: msg(9)}}},
			wantMsgs: []byte{9},
			wantWaits: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms,
				25600 * ms, 30 * time.Second, 30 * time.Second},
			wantFails:  11,
			wantMissed: slices.Repeat([]error{errEIO}, 11),
		},
		{
			name:       "a healthy minute starts the pauses over",
			first:      []fakeRead{{err: errEIO}},
			opens:      [][]fakeRead{{{err: errEIO}}, {{msgs: msg(1), took: 2 * time.Minute}, {err: errEIO}}, {{msgs: msg(2)}}},
			wantMsgs:   []byte{1, 2},
			wantWaits:  []time.Duration{100 * ms, 200 * ms, 100 * ms},
			wantFails:  3,
			wantMissed: []error{errEIO, errEIO, errEIO},
		},
		{
			name:       "a failed opening counts and pauses too",
			first:      []fakeRead{{err: errEIO}},
			opens:      [][]fakeRead{nil, {{msgs: msg(3)}}},
			wantMsgs:   []byte{3},
			wantWaits:  []time.Duration{100 * ms, 200 * ms},
			wantFails:  2,
			wantMissed: []error{errOpen},
		},
		{
			name:      "stopped during a pause",
			first:     []fakeRead{{err: errEIO}},
			opens:     [][]fakeRead{{{msgs: msg(1)}}},
			stopAt:    1,
			wantWaits: []time.Duration{100 * ms},
			wantFails: 1,
		},
		{
			name:        "closed while reopening",
			first:       []fakeRead{{err: errEIO}},
			opens:       [][]fakeRead{{{msgs: msg(1)}}},
			closeAtOpen: 1,
			wantWaits:   []time.Duration{100 * ms},
			wantFails:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			r := newRestartingReader("test", slog.New(slog.DiscardHandler), clock.now)
			var waits []time.Duration
			r.wait = func(d time.Duration, stop <-chan struct{}) bool {
				waits = append(waits, d)
				clock.advance(d)
				return len(waits) == tt.stopAt
			}
			first := &fakeSource{clock: clock, reads: tt.first}
			sources := []*fakeSource{first}
			r.set(first)
			opened := 0
			open := func() (msgSource, error) {
				opened++
				if opened > len(tt.opens) {
					t.Fatalf("opened %d times, want %d", opened, len(tt.opens))
				}
				if opened == tt.closeAtOpen {
					r.close()
				}
				if tt.opens[opened-1] == nil {
					return nil, errOpen
				}
				s := &fakeSource{clock: clock, reads: tt.opens[opened-1]}
				sources = append(sources, s)
				return s, nil
			}
			var got []byte
			var missed []error
			r.run(make(chan struct{}), open, func(msgs []netlink.Message) {
				for _, m := range msgs {
					got = append(got, m.Data...)
				}
			}, func(err error) { missed = append(missed, err) })

			if !slices.Equal(got, tt.wantMsgs) {
				t.Errorf("handled %v, want %v", got, tt.wantMsgs)
			}
			if !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("paused %v, want %v", waits, tt.wantWaits)
			}
			if n := r.failures.Load(); n != tt.wantFails {
				t.Errorf("counted %d failures, want %d", n, tt.wantFails)
			}
			if !slices.EqualFunc(missed, tt.wantMissed, func(a, b error) bool { return errors.Is(a, b) }) {
				t.Errorf("missed %v, want %v", missed, tt.wantMissed)
			}
			for i, s := range sources {
				if failed := len(s.reads) == 0 && i < len(sources)-1; failed && !s.isClosed() {
					t.Errorf("source %d failed and was not closed", i)
				}
			}
			if tt.closeAtOpen > 0 && !sources[len(sources)-1].isClosed() {
				t.Errorf("the source opened while closing was not closed")
			}
		})
	}
}

var errOpen = errors.New("opening: no such protocol")

// ctEvent encodes a conntrack event about rec, as the kernel sends it.
func ctEvent(rec ctRec, destroy bool) netlink.Message {
	k := keyOf(&rec)
	b := appendGet(nil, &k, 0)
	typ := uint16(ctnlMsgGet &^ 1) // IPCTNL_MSG_CT_NEW
	if destroy {
		typ = ctnlMsgGet&^1 | 2 // IPCTNL_MSG_CT_DELETE
	}
	h := netlink.Header{Length: uint32(len(b)), Type: netlink.HeaderType(typ), Flags: netlink.HeaderFlags(unix.NLM_F_CREATE)}
	return netlink.Message{Header: h, Data: b[unix.NLMSG_HDRLEN:]}
}

// TestConntrackEventsRestart reproduces finding 7 for conntrack: a receive
// error other than ENOBUFS stopped the event reader for good. Now the
// reader is opened again, events flow again, the failure is counted in
// ReadErrors, and the next tick reads the whole table (gaps).
func TestConntrackEventsRestart(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var logs nettest.SyncBuffer
	m := &Conntrack{log: slog.New(slog.NewTextHandler(&logs, nil)), now: clock.now, stop: make(chan struct{})}
	m.events = newRestartingReader("conntrack events", m.log, clock.now)
	paused := make(chan time.Duration, 10)
	m.events.wait = func(d time.Duration, stop <-chan struct{}) bool { paused <- d; return false }
	m.events.set(&fakeSource{clock: clock, reads: []fakeRead{{err: errEIO}}})
	rec := ctRec{id: 7, proto: unix.IPPROTO_UDP,
		orig: ctTuple{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"), sport: 4000, dport: 53}}
	opens := 0
	open := func() (msgSource, error) {
		opens++
		return &fakeSource{clock: clock, reads: []fakeRead{{msgs: []netlink.Message{ctEvent(rec, true)}}}}, nil
	}
	workers := []chan event{make(chan event, 4)}
	m.wg.Add(1)
	go m.receive(workers, open)

	select {
	case ev := <-workers[0]:
		if !ev.destroy || ev.rec.id != rec.id || ev.rec.orig != rec.orig {
			t.Errorf("event after the restart %+v, want the DESTROY of flow %d", ev, rec.id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the reader failed: it was not restarted")
	}
	m.wg.Wait() // the second source reads as closed at its end
	select {
	case d := <-paused:
		if d != restartMin {
			t.Errorf("paused %s before reopening, want %s", d, restartMin)
		}
	default:
		t.Errorf("no pause before reopening")
	}
	if opens != 1 {
		t.Errorf("opened %d times, want 1", opens)
	}
	if s := m.Stats(); s.ReadErrors != 1 {
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

// TestProcConnectorRestart: the same for the proc connector; the
// processes are rescanned after the restart (lost).
func TestProcConnectorRestart(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := newRestartingReader("proc connector", slog.New(slog.DiscardHandler), clock.now)
	r.wait = func(time.Duration, <-chan struct{}) bool { return false }
	fork := make([]byte, sizeofCnMsg+32)
	binary.NativeEndian.PutUint32(fork[sizeofCnMsg:], procEventFork)
	for i, v := range []uint32{100, 100, 4242, 4242} { // parent pid, tgid; child pid, tgid
		binary.NativeEndian.PutUint32(fork[sizeofCnMsg+16+4*i:], v)
	}
	open := func() (msgSource, error) {
		return &fakeSource{clock: clock, reads: []fakeRead{{msgs: []netlink.Message{{Data: fork}}}}}, nil
	}
	var mu sync.Mutex
	var events []procEvent
	var lost []error
	p := runProcConnector(&fakeSource{clock: clock, reads: []fakeRead{{err: errEIO}}}, open,
		func(ev procEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() },
		func(err error) { mu.Lock(); lost = append(lost, err); mu.Unlock() }, r)
	p.wg.Wait()
	p.Close()
	want := procEvent{what: procEventFork, pid: 4242, tid: 4242, ppid: 100}
	if len(events) != 1 || events[0] != want {
		t.Errorf("events %+v after the restart, want [%+v]", events, want)
	}
	if len(lost) != 1 || !errors.Is(lost[0], unix.EIO) {
		t.Errorf("lost %v, want the failure once (processes rescanned)", lost)
	}
	if p.failures() != 1 {
		t.Errorf("failures %d, want 1", p.failures())
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
