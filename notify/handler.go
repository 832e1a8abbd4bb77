package notify

import (
	"math"
	"time"
)

// window is a ring buffer of the last per-tick rates of one direction. It
// starts full of zeros: before an app appeared it moved nothing, so a
// single busy tick at start weighs 1/len, not all, of the mean.
type window struct {
	samples []float64
	next    int
}

func newWindow(n int) window { return window{samples: make([]float64, n)} }

func (w *window) push(v float64) {
	w.samples[w.next] = v
	w.next = (w.next + 1) % len(w.samples)
}

// mean sums afresh each time: a running sum would drift with rounding, and
// an idle app's mean must come back to exactly 0.
func (w *window) mean() float64 {
	var sum float64
	for _, v := range w.samples {
		sum += v
	}
	return sum / float64(len(w.samples))
}

func (w *window) idle() bool {
	for _, v := range w.samples {
		if v != 0 {
			return false
		}
	}
	return true
}

// direction is the alert state of one rule, app and direction.
type direction struct {
	threshold float64
	win       window
	// told: a 'firing' was queued and the mean has not yet fallen below
	// ResolveFraction of the threshold since (the hysteresis band between
	// the two keeps it as it was).
	told bool
	// firing: a 'firing' waits in the queue. No other is queued until it
	// has gone out, so a direction has at most one 'firing' and one
	// 'resolved' waiting.
	firing bool
	// waiting counts this direction's events in the queue: while it is
	// not 0 the handler is kept, so that delivering them updates it.
	waiting int
	// lastFiring is when the last 'firing' went out (the time of the
	// latest tick then): the cooldown runs from there. Zero for never.
	lastFiring time.Time
}

// step adds the rate of the tick that closed at now and offers send the
// event it calls for, if any, with the mean it is about. send reports
// whether it queued the event. Only a queued event changes the state: an
// event send refused (its rule's queue was full) neither opens the alert
// nor starts the cooldown, and is offered again at the next tick while it
// is still due.
func (d *direction) step(rate float64, now time.Time, cooldown time.Duration, resolve bool, send func(State, float64) bool) {
	d.win.push(rate)
	mean := d.win.mean()
	switch {
	case mean > d.threshold:
		// Only a mean over the threshold fires, never one in the band.
		if !d.firing && (d.lastFiring.IsZero() || now.Sub(d.lastFiring) >= cooldown) && send(Firing, mean) {
			d.firing, d.told = true, true
			d.waiting++
		}
	case mean < ResolveFraction*d.threshold:
		if !d.told {
			break
		}
		if !resolve {
			d.told = false
		} else if send(Resolved, mean) {
			d.told = false
			d.waiting++
		}
	}
}

// sent records that one of d's queued events went out (or was given up)
// at now, the time of the latest tick: a 'firing' starts the cooldown.
func (d *direction) sent(st State, now time.Time) {
	d.waiting--
	if st == Firing {
		d.firing = false
		d.lastFiring = now
	}
}

// idle reports whether d holds nothing that a new direction would not: no
// bytes in its window, no alert open, no event waiting. Its cooldown may
// still run.
func (d *direction) idle() bool { return !d.told && d.waiting == 0 && d.win.idle() }

// pristine reports whether d is indistinguishable from a new direction at
// now: idle, and no cooldown running.
func (d *direction) pristine(now time.Time, cooldown time.Duration) bool {
	return d.idle() && (d.lastFiring.IsZero() || now.Sub(d.lastFiring) >= cooldown)
}

// handler watches one app for one rule: a direction per checked limit.
type handler struct {
	rule *Rule
	// app is the app's name as events carry it: safename.Clean'd.
	app     string
	in, out *direction
	// listed is the notifier's tick count when the app was last listed.
	listed uint64
}

func newHandler(r *Rule, app string) *handler {
	h := &handler{rule: r, app: app}
	if r.In > 0 {
		h.in = &direction{threshold: float64(r.In), win: newWindow(r.Window)}
	}
	if r.Out > 0 {
		h.out = &direction{threshold: float64(r.Out), win: newWindow(r.Window)}
	}
	return h
}

// step feeds one tick's rates; send is offered each event the tick calls
// for and reports whether it queued it.
func (h *handler) step(in, out float64, now time.Time, send func(*direction, Event) bool) {
	for _, d := range []struct {
		name Direction
		st   *direction
		rate float64
	}{{In, h.in, in}, {Out, h.out, out}} {
		if d.st == nil {
			continue
		}
		d.st.step(d.rate, now, h.rule.Cooldown, h.rule.Resolve, func(state State, mean float64) bool {
			return send(d.st, Event{
				Time:      now.Round(0).Truncate(time.Second),
				App:       h.app,
				Class:     h.rule.Class,
				Direction: d.name,
				State:     state,
				Rate:      math.Round(mean),
				Threshold: d.st.threshold,
				Window:    h.rule.Window,
			})
		})
	}
}

// pristine reports whether the handler can be dropped while its app is
// still listed: a new one made when the app next moves bytes would behave
// the same.
func (h *handler) pristine(now time.Time) bool {
	return (h.in == nil || h.in.pristine(now, h.rule.Cooldown)) &&
		(h.out == nil || h.out.pristine(now, h.rule.Cooldown))
}

// idle reports whether the handler can be dropped once its app is no
// longer listed: nothing in its windows, no alert open, no event waiting.
// Its cooldowns are forgotten: an app that went away and comes back is
// watched afresh.
func (h *handler) idle() bool {
	return (h.in == nil || h.in.idle()) && (h.out == nil || h.out.idle())
}

// waiting reports whether events of the handler wait in the queue.
func (h *handler) waiting() bool {
	return (h.in != nil && h.in.waiting > 0) || (h.out != nil && h.out.waiting > 0)
}
