package aggregator

import (
	"time"

	"github.com/bwmon/bwmon/model"
)

// Coverage windows: their length, and the buckets that make them up. A
// window sums the buckets that end within it, so it reaches back its
// length plus at most one bucket: 5 s in 15 minutes, 8 minutes in a day
// (and the tick that ended first in it).
const (
	coverageShort  = 15 * time.Minute
	coverageLong   = 24 * time.Hour
	coverageBucket = 180 // buckets a window
)

// bucketSums are what coverage adds up: the counted interfaces' IP bytes
// and the bytes bwmon accounted of them, in and out.
type bucketSums struct {
	ifaceIn, ifaceOut, accountedIn, accountedOut uint64
}

func (s *bucketSums) add(o bucketSums) {
	s.ifaceIn += o.ifaceIn
	s.ifaceOut += o.ifaceOut
	s.accountedIn += o.accountedIn
	s.accountedOut += o.accountedOut
}

// span turns sums over secs seconds into a model.CoverageSpan.
func (s bucketSums) span(secs float64) model.CoverageSpan {
	return model.CoverageSpan{
		In: model.Ratio(s.accountedIn, s.ifaceIn), Out: model.Ratio(s.accountedOut, s.ifaceOut),
		InterfaceBytesIn: s.ifaceIn, InterfaceBytesOut: s.ifaceOut,
		AccountedBytesIn: s.accountedIn, AccountedBytesOut: s.accountedOut,
		SpanS: secs,
	}
}

// coverage keeps the sums of the ticks over the last 15 minutes and 24
// hours, and since start. Its time is the ticks' (monotonic, from start):
// it reads no clock.
type coverage struct {
	start       time.Time
	short, long window
	total       bucketSums
	totalS      float64
}

func newCoverage(start time.Time) *coverage {
	return &coverage{start: start, short: newWindow(coverageShort), long: newWindow(coverageLong)}
}

// add records a tick of dt seconds that ended at now, and returns
// coverage as of it.
func (c *coverage) add(now time.Time, dt float64, s bucketSums) model.Coverage {
	at := now.Sub(c.start)
	c.short.add(at, dt, s)
	c.long.add(at, dt, s)
	c.total.add(s)
	c.totalS += dt
	return model.Coverage{
		CoverageSpan: s.span(dt),
		Last15m:      c.short.span(at),
		Last24h:      c.long.span(at),
		Total:        c.total.span(c.totalS),
	}
}

// window is a ring of buckets of equal length.
type window struct {
	step    time.Duration
	buckets []bucket
}

type bucket struct {
	id   int64 // which step since start it holds; -1: none yet
	sums bucketSums
	secs float64
}

func newWindow(length time.Duration) window {
	w := window{step: length / coverageBucket, buckets: make([]bucket, coverageBucket+1)}
	for i := range w.buckets {
		w.buckets[i].id = -1
	}
	return w
}

// add puts a tick that ended at `at` (since start) into its bucket.
func (w *window) add(at time.Duration, dt float64, s bucketSums) {
	id := int64(at / w.step)
	if id < 0 {
		id = 0
	}
	b := &w.buckets[id%int64(len(w.buckets))]
	if b.id != id {
		*b = bucket{id: id}
	}
	b.sums.add(s)
	b.secs += dt
}

// span sums the buckets within the window that ends at `at`: the current
// one and the coverageBucket before it.
func (w *window) span(at time.Duration) model.CoverageSpan {
	id := int64(at / w.step)
	var s bucketSums
	var secs float64
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.id >= 0 && b.id <= id && id-b.id <= coverageBucket {
			s.add(b.sums)
			secs += b.secs
		}
	}
	return s.span(secs)
}
