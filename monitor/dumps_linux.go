package monitor

import (
	"runtime/debug"
	"time"

	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// dumpAndApply reads the whole table and applies it, then looks up the
// owners the dump left to find.
func (r *tableReader) dumpAndApply() error {
	r.dumpMu.Lock()
	defer r.dumpMu.Unlock()
	if err := r.dumpLocked(); err != nil {
		return err
	}
	r.table.ResolvePending(r.fr, &r.mu, r.stopping)
	r.giveBack()
	return nil
}

// giveBack returns the memory of a burst of flows to the system once the
// table has given back their room (flows.Table.Compacted): the Go runtime
// would keep it for minutes, and the agent's resident size is what its
// users watch. One collection (tens of ms at 100,000 sockets), once a
// burst, on dumpLoop's goroutine rather than the tick's (at start, before
// dumpLoop runs, here). Called without mu held.
func (r *tableReader) giveBack() {
	r.mu.Lock()
	n := r.table.Compacted()
	freed := n != r.compacted
	r.compacted = n
	r.mu.Unlock()
	switch {
	case !freed:
	case r.freeReq != nil:
		select {
		case r.freeReq <- struct{}{}:
		default: // one is due already
		}
	default:
		debug.FreeOSMemory()
	}
}

// dumpLocked reads the whole table into the flow table, with dumpMu held;
// a large dump leaves the owners to look up to the table's
// ResolvePending.
func (r *tableReader) dumpLocked() error {
	start := time.Now()
	r.mu.Lock()
	r.table.BeginDump()
	r.mu.Unlock()
	n := 0
	err := r.dump.DumpEach(func(batch []ctnetlink.Rec) {
		n += len(batch)
		r.mu.Lock()
		r.table.DumpBatch(batch, r.fr)
		r.mu.Unlock()
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.table.EndDump(r.fr, n > deferAbove)
	r.dumpCost = time.Since(start)
	r.sinceFull, r.lostAtFull = 0, r.gaps()
	return nil
}

// deferAbove is the dump size above which unresolved flows are resolved
// outside the table's lock (flows.Table.ResolvePending).
const deferAbove = 256

const (
	// getMax is the number of flows up to which a tick reads counters by
	// GET rather than by a full dump. A dump walks every bucket of the
	// kernel's conntrack hash, which all network namespaces share (some
	// milliseconds even for a handful of flows); a GET is one lookup.
	getMax = 5000
	// fullEvery is how many ticks of GETs pass between two full dumps,
	// which find flows whose NEW event was lost and drop vanished ones.
	fullEvery = 30
)

// getAndApply reads the counters of the known flows by GET (but those
// counted at the socket: flows.Table.Keys), when they are few and a full
// dump happened recently (or, with quiet events, no event was lost since
// the last); it reports whether it did.
func (r *tableReader) getAndApply() (bool, error) {
	r.mu.Lock()
	r.sinceFull++
	// With quiet events no full dump is due but after a loss: the flows
	// it would find were counted at the socket.
	ok := (r.quiet || r.sinceFull < fullEvery) && r.gaps() == r.lostAtFull
	if ok {
		r.keys = r.table.Keys(r.keys[:0])
		ok = len(r.keys) <= getMax
	}
	r.mu.Unlock()
	if !ok {
		return false, nil
	}
	if !r.dumpMu.TryLock() {
		return true, nil // a dump or its lookups under way: read next tick
	}
	defer r.dumpMu.Unlock()
	recs, err := r.dump.Get(r.keys)
	if err != nil {
		// Answers lost (the socket's buffer overflowed): read the table
		// by a full dump instead, so that no tick goes uncounted.
		r.log.Debug("reading flows by GET; dumping instead", "err", err)
		r.dumpMu.Unlock()
		err = r.dumpAndApply()
		r.dumpMu.Lock()
		return true, err
	}
	r.mu.Lock()
	r.table.ApplyCounters(recs, r.fr)
	r.table.ForgetUnanswered(r.keys, recs)
	if cap(r.keys) > 4096 && len(r.keys) < cap(r.keys)/4 {
		r.keys = nil // the flows of a burst are gone: its room too
	}
	r.mu.Unlock()
	r.giveBack()
	return true, nil
}

const (
	// dumpBudget is the share of one core full dumps may take: beyond it
	// they are spread over several ticks.
	dumpBudget = 0.05
	// maxDumpEvery bounds the ticks between two full dumps.
	maxDumpEvery = 10
	// syncDump is the dump cost up to which a tick waits for its dump,
	// and the longest it waits.
	syncDump = 50 * time.Millisecond
)

// dumpLoop runs the full dumps the ticks ask for (requestDump). It signals
// dumpDone once a dump is applied, before looking up the owners it left to
// find, which a tick does not wait for.
func (r *tableReader) dumpLoop() {
	defer r.wg.Done()
	for {
		select {
		case _, ok := <-r.dumpReq:
			if !ok {
				return
			}
		case <-r.freeReq:
			debug.FreeOSMemory()
			continue
		}
		r.dumpMu.Lock()
		err := r.dumpLocked()
		if err != nil {
			r.mu.Lock()
			r.dumpErr = err
			r.mu.Unlock()
		}
		select {
		case r.dumpDone <- struct{}{}:
		default:
		}
		r.table.ResolvePending(r.fr, &r.mu, r.stopping)
		r.dumpMu.Unlock()
		r.giveBack()
	}
}

// requestDump asks dumpLoop for a full dump. With wait, the tick waits for
// it to be applied, for syncDump at most: a read that turns out slow (a
// busy machine, a table grown since) books its bytes with the next tick
// rather than hold this one.
func (r *tableReader) requestDump(wait bool) {
	select {
	case <-r.dumpDone: // a dump no tick waited for
	default:
	}
	select {
	case r.dumpReq <- struct{}{}:
	default:
		return // the previous one is still running
	}
	if !wait {
		return
	}
	t := time.NewTimer(syncDump)
	defer t.Stop()
	select {
	case <-r.dumpDone:
	case <-t.C:
	}
}

// planDump decides, at a tick of length dt, whether this tick dumps and
// whether it waits for the dump. A table that is cheap to read is read
// every tick, and the tick waits (up to syncDump), so rates are exact per
// tick. One that is not (some 25,000 flows and more here) is read every
// dumpEvery ticks, chosen to keep dumps within dumpBudget of a core, and
// the tick does not wait: bytes of live flows then arrive in steps of
// dumpEvery ticks, while flows that end still deliver their final bytes
// through DESTROY events.
func (r *tableReader) planDump(dt time.Duration) (due, wait bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dt > 0 {
		need := int(float64(r.dumpCost)/(dumpBudget*float64(dt))) + 1
		r.dumpEvery = min(max(need, 1), maxDumpEvery)
	}
	r.sinceDump++
	if r.sinceDump < r.dumpEvery {
		return false, false
	}
	r.sinceDump = 0
	return true, r.dumpCost <= syncDump
}
