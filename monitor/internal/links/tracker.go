package links

import (
	"math"

	"github.com/bwmon/bwmon/model"
)

// Tracker keeps each interface's last counters and turns a read into
// what each interface moved since the previous one. It does no I/O and is
// not safe for concurrent use.
type Tracker struct {
	links   map[int32]*Link // the attributes of the last listing, by index
	last    map[int32]Counters
	started bool // a first read set the baselines
	out     []model.InterfaceTick
	seen    map[int32]bool // Update's, reused
}

// NewTracker returns a Tracker that knows no interface.
func NewTracker() *Tracker {
	return &Tracker{links: map[int32]*Link{}, last: map[int32]Counters{}, seen: map[int32]bool{}}
}

// SetLinks replaces what the tracker knows of the interfaces' attributes
// (names, kinds, masters) with a new listing.
func (t *Tracker) SetLinks(ls []Link) {
	clear(t.links)
	for i := range ls {
		t.links[ls[i].Index] = &ls[i]
	}
}

// Knows reports whether the last listing had interface index.
func (t *Tracker) Knows(index int32) bool { return t.links[index] != nil }

// Stat is one interface's counters in a read.
type Stat struct {
	Index int32
	Counters
}

// Update takes the counters of a read, every interface of the namespace,
// and returns what each listed interface moved since the previous read,
// in the order of stats. The first read only sets the baselines (all
// zero); an interface seen for the first time later counts from zero, as
// it is new. Interfaces missing from stats are forgotten. The slice is
// valid until the next Update.
func (t *Tracker) Update(stats []Stat) []model.InterfaceTick {
	t.out = t.out[:0]
	first := !t.started
	t.started = true
	seen := t.seen
	clear(seen)
	for _, s := range stats {
		seen[s.Index] = true
		l := t.links[s.Index]
		if l == nil {
			continue // listed next time: its counters stay to count from
		}
		prev, had := t.last[s.Index]
		t.last[s.Index] = s.Counters
		if first {
			prev = s.Counters
		} else if !had {
			prev = Counters{}
		}
		o := OverheadOf(l)
		it := model.InterfaceTick{
			Index: l.Index, Name: l.Name, Kind: kindName(l), Role: RoleOf(l, t.links),
			LinkIn: Delta(prev.BytesIn, s.BytesIn), LinkOut: Delta(prev.BytesOut, s.BytesOut),
			PacketsIn: Delta(prev.PacketsIn, s.PacketsIn), PacketsOut: Delta(prev.PacketsOut, s.PacketsOut),
			IPEstimated: o.Estimated,
		}
		it.IPIn = IP(it.LinkIn, it.PacketsIn, o.In)
		it.IPOut = IP(it.LinkOut, it.PacketsOut, o.Out)
		t.out = append(t.out, it)
	}
	for i := range t.last {
		if !seen[i] {
			delete(t.last, i)
		}
	}
	return t.out
}

// kindName is how an interface's kind is shown.
func kindName(l *Link) string {
	switch {
	case l.Type == arphrdLoopback || l.Flags&iffLoopback != 0:
		return "loopback"
	case l.Kind == "":
		return "device"
	}
	return l.Kind
}

// Delta returns what a cumulative counter added from prev to cur. A
// counter that went back wrapped at 32 bits when prev fits in 32 bits and
// the wrap makes a step of less than 2^31 (old drivers keep 32-bit
// counters); otherwise it was reset (a driver restarted, an interface
// came back under the same index) and cur is all new.
func Delta(prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	if prev <= math.MaxUint32 && cur <= math.MaxUint32 {
		if d := (1<<32 - prev) + cur; d < 1<<31 {
			return d
		}
	}
	return cur
}
