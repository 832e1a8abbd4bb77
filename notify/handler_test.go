package notify

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// tickAt is the time of tick i (1-based), one second apart.
func tickAt(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func TestDirectionStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		window   int
		cooldown time.Duration
		resolve  bool
		rates    []float64 // one per tick; threshold 100
		// full lists the ticks at which the queue refuses events; late
		// is how many ticks a queued event waits before it goes out.
		full []int
		late int
		want []string // "STATE@TICK:MEAN", "dropped STATE@TICK"
	}{
		{name: "window averaging: one busy tick is diluted", window: 2, cooldown: time.Hour, resolve: true,
			rates: []float64{150, 0, 0}, want: nil},
		{name: "window averaging: fires once the mean is over", window: 2, cooldown: time.Hour, resolve: true,
			rates: []float64{150, 150}, want: []string{"firing@2:150"}},
		{name: "at the threshold is not over it", window: 1, cooldown: time.Hour,
			rates: []float64{100, 100}, want: nil},
		{name: "cooldown: one firing while it stays above", window: 1, cooldown: time.Hour, resolve: true,
			rates: []float64{200, 300, 400, 500, 600}, want: []string{"firing@1:200"}},
		{name: "after the cooldown a breach still going fires again", window: 1, cooldown: 3 * time.Second,
			rates: []float64{200, 200, 200, 200, 200, 200, 200}, want: []string{"firing@1:200", "firing@4:200", "firing@7:200"}},
		{name: "no cooldown fires each tick", window: 1, cooldown: 0,
			rates: []float64{200, 200}, want: []string{"firing@1:200", "firing@2:200"}},
		{name: "resolve waits for below 90%", window: 1, cooldown: time.Hour, resolve: true,
			rates: []float64{200, 95, 91, 90, 99, 89, 50}, want: []string{"firing@1:200", "resolved@6:89"}},
		{name: "in the band nothing is sent, not even a repeat", window: 1, cooldown: 0, resolve: true,
			rates: []float64{200, 95, 101}, want: []string{"firing@1:200", "firing@3:101"}},
		{name: "without resolve nothing is sent on the way down", window: 1, cooldown: time.Hour,
			rates: []float64{200, 0, 0}, want: []string{"firing@1:200"}},
		{name: "zero ticks bring an idle app back down", window: 3, cooldown: time.Hour, resolve: true,
			rates: []float64{300, 300, 300, 0, 0, 0}, want: []string{"firing@2:200", "resolved@6:0"}},
		{name: "a breach inside the cooldown sends neither firing nor resolved", window: 1, cooldown: time.Hour, resolve: true,
			rates: []float64{200, 0, 200, 0}, want: []string{"firing@1:200", "resolved@2:0"}},
		{name: "a breach held past the cooldown fires then resolves", window: 1, cooldown: 3 * time.Second, resolve: true,
			rates: []float64{200, 0, 200, 200, 200, 0}, want: []string{"firing@1:200", "resolved@2:0", "firing@4:200", "resolved@6:0"}},
		{name: "a dropped firing starts no cooldown: it fires again next tick", window: 1, cooldown: time.Hour,
			rates: []float64{200, 200, 200, 200}, full: []int{1, 2},
			want: []string{"dropped firing@1", "dropped firing@2", "firing@3:200"}},
		{name: "a dropped firing opens no alert: nothing to resolve", window: 1, cooldown: time.Hour, resolve: true,
			rates: []float64{200, 0, 0}, full: []int{1}, want: []string{"dropped firing@1"}},
		{name: "the cooldown runs from delivery, not from firing", window: 1, cooldown: 3 * time.Second, late: 2,
			rates: []float64{200, 200, 200, 200, 200, 200, 200}, want: []string{"firing@1:200", "firing@6:200"}},
		{name: "no cooldown: one firing waits at a time", window: 1, cooldown: 0, late: 2,
			rates: []float64{200, 200, 200, 200, 200}, want: []string{"firing@1:200", "firing@4:200"}},
		{name: "a dropped resolved is tried again", window: 1, cooldown: time.Hour, resolve: true,
			rates: []float64{200, 0, 0, 0}, full: []int{2}, want: []string{"firing@1:200", "dropped resolved@2", "resolved@3:0"}},
		{name: "a resolved may wait behind its firing", window: 1, cooldown: time.Hour, resolve: true, late: 3,
			rates: []float64{200, 0, 0, 0, 0}, want: []string{"firing@1:200", "resolved@2:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &direction{threshold: 100, win: newWindow(tt.window)}
			type queued struct {
				st State
				at int // the tick it goes out
			}
			var got []string
			var waiting []queued
			for i, r := range tt.rates {
				tick := i + 1
				d.step(r, tickAt(tick), tt.cooldown, tt.resolve, func(st State, mean float64) bool {
					if slices.Contains(tt.full, tick) {
						got = append(got, fmt.Sprintf("dropped %s@%d", st, tick))
						return false
					}
					got = append(got, fmt.Sprintf("%s@%d:%g", st, tick, mean))
					waiting = append(waiting, queued{st, tick + tt.late})
					return true
				})
				for len(waiting) > 0 && waiting[0].at <= tick {
					d.sent(waiting[0].st, tickAt(tick))
					waiting = waiting[1:]
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events = %q, want %q", got, tt.want)
			}
			if d.waiting != len(waiting) {
				t.Fatalf("direction counts %d events waiting, want %d", d.waiting, len(waiting))
			}
		})
	}
}

func TestHandlerPristine(t *testing.T) {
	r := &Rule{App: regexp.MustCompile("."), Out: 100, Window: 2, Cooldown: 5 * time.Second, Resolve: true}
	h := newHandler(r, "a")
	if h.in != nil || h.out == nil {
		t.Fatalf("a rule with only out_threshold checks in=%v out=%v", h.in != nil, h.out != nil)
	}
	var events []Event
	var sent []*direction
	send := func(d *direction, e Event) bool {
		events = append(events, e)
		sent = append(sent, d)
		return true
	}
	steps := []struct {
		rate     float64
		pristine bool
	}{
		{300, false}, // mean 150: firing at tick 1
		{0, false},   // mean 150: still above
		{0, false},   // mean 0: resolved, but the cooldown runs until tick 6
		{0, false},
		{0, false},
		{0, true}, // cooldown over, window empty: as good as new
	}
	for i, s := range steps {
		h.step(0, s.rate, tickAt(i+1), send)
		if h.pristine(tickAt(i+1)) && len(sent) > 0 {
			t.Fatalf("tick %d: pristine with an event waiting", i+1)
		}
		for _, d := range sent {
			d.sent(events[len(events)-1].State, tickAt(i+1))
		}
		sent = nil
		if got := h.pristine(tickAt(i + 1)); got != s.pristine {
			t.Fatalf("tick %d: pristine = %v, want %v", i+1, got, s.pristine)
		}
	}
	if len(events) != 2 || events[0].State != Firing || events[1].State != Resolved {
		t.Fatalf("events = %+v, want firing then resolved", events)
	}
	e := events[0]
	if e.App != "a" || e.Direction != Out || e.Rate != 150 || e.Threshold != 100 || e.Window != 2 || !e.Time.Equal(tickAt(1)) {
		t.Fatalf("firing event = %+v", e)
	}
}
