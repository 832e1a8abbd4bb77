package aggregator

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bwmon/bwmon/model"
)

// appState is one app listed by name: its totals, what it moved in the
// current tick, and when it last moved bytes.
type appState struct {
	name            string
	in, out         uint64 // cumulative since Snapshot.Since
	tickIn, tickOut uint64 // in the current tick
	active          time.Time
	// classes splits in and tickIn, out and tickOut by destination
	// class: a row per class it has bytes of.
	classes []appClass

	// Gathered from the live entries during the tick, handed to its line.
	pids  []int
	where *where
}

func (s *appState) total() uint64 { return s.in + s.out }

// otherState is model.OtherApp: the bytes of every app folded so far.
type otherState struct {
	in, out, tickIn, tickOut uint64
	classes                  []appClass
}

// limits returns the effective limits: Config.Limits with model's defaults
// for its zero fields, and TopApps no more than Apps.
func (a *Aggregator) limits() model.Limits {
	l := a.cfg.Limits.WithDefaults()
	l.TopApps = min(l.TopApps, l.Apps)
	return l
}

// foldLocked folds apps into OtherApp at the end of adding the bytes of the
// tick closed at now:
//
//   - an app idle for longer than l.ActiveWindow that is not among the
//     l.TopApps largest by total;
//   - then, while more than l.Apps apps remain, the longest idle one, or,
//     among those that moved bytes in this tick, the smallest by total;
//     never one of the l.TopApps largest.
//
// A scan of the apps tells whether anything needs folding; only then are
// they ordered, by selection (expected time linear in the number of apps),
// never by a sort.
func (a *Aggregator) foldLocked(now time.Time, l model.Limits) {
	n := len(a.apps)
	if n <= l.TopApps {
		return // all are top apps
	}
	stale := 0
	for _, s := range a.apps {
		if now.Sub(s.active) > l.ActiveWindow {
			stale++
		}
	}
	if stale == 0 && n <= l.Apps {
		return
	}
	order := a.order[:0]
	for _, s := range a.apps {
		order = append(order, s)
	}
	selectFirst(order, l.TopApps, largerTotal)
	rest := order[l.TopApps:]
	if stale > 0 {
		kept := rest[:0]
		for _, s := range rest {
			if now.Sub(s.active) > l.ActiveWindow {
				a.foldApp(s)
			} else {
				kept = append(kept, s)
			}
		}
		rest = kept
	}
	if extra := len(a.apps) - l.Apps; extra > 0 {
		selectFirst(rest, extra, foldsFirst)
		for _, s := range rest[:extra] {
			a.foldApp(s)
		}
	}
	clear(order[:cap(order)]) // hold no folded app
	a.order = order[:0]
}

// foldApp adds s to OtherApp, totals and this tick's bytes, and forgets it:
// bytes its processes move later start a new app of that name from zero.
func (a *Aggregator) foldApp(s *appState) {
	a.other.in += s.in
	a.other.out += s.out
	a.other.tickIn += s.tickIn
	a.other.tickOut += s.tickOut
	a.other.classes = mergeClasses(a.other.classes, s.classes)
	a.folded++
	delete(a.apps, s.name)
}

// largerTotal orders apps by total, largest first, then by name.
func largerTotal(x, y *appState) int {
	return cmp.Or(cmp.Compare(y.total(), x.total()), cmp.Compare(x.name, y.name))
}

// foldsFirst orders apps as they are folded past Limits.Apps: the longest
// idle first, then the smallest by total, then by name.
func foldsFirst(x, y *appState) int {
	return cmp.Or(x.active.Compare(y.active), cmp.Compare(x.total(), y.total()), cmp.Compare(x.name, y.name))
}

// selectFirst rearranges s so that s[:k] holds the k first elements of s in
// the order of cmp, a strict order (no two elements compare equal), in no
// particular order among themselves: a quickselect with random pivots, in
// expected time linear in len(s) whatever the names and totals.
func selectFirst(s []*appState, k int, cmp func(x, y *appState) int) {
	// s[:lo] come before s[lo:hi], which come before s[hi:].
	lo, hi := 0, len(s)
	for lo < k && k < hi {
		p := lo + rand.IntN(hi-lo)
		s[p], s[hi-1] = s[hi-1], s[p]
		pivot, i := s[hi-1], lo
		for j := lo; j < hi-1; j++ {
			if cmp(s[j], pivot) < 0 {
				s[i], s[j] = s[j], s[i]
				i++
			}
		}
		s[i], s[hi-1] = s[hi-1], s[i]
		switch {
		case k < i:
			hi = i
		case k > i+1:
			lo = i + 1
		default:
			return
		}
	}
}

// lines returns the Snapshot's lines of the apps, busiest first (by rate,
// then by total, then by name), then OtherApp's once it holds bytes, and
// closes the tick: the tick's bytes and what was gathered are reset.
func (a *Aggregator) lines(dt float64, names []string) []model.AppUsage {
	out := make([]model.AppUsage, 0, len(a.apps)+1)
	for _, s := range a.apps {
		out = append(out, s.line(dt, names))
	}
	slices.SortFunc(out, func(x, y model.AppUsage) int {
		return cmp.Or(
			cmp.Compare(y.RateIn+y.RateOut, x.RateIn+x.RateOut),
			cmp.Compare(y.BytesIn+y.BytesOut, x.BytesIn+x.BytesOut),
			cmp.Compare(x.App, y.App))
	})
	o := &a.other
	if o.in+o.out > 0 {
		u := model.AppUsage{
			App: model.OtherApp, BytesIn: o.in, BytesOut: o.out,
			RateIn: float64(o.tickIn) / dt, RateOut: float64(o.tickOut) / dt,
			PIDs: []int{}, Folded: a.folded,
			Classes: classLines(o.classes, dt, names),
		}
		(*where)(nil).fill(&u)
		out = append(out, u)
	}
	o.tickIn, o.tickOut = 0, 0
	return out
}

// line returns s's line for a tick of dt seconds and resets the tick.
func (s *appState) line(dt float64, names []string) model.AppUsage {
	p := s.pids
	slices.Sort(p)
	p = slices.Compact(p)
	u := model.AppUsage{
		App: s.name, BytesIn: s.in, BytesOut: s.out,
		RateIn: float64(s.tickIn) / dt, RateOut: float64(s.tickOut) / dt,
		PIDs: listed(p), Processes: len(p),
		Classes: classLines(s.classes, dt, names),
	}
	if u.PIDs == nil {
		u.PIDs = []int{}
	}
	s.where.fill(&u)
	s.tickIn, s.tickOut = 0, 0
	s.pids, s.where = nil, nil
	return u
}
