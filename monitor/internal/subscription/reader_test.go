package subscription

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/subscription/subtest"
)

// msg is a netlink message carrying a marker, to follow it through.
func msg(n byte) []netlink.Message { return []netlink.Message{{Data: []byte{n}}} }

var (
	errEIO  = fmt.Errorf("recvmsg: %w", syscall.EIO)
	errOpen = errors.New("opening: no such protocol")
)

// TestReader: a reader whose read fails is closed, counted, and opened
// again after a pause that doubles from 100 ms to 30 s and starts over
// after a healthy minute; ENOBUFS is reported without a restart; a close
// while paused or reopening ends it.
func TestReader(t *testing.T) {
	ms := time.Millisecond
	type reads = []subtest.Read
	tests := []struct {
		name string
		// first is the source set before Run; opens are what open
		// returns, in turn (nil: open fails).
		first       reads
		opens       []reads
		stopAt      int // Wait returns "stopped" at this pause (1-based; 0: never)
		closeAtOpen int // Close is called during this opening (1-based; 0: never)
		wantMsgs    []byte
		wantWaits   []time.Duration
		wantFails   uint64
		wantMissed  []error
	}{
		{
			name:       "fails once, then reads again",
			first:      reads{{Msgs: msg(1)}, {Err: errEIO}},
			opens:      []reads{{{Msgs: msg(2)}}},
			wantMsgs:   []byte{1, 2},
			wantWaits:  []time.Duration{100 * ms},
			wantFails:  1,
			wantMissed: []error{errEIO},
		},
		{
			name:       "ENOBUFS goes on reading",
			first:      reads{{Err: syscall.ENOBUFS}, {Msgs: msg(1)}},
			wantMsgs:   []byte{1},
			wantMissed: []error{syscall.ENOBUFS},
		},
		{
			name:  "pauses double up to 30 s",
			first: reads{{Err: errEIO}},
			opens: []reads{{{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}},
				{{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}}, {{Err: errEIO}}, {{Msgs: msg(9)}}},
			wantMsgs: []byte{9},
			wantWaits: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms,
				25600 * ms, 30 * time.Second, 30 * time.Second},
			wantFails:  11,
			wantMissed: slices.Repeat([]error{errEIO}, 11),
		},
		{
			name:       "a healthy minute starts the pauses over",
			first:      reads{{Err: errEIO}},
			opens:      []reads{{{Err: errEIO}}, {{Msgs: msg(1), Took: 2 * time.Minute}, {Err: errEIO}}, {{Msgs: msg(2)}}},
			wantMsgs:   []byte{1, 2},
			wantWaits:  []time.Duration{100 * ms, 200 * ms, 100 * ms},
			wantFails:  3,
			wantMissed: []error{errEIO, errEIO, errEIO},
		},
		{
			name:       "a failed opening counts and pauses too",
			first:      reads{{Err: errEIO}},
			opens:      []reads{nil, {{Msgs: msg(3)}}},
			wantMsgs:   []byte{3},
			wantWaits:  []time.Duration{100 * ms, 200 * ms},
			wantFails:  2,
			wantMissed: []error{errOpen},
		},
		{
			name:      "stopped during a pause",
			first:     reads{{Err: errEIO}},
			opens:     []reads{{{Msgs: msg(1)}}},
			stopAt:    1,
			wantWaits: []time.Duration{100 * ms},
			wantFails: 1,
		},
		{
			name:        "closed while reopening",
			first:       reads{{Err: errEIO}},
			opens:       []reads{{{Msgs: msg(1)}}},
			closeAtOpen: 1,
			wantWaits:   []time.Duration{100 * ms},
			wantFails:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := nettest.NewClock(time.Unix(1000, 0))
			var waits []time.Duration
			r := New(Options{What: "test", Log: slog.New(slog.DiscardHandler), Now: clock.Now,
				Wait: func(d time.Duration, stop <-chan struct{}) bool {
					waits = append(waits, d)
					clock.Advance(d)
					return len(waits) == tt.stopAt
				}})
			first := &subtest.Source{Advance: clock.Advance, Reads: tt.first}
			sources := []*subtest.Source{first}
			r.Set(first)
			opened := 0
			open := func() (Source, error) {
				opened++
				if opened > len(tt.opens) {
					t.Fatalf("opened %d times, want %d", opened, len(tt.opens))
				}
				if opened == tt.closeAtOpen {
					r.Close()
				}
				if tt.opens[opened-1] == nil {
					return nil, errOpen
				}
				s := &subtest.Source{Advance: clock.Advance, Reads: tt.opens[opened-1]}
				sources = append(sources, s)
				return s, nil
			}
			var got []byte
			var missed []error
			r.Run(make(chan struct{}), open, func(msgs []netlink.Message) {
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
			if n := r.Failures(); n != tt.wantFails {
				t.Errorf("counted %d failures, want %d", n, tt.wantFails)
			}
			if !slices.EqualFunc(missed, tt.wantMissed, func(a, b error) bool { return errors.Is(a, b) }) {
				t.Errorf("missed %v, want %v", missed, tt.wantMissed)
			}
			for i, s := range sources {
				if failed := s.Done() && i < len(sources)-1; failed && !s.Closed() {
					t.Errorf("source %d failed and was not closed", i)
				}
			}
			if tt.closeAtOpen > 0 && !sources[len(sources)-1].Closed() {
				t.Errorf("the source opened while closing was not closed")
			}
		})
	}
}

func TestIsClosed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"net.ErrClosed", fmt.Errorf("read: %w", net.ErrClosed), true},
		{"EBADF", syscall.EBADF, true},
		{"netlink's closed file", &netlink.OpError{Op: "receive", Err: errors.New("use of closed file")}, true},
		{"EIO", errEIO, false},
		{"ENOBUFS", &netlink.OpError{Op: "receive", Err: syscall.ENOBUFS}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsClosed(tt.err); got != tt.want {
				t.Errorf("IsClosed(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
