package flows

import "github.com/bwmon/bwmon/monitor/internal/ctnetlink"

// slabPage is how many flows a page of the slab holds (about 100 KB).
const slabPage = 1024

// flowSlab stores the table's flows by value in fixed pages, which never
// move, so a *flow stays valid until its slot is released: one allocation
// per 1,024 flows instead of one per flow and per side slice, no copying
// as the table grows, and freed slots are reused.
type flowSlab struct {
	pages []*[slabPage]flow
	free  []uint32
	// While hold is set, released slots wait in held instead of free: a
	// resolution under way outside the table's lock (ResolvePending) may
	// still point at them, and must not find another flow there.
	hold bool
	held []uint32
}

// alloc returns a free slot, zeroed.
func (s *flowSlab) alloc() (uint32, *flow) {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		fl := s.at(i)
		*fl = flow{}
		return i, fl
	}
	n := uint32(len(s.pages)) * slabPage
	s.pages = append(s.pages, new([slabPage]flow))
	for i := n + slabPage - 1; i > n; i-- {
		s.free = append(s.free, i)
	}
	return n, s.at(n)
}

func (s *flowSlab) at(i uint32) *flow { return &s.pages[i/slabPage][i%slabPage] }

// release frees slot i. Its flow's pointers are cleared now, so that the
// owners it referred to can be collected.
func (s *flowSlab) release(i uint32) {
	*s.at(i) = flow{}
	if s.hold {
		s.held = append(s.held, i)
		return
	}
	s.free = append(s.free, i)
}

// setHold starts or ends a period during which released slots are not
// reused (see hold).
func (s *flowSlab) setHold(on bool) {
	s.hold = on
	if !on {
		s.free = append(s.free, s.held...)
		s.held = s.held[:0]
	}
}

// compactMin is the fewest slab pages compact frees: below, the table
// keeps its room (a few hundred KB) for the next flows.
const compactMin = 4

// compact moves the flows into as few slab pages as they fill and makes
// the key map anew when at most a quarter of the slab's slots are in use:
// after a burst of flows (the first dump on a busy host, whose flows the
// socket monitor then counts; a flood of connections) the memory goes
// back to what the flows need, where the pages and Go's map would keep
// the burst's size for good. Not while slots are held: a resolution under
// way outside the lock points at flows.
func (t *Table) compact() {
	capacity := len(t.slab.pages) * slabPage
	if t.slab.hold || len(t.pending) > 0 || len(t.flows)*4 > capacity ||
		capacity-len(t.flows) < compactMin*slabPage {
		return
	}
	var s flowSlab
	m := make(map[ctnetlink.Key]uint32, len(t.flows))
	for k, i := range t.flows {
		j, p := s.alloc()
		*p = *t.slab.at(i)
		m[k] = j
	}
	t.slab, t.flows = s, m
	t.compacted++
}
