package flows

import (
	"sync"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// BeginDump starts a full dump that DumpBatch then receives in batches.
// The first dump only sets the baseline: bytes moved before bwmon started
// are not counted. With Options.BaselineDumps every dump does so for the
// flows it is first to list.
func (t *Table) BeginDump() {
	t.gen++
	t.firstDump = !t.ready
	t.baseline = t.firstDump || t.opts.BaselineDumps
}

// DumpBatch records the counters of part of a dump; the flows of the
// table may change between batches (events), as between a dump and its
// application.
func (t *Table) DumpBatch(flows []ctnetlink.Rec, r Resolver) {
	for i := range flows {
		f := &flows[i]
		k := ctnetlink.KeyOf(f)
		if _, dead := t.tomb[k]; dead {
			continue
		}
		o, rp := f.OrigBytes, f.ReplyBytes
		var fl *flow
		if i, ok := t.flows[k]; ok {
			fl = t.slab.at(i)
		} else {
			var bo, br uint64
			if t.baseline {
				bo, br = o, rp
			}
			nf := t.newFlow(f, r, bo, br)
			if t.firstDump && t.opts.LeaveOldOuter && nf.n < 2 {
				skipAll(&nf)
			}
			if c, ok := r.(Counted); ok && t.baseline && t.opts.BaselineDumps && countedAtSocket(&nf, c) {
				// Counted from now on, and a socket counter counts each of
				// its ends already: the table has nothing to do for it
				// (Keys would forget it at the next tick). Not kept: at
				// start beside 100,000 sockets older than the agent, that
				// is the table's whole size at its peak.
				continue
			}
			fl = t.insert(k, nf)
		}
		fl.seenGen = t.gen
		fl.missing = 0
		fl.orig, fl.reply, fl.done = o, rp, f.Done
	}
}

// EndDump closes a full dump: flows it did not list count towards being
// gone, the others are resolved and their bytes booked. With
// deferResolve, sides still unresolved are left to ResolvePending, which
// looks them up without holding the table's lock: at start, with tens of
// thousands of flows, that is seconds of socket lookups the ticks must not
// wait for.
func (t *Table) EndDump(r Resolver, deferResolve bool) {
	for k, i := range t.flows {
		fl := t.slab.at(i)
		if fl.seenGen != t.gen {
			// Not in this dump: its DESTROY event may still be queued.
			// After three dumps without it the event was lost.
			fl.missing++
			if fl.missing >= 3 {
				t.remove(k, i)
				t.lost++
			}
			continue
		}
		if t.opts.BaselineDumps && fl.done && !fl.announced {
			// Counted from now on, and it carries no more data: with
			// quiet events no DESTROY may come for it.
			t.remove(k, i)
			continue
		}
		if deferResolve && hasUnresolved(fl) {
			t.pending = append(t.pending, fl)
		} else {
			t.resolveSides(fl, r, Tick)
		}
		t.account(fl)
	}
	for k, g := range t.tomb {
		if t.gen-g > 3 {
			delete(t.tomb, k)
		}
	}
	if len(t.pending) > 0 {
		t.slab.setHold(true)
	}
	if t.gen%64 == 0 {
		t.pruneOwners()
	}
	t.compact()
	t.ready = true
}

// ApplyCounters books counters read for known flows (ctnetlink's Get).
// Unlike a dump it takes no flow as gone for being absent: an entry
// missing from the answers has ended, and its DESTROY event brings its
// last bytes.
func (t *Table) ApplyCounters(recs []ctnetlink.Rec, r Resolver) {
	for i := range recs {
		f := &recs[i]
		j, ok := t.flows[ctnetlink.KeyOf(f)]
		if !ok {
			continue
		}
		fl := t.slab.at(j)
		fl.orig, fl.reply, fl.done = f.OrigBytes, f.ReplyBytes, f.Done
		t.resolveSides(fl, r, Tick)
		t.account(fl)
	}
}

// ResolvePending looks up the owners of the flows a deferred EndDump left
// unresolved, holding mu (the table's lock) only to read a side and to
// store the answer, so that ticks and events go on meanwhile. It gives up
// when stopping reports true, and is called without mu held, by one
// goroutine at a time (the one that ran the dump).
func (t *Table) ResolvePending(r Resolver, mu sync.Locker, stopping func() bool) {
	mu.Lock()
	flows := t.pending
	if len(flows) == 0 {
		mu.Unlock()
		return
	}
	t.pending = nil
	mu.Unlock()
	defer func() {
		mu.Lock()
		t.donePending(flows)
		mu.Unlock()
	}()
	for n, fl := range flows {
		if n%256 == 0 && stopping() {
			return
		}
		for i := range fl.sides {
			mu.Lock()
			e, level, ok := t.beginResolve(fl, i)
			mu.Unlock()
			if !ok {
				continue
			}
			info, found := resolveEnds(r, fl.proto, e, level)
			mu.Lock()
			t.endResolve(fl, i, info, found)
			mu.Unlock()
		}
	}
}

// beginResolve prepares side i of fl for a lookup outside the lock: it
// counts the attempt and returns where to look and how hard; ok is false
// when there is nothing to do. Called with the table's lock held.
func (t *Table) beginResolve(fl *flow, i int) (e Ends, level Level, ok bool) {
	if i >= int(fl.n) {
		return Ends{}, 0, false // ended meanwhile
	}
	s := &fl.sides[i]
	if s.resolved || s.ep == nil {
		return Ends{}, 0, false
	}
	s.attempts++
	level = Tick
	if s.attempts >= tickAttempts {
		level = Final
	}
	return *s.ep, level, true
}

// endResolve records the answer of a lookup begun by beginResolve and
// books the bytes it lets through. Called with the table's lock held.
func (t *Table) endResolve(fl *flow, i int, info model.Info, ok bool) {
	if i >= int(fl.n) {
		return
	}
	s := &fl.sides[i]
	if s.resolved || !ok {
		return
	}
	t.settle(s, info)
	t.account(fl)
}

// donePending ends the resolution of the flows EndDump listed, which
// ResolvePending hands back: their slots may be reused again, and the
// list's room serves the next dump (at start, two dumps in a row list
// every flow). Called with the table's lock held.
func (t *Table) donePending(pending []*flow) {
	t.slab.setHold(false)
	clear(pending)
	if t.pending == nil {
		t.pending = pending[:0]
	}
}

// countedAtSocket reports whether c knows every side of fl (a flow with a
// local end) to be counted at the socket.
func countedAtSocket(fl *flow, c Counted) bool {
	for i := range fl.list() {
		s := &fl.sides[i]
		if s.resolved || s.ep == nil || s.ep.Outer || !c.CountedAtSocket(fl.proto, s.ep.Local, s.ep.Remote) {
			return false
		}
	}
	return fl.n > 0
}
