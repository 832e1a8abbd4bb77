package httpapi

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// History sizes. An app's rings grow as it lives and stop at these lengths,
// so one app holds at most (fineLen + coarseLen) * 24 bytes of points
// (≈61 KB; ≈68 KB with its bookkeeping).
const (
	// FineWindow is how far back the 1-second series reaches.
	FineWindow = 15 * time.Minute
	// CoarseWindow is how far back the 1-minute series reaches.
	CoarseWindow = 24 * time.Hour

	fineStep = time.Second
	// fineLen leaves room for points a little shorter than fineStep
	// (sub-second ticks merge until they cover 0.9 s).
	fineLen   = int(FineWindow/fineStep) * 12 / 10
	coarseLen = int(CoarseWindow / time.Minute)

	// DefaultMaxApps is how many apps History tracks unless told otherwise.
	DefaultMaxApps = model.DefaultLimitHistoryApps
)

// Point is one step of a series: the average rates, in bytes per second,
// over the DurationS seconds that ended at T (Unix seconds). Minute points
// also carry the highest fine point of their minute, so a burst of one
// second stays visible after averaging.
type Point struct {
	T         float64  `json:"t"`
	DurationS float64  `json:"duration_s"`
	In        float64  `json:"in"`
	Out       float64  `json:"out"`
	PeakIn    *float64 `json:"peak_in,omitempty"`
	PeakOut   *float64 `json:"peak_out,omitempty"`
}

// finePoint covers about a second (one tick, or a few merged sub-second
// ticks; a longer tick is one point).
type finePoint struct {
	endMs   int64
	durMs   uint32
	in, out float32 // bytes per second
}

// coarsePoint covers one wall-clock minute.
type coarsePoint struct {
	minute          uint32  // Unix minutes of its start
	covered         float32 // seconds measured within the minute
	in, out         float32 // bytes moved within the minute
	peakIn, peakOut float32 // highest fine rate within the minute
}

// ring is a fixed-capacity FIFO that grows up to max before it wraps.
type ring[T any] struct {
	buf  []T
	head int // index of the oldest element once full
	max  int
}

func (r *ring[T]) push(v T) {
	if len(r.buf) < r.max {
		if len(r.buf) == cap(r.buf) { // grow, but never past max
			nb := make([]T, len(r.buf), min(max(2*cap(r.buf), 64), r.max))
			copy(nb, r.buf)
			r.buf = nb
		}
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.head] = v
	r.head = (r.head + 1) % r.max
}

// each calls f on every element, oldest first.
func (r *ring[T]) each(f func(*T)) {
	for i := range r.buf {
		f(&r.buf[(r.head+i)%len(r.buf)])
	}
}

// series is one app's history.
type series struct {
	fine   ring[finePoint]
	coarse ring[coarsePoint]

	// pending accumulates ticks shorter than a second.
	pendIn, pendOut float64 // bytes
	pendDur         time.Duration
	// cur is the minute being filled; it joins coarse when the minute ends.
	cur    coarsePoint
	hasCur bool

	lastActive time.Time // last tick with bytes moved

	// vol is the app's volume, which decides whom History keeps: the
	// bytes (in and out) it moved within CoarseWindow as its points hold
	// them, plus carried, the bytes it moved while it waited to be kept,
	// until carriedSince is CoarseWindow old. add adds each tick; refresh
	// recomputes it from the points once a minute, as old minutes leave
	// the window.
	vol          float64
	carried      float64
	carriedSince time.Time
}

func newSeries() *series {
	return &series{fine: ring[finePoint]{max: fineLen}, coarse: ring[coarsePoint]{max: coarseLen}}
}

// add records a tick of length dt that ended at now, at the given rates.
func (s *series) add(now time.Time, dt time.Duration, rateIn, rateOut float64) {
	if rateIn > 0 || rateOut > 0 {
		s.lastActive = now
	}
	s.vol += (rateIn + rateOut) * dt.Seconds()
	s.pendIn += rateIn * dt.Seconds()
	s.pendOut += rateOut * dt.Seconds()
	s.pendDur += dt
	if s.pendDur < fineStep*9/10 { // merge sub-second ticks into about a second
		return
	}
	secs := s.pendDur.Seconds()
	p := finePoint{endMs: now.UnixMilli(), durMs: uint32(s.pendDur.Milliseconds()),
		in: float32(s.pendIn / secs), out: float32(s.pendOut / secs)}
	s.fine.push(p)
	s.addCoarse(now, secs, p)
	s.pendIn, s.pendOut, s.pendDur = 0, 0, 0
}

func (s *series) addCoarse(now time.Time, secs float64, p finePoint) {
	m := uint32(now.Unix() / 60)
	if s.hasCur && s.cur.minute != m {
		s.coarse.push(s.cur)
		s.hasCur = false
	}
	if !s.hasCur {
		s.cur, s.hasCur = coarsePoint{minute: m}, true
	}
	s.cur.covered += float32(secs)
	s.cur.in += p.in * float32(secs)
	s.cur.out += p.out * float32(secs)
	s.cur.peakIn = max(s.cur.peakIn, p.in)
	s.cur.peakOut = max(s.cur.peakOut, p.out)
}

// refresh recomputes vol at now: the bytes of the minutes that end within
// CoarseWindow, the minute in progress, the ticks not yet a point, and the
// carried bytes while they are recent.
func (s *series) refresh(now time.Time) {
	from := now.Add(-CoarseWindow).Unix()
	v := s.pendIn + s.pendOut
	add := func(c *coarsePoint) {
		if (int64(c.minute)+1)*60 > from {
			v += float64(c.in) + float64(c.out)
		}
	}
	s.coarse.each(add)
	if s.hasCur {
		add(&s.cur)
	}
	if s.carried > 0 && now.Sub(s.carriedSince) < CoarseWindow {
		v += s.carried
	} else {
		s.carried = 0
	}
	s.vol = v
}

// finePoints returns the fine points that ended after from.
func (s *series) finePoints(from time.Time) []Point {
	out := []Point{}
	fromMs := from.UnixMilli()
	s.fine.each(func(p *finePoint) {
		if p.endMs > fromMs {
			out = append(out, Point{T: float64(p.endMs) / 1000, DurationS: float64(p.durMs) / 1000,
				In: round(float64(p.in)), Out: round(float64(p.out))})
		}
	})
	return out
}

// coarsePoints returns the minute points that ended after from, the minute
// in progress last.
func (s *series) coarsePoints(from time.Time) []Point {
	out := []Point{}
	add := func(c *coarsePoint) {
		end := time.Unix(int64(c.minute+1)*60, 0)
		if !end.After(from) || c.covered <= 0 {
			return
		}
		pi, po := round(float64(c.peakIn)), round(float64(c.peakOut))
		out = append(out, Point{T: float64(end.Unix()), DurationS: 60,
			In: round(float64(c.in / c.covered)), Out: round(float64(c.out / c.covered)),
			PeakIn: &pi, PeakOut: &po})
	}
	s.coarse.each(add)
	if s.hasCur {
		add(&s.cur)
	}
	return out
}

// round keeps three decimals: rates are float32 inside, and the JSON need
// not pretend to more.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// History keeps, per app, 1-second points for FineWindow and 1-minute
// points (average and peak) for CoarseWindow, in fixed-size rings.
//
// It keeps at most maxApps apps, the largest by volume: the bytes an app
// moved within CoarseWindow. An app starts being kept when it moves bytes
// and there is room. When there is none, a newly active app waits: History
// counts what it moves (for at most maxApps waiting apps, the one idle
// longest making room), and once that is more than the volume of the
// smallest app kept, it takes that app's place, never a bigger one's. A
// flood of short-lived apps thus replaces only one another, and the
// history of the busiest apps stays whole. An app idle for CoarseWindow is
// forgotten.
//
// Its time is the snapshots' time; it reads no clock. Safe for concurrent
// use.
type History struct {
	mu      sync.Mutex // guards all following fields
	apps    map[string]*series
	waiting map[string]*candidate // active apps not kept, at most maxApps
	maxApps int
	last    time.Time // time of the latest snapshot
	known   map[string]bool
	evicted uint64
}

// candidate is an app waiting to be kept.
type candidate struct {
	bytes      float64   // moved since since
	since      time.Time // when it began to wait, at most CoarseWindow ago
	lastActive time.Time
}

// NewHistory returns an empty History tracking at most maxApps apps
// (DefaultMaxApps when maxApps <= 0).
func NewHistory(maxApps int) *History {
	if maxApps <= 0 {
		maxApps = DefaultMaxApps
	}
	return &History{apps: make(map[string]*series), waiting: make(map[string]*candidate),
		maxApps: maxApps, known: map[string]bool{}}
}

// Rates are one series' rates over a tick, in bytes per second, as
// AddRates takes them.
type Rates struct {
	Name    string
	In, Out float64
}

// Add records a snapshot: its apps' rates.
func (h *History) Add(s *model.Snapshot) {
	rs := make([]Rates, len(s.Apps))
	for i, a := range s.Apps {
		rs[i] = Rates{a.App, a.RateIn, a.RateOut}
	}
	h.AddRates(s.Time, s.IntervalS, rs)
}

// AddRates records a tick of intervalS seconds that ended at now: the
// rates of every series it knows of (an app, an interface), each name
// once.
func (h *History) AddRates(now time.Time, intervalS float64, rs []Rates) {
	dt := time.Duration(intervalS * float64(time.Second))
	if dt <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	newMinute := now.Unix()/60 != h.last.Unix()/60
	h.last = now
	known := make(map[string]bool, len(rs))
	var newcomers []int
	for i, a := range rs {
		known[a.Name] = true
		if sr := h.apps[a.Name]; sr != nil {
			sr.add(now, dt, a.In, a.Out)
		} else if a.In > 0 || a.Out > 0 {
			newcomers = append(newcomers, i) // idle and untracked: nothing to draw
		}
	}
	h.known = known
	if newMinute {
		h.expire(now)
	}
	if len(newcomers) > 0 {
		h.admit(now, rs, newcomers, dt)
	}
}

// expire forgets the apps and the candidates idle for CoarseWindow, and
// brings the volumes of the others up to date.
func (h *History) expire(now time.Time) {
	for name, sr := range h.apps {
		if now.Sub(sr.lastActive) > CoarseWindow {
			delete(h.apps, name)
			h.evicted++
			continue
		}
		sr.refresh(now)
	}
	for name, c := range h.waiting {
		if now.Sub(c.lastActive) > CoarseWindow {
			delete(h.waiting, name)
		}
	}
}

// admit keeps the newcomers (indexes into rs of active apps not kept)
// that fit or outweigh the smallest app kept, the largest first, and lets
// the others wait.
func (h *History) admit(now time.Time, rs []Rates, newcomers []int, dt time.Duration) {
	type newcomer struct {
		i      int
		waited float64 // bytes moved before this tick while waiting
		since  time.Time
		vol    float64 // waited and this tick's bytes
	}
	ncs := make([]newcomer, 0, len(newcomers))
	for _, i := range newcomers {
		a := &rs[i]
		n := newcomer{i: i, since: now}
		if c := h.waiting[a.Name]; c != nil && now.Sub(c.since) < CoarseWindow {
			n.waited, n.since = c.bytes, c.since
		}
		n.vol = n.waited + (a.In+a.Out)*dt.Seconds()
		ncs = append(ncs, n)
	}
	slices.SortStableFunc(ncs, func(x, y newcomer) int { return cmp.Compare(y.vol, x.vol) })
	for _, n := range ncs {
		a := &rs[n.i]
		if len(h.apps) >= h.maxApps {
			name, vol := h.smallest()
			if !(n.vol > vol) {
				h.wait(a.Name, n.vol, n.since, now)
				continue
			}
			delete(h.apps, name)
			h.evicted++
		}
		delete(h.waiting, a.Name)
		sr := newSeries()
		sr.carried, sr.carriedSince, sr.vol = n.waited, n.since, n.waited
		sr.add(now, dt, a.In, a.Out)
		h.apps[a.Name] = sr
	}
}

// smallest returns the app kept with the least volume (of two equal ones,
// the one idle longer, then the first by name).
func (h *History) smallest() (name string, vol float64) {
	var low *series
	for n, sr := range h.apps {
		if low == nil || sr.vol < low.vol ||
			(sr.vol == low.vol && (sr.lastActive.Before(low.lastActive) || (sr.lastActive.Equal(low.lastActive) && n < name))) {
			low, name = sr, n
		}
	}
	if low == nil {
		return "", 0
	}
	return name, low.vol
}

// wait records that app, not kept, has moved vol bytes since since. When
// maxApps apps already wait, the one idle longest makes room, or, if all
// moved bytes now, the smallest, if it is smaller than vol.
func (h *History) wait(app string, vol float64, since, now time.Time) {
	c := h.waiting[app]
	if c == nil {
		if len(h.waiting) >= h.maxApps {
			var out string
			var oc *candidate
			for n, w := range h.waiting {
				if oc == nil || w.lastActive.Before(oc.lastActive) ||
					(w.lastActive.Equal(oc.lastActive) && (w.bytes < oc.bytes || (w.bytes == oc.bytes && n < out))) {
					out, oc = n, w
				}
			}
			if !oc.lastActive.Before(now) && !(vol > oc.bytes) {
				return
			}
			delete(h.waiting, out)
		}
		c = &candidate{}
		h.waiting[app] = c
	}
	c.bytes, c.since, c.lastActive = vol, since, now
}

// Query returns app's points of the last since: fine points when since is
// at most FineWindow, minute points otherwise. ok is false when the app is
// neither tracked nor in the latest snapshot; an app in the snapshot but not
// tracked (idle, or evicted) has no points.
func (h *History) Query(app string, since time.Duration) (points []Point, resolution time.Duration, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	from, resolution := h.span(since)
	points, ok = h.pointsLocked(app, from, resolution)
	return points, resolution, ok
}

// span returns where a query of since begins and its resolution.
func (h *History) span(since time.Duration) (from time.Time, resolution time.Duration) {
	if since > FineWindow {
		return h.last.Add(-since), time.Minute
	}
	return h.last.Add(-since), fineStep
}

// pointsLocked is Query's answer for app from from on.
func (h *History) pointsLocked(app string, from time.Time, resolution time.Duration) ([]Point, bool) {
	sr := h.apps[app]
	switch {
	case sr == nil:
		return []Point{}, h.known[app]
	case resolution == fineStep:
		return sr.finePoints(from), true
	default:
		return sr.coarsePoints(from), true
	}
}

// AppHistory is one app's points, as QueryMany returns them.
type AppHistory struct {
	App    string  `json:"app"`
	Points []Point `json:"points"`
}

// QueryMany is Query for several apps at once, under one lock: the
// histories of the apps it knows, in the order given, and the apps it does
// not know.
func (h *History) QueryMany(apps []string, since time.Duration) (hs []AppHistory, unknown []string, resolution time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	from, resolution := h.span(since)
	hs, unknown = make([]AppHistory, 0, len(apps)), []string{}
	for _, app := range apps {
		if points, ok := h.pointsLocked(app, from, resolution); ok {
			hs = append(hs, AppHistory{App: app, Points: points})
		} else {
			unknown = append(unknown, app)
		}
	}
	return hs, unknown, resolution
}

// Names returns the series History keeps, sorted.
func (h *History) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.apps))
	for n := range h.apps {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Len returns how many apps are tracked, and how many were forgotten since
// start (idle for a day, or replaced by a bigger one).
func (h *History) Len() (tracked int, evicted uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.apps), h.evicted
}
