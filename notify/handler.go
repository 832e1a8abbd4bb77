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
	// told: a 'firing' went out and the mean has not yet fallen below
	// ResolveFraction of the threshold since (the hysteresis band between
	// the two keeps it as it was).
	told bool
	// lastFiring is when the last 'firing' went out; zero for never.
	lastFiring time.Time
}

// step adds the rate of the tick that closed at now and returns the event
// state to send, if any, with the mean it is about.
func (d *direction) step(rate float64, now time.Time, cooldown time.Duration, resolve bool) (State, float64, bool) {
	d.win.push(rate)
	mean := d.win.mean()
	switch {
	case mean > d.threshold:
		// Only a mean over the threshold fires, never one in the band.
		if d.lastFiring.IsZero() || now.Sub(d.lastFiring) >= cooldown {
			d.lastFiring = now
			d.told = true
			return Firing, mean, true
		}
	case mean < ResolveFraction*d.threshold:
		if d.told {
			d.told = false
			if resolve {
				return Resolved, mean, true
			}
		}
	}
	return "", mean, false
}

// pristine reports whether d is indistinguishable from a new direction at
// now: nothing in its window, no alert open, no cooldown running.
func (d *direction) pristine(now time.Time, cooldown time.Duration) bool {
	return !d.told && d.win.idle() &&
		(d.lastFiring.IsZero() || now.Sub(d.lastFiring) >= cooldown)
}

// handler watches one app for one rule: a direction per checked limit.
type handler struct {
	rule    *Rule
	in, out *direction
	// tick is the notifier's tick count when the app was last listed.
	tick uint64
}

func newHandler(r *Rule) *handler {
	h := &handler{rule: r}
	if r.In > 0 {
		h.in = &direction{threshold: float64(r.In), win: newWindow(r.Window)}
	}
	if r.Out > 0 {
		h.out = &direction{threshold: float64(r.Out), win: newWindow(r.Window)}
	}
	return h
}

// step feeds one tick's rates and calls emit for each event it yields.
func (h *handler) step(app string, in, out float64, now time.Time, emit func(Event)) {
	for _, d := range []struct {
		name Direction
		st   *direction
		rate float64
	}{{In, h.in, in}, {Out, h.out, out}} {
		if d.st == nil {
			continue
		}
		state, mean, ok := d.st.step(d.rate, now, h.rule.Cooldown, h.rule.Resolve)
		if !ok {
			continue
		}
		emit(Event{
			Time:      now.Round(0).Truncate(time.Second),
			App:       app,
			Direction: d.name,
			State:     state,
			Rate:      math.Round(mean),
			Threshold: d.st.threshold,
			Window:    h.rule.Window,
		})
	}
}

// pristine reports whether the handler can be dropped: a new one made when
// the app next moves bytes would behave the same.
func (h *handler) pristine(now time.Time) bool {
	return (h.in == nil || h.in.pristine(now, h.rule.Cooldown)) &&
		(h.out == nil || h.out.pristine(now, h.rule.Cooldown))
}
