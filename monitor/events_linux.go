package monitor

import (
	"errors"
	"net/netip"
	"os"
	"runtime"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/flows"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
)

// receive reads events until the reader closes and hands each to a
// worker chosen by its flow, so the events of one flow stay in order; then
// it closes the workers' channels. A reader that fails is opened again
// with open after a pause (subscription.Reader); the events missed meanwhile
// make the next tick read the whole table (see gaps).
func (r *tableReader) receive(workers []chan event, open func() (subscription.Source, error)) {
	defer r.wg.Done()
	// The reader's blocking reads keep their thread (ctnetlink.EventReader),
	// named for `top -H`. It is never unlocked: the runtime then ends the
	// thread with the goroutine, where an unlocked one would stay in its
	// pool, idle, for good (one per namespace read at once with
	// namespaces = "all"). The main thread never ends, and its name is
	// the process's: there the reader leaves both alone.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		defer runtime.UnlockOSThread()
	} else {
		_ = os.WriteFile("/proc/thread-self/comm", []byte(eventThread), 0)
	}
	defer func() {
		for _, w := range workers {
			close(w)
		}
	}()
	r.events.Run(r.stop, open, func(msgs []netlink.Message) { r.dispatch(msgs, workers) }, func(err error) {
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped events: DESTROYs among them lose
			// the bytes since the last dump; the next dumps tidy
			// the table up.
			r.eventsLost.Add(1)
			r.log.Warn("conntrack events lost (receive buffer overflow)")
		}
	})
}

// eventThread names the threads that read conntrack events.
const eventThread = "bwmon-ctevents"

// gaps counts the times events were missed: lost by the kernel, or while
// the reader was reopened after a failure. A change makes the next tick
// read the whole table.
func (r *tableReader) gaps() uint64 {
	return r.eventsLost.Load() + r.events.Failures()
}

// dispatch hands the NEW and DESTROY events among msgs to the workers.
func (r *tableReader) dispatch(msgs []netlink.Message, workers []chan event) {
	for _, msg := range msgs {
		rec, destroy, ok := ctnetlink.DecodeEvent(msg)
		if !ok {
			continue
		}
		k := ctnetlink.KeyOf(&rec)
		w := workers[k.Hash()%uint32(len(workers))]
		if !destroy && r.claims != nil && r.claims.sure.Load() && r.res.IsLocal(rec.Orig.Src) {
			// Counting at the socket: a connection this namespace opened
			// is not looked up now (the socket monitor will claim its
			// end), so making its record costs a map lookup
			// (claimResolver). Others go to the workers as before: a
			// socket behind NAT is still looked up while it is open.
			if e, done := r.newInline(&rec); !done {
				w <- e
			}
			continue
		}
		if o := &rec.Orig; !destroy && rec.Proto == unix.IPPROTO_TCP && r.res.IsLocal(o.Src) {
			known := r.res.NoteEarly(r.early, netip.AddrPortFrom(o.Src, o.SPort), netip.AddrPortFrom(o.Dst, o.DPort))
			if known && !r.res.IsLocal(rec.Reply.Src) {
				// Settled here (see newInline), or prepared for a worker.
				if e, done := r.newInline(&rec); !done {
					w <- e
				}
				continue
			}
		}
		w <- event{destroy: destroy, rec: rec}
	}
}

// newInline settles, on the reader's thread, a new outgoing connection
// whose owner NoteEarly knows already: that costs a map lookup, less than
// waking a worker for it (under connection churn those wake-ups were the
// larger part of bwmon's CPU). When a tick or a dump holds the table it
// returns the flow prepared, for a worker to insert: the reader must not
// wait.
func (r *tableReader) newInline(rec *ctnetlink.Rec) (event, bool) {
	p := r.table.PrepareNew(rec, r.fr)
	if !r.mu.TryLock() {
		return event{rec: *rec, p: &p}, false
	}
	r.table.InsertNew(&p)
	r.mu.Unlock()
	return event{}, true
}

// eventWorkers is how many goroutines resolve the owners of new flows in
// parallel: one slow lookup must not hold up the next process's, which may
// live only a few milliseconds.
const eventWorkers = 4

// eventQueue is how many events wait for each worker before the receiving
// goroutine waits too (then the netlink socket's buffer holds them): 4096
// take in a burst of new flows while owners are looked up (160 bytes an
// event, 2.6 MB in all); with quiet conntrack the flows of local sockets
// announce nothing, and a tenth of that holds what is left.
func eventQueue(quiet bool) int {
	if quiet {
		return 512
	}
	return 4096
}

// event is a conntrack NEW or DESTROY event; p, when set, is a NEW
// event's flow made already (newInline).
type event struct {
	destroy bool
	rec     ctnetlink.Rec
	p       *flows.Prepared
}

// handle applies one worker's events: owners are resolved before the
// table's lock is taken.
func (r *tableReader) handle(evs <-chan event) {
	defer r.wg.Done()
	for ev := range evs {
		if ev.destroy {
			r.mu.Lock()
			r.table.OnDestroy(&ev.rec, r.fr)
			r.mu.Unlock()
			continue
		}
		p := ev.p
		if p == nil {
			np := r.table.PrepareNew(&ev.rec, r.fr)
			p = &np
		}
		r.mu.Lock()
		r.table.InsertNew(p)
		r.mu.Unlock()
	}
}
