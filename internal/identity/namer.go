package identity

import (
	"log/slog"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Bounds of the naming worker.
const (
	// nameQueue is how many lookups may wait for the worker; a container
	// seen while it is full is looked up on a later sighting.
	nameQueue = 256
	// maxNames bounds the cache of names (found or not).
	maxNames = 4096
	// foundTTL is how long a name found is served before it is looked up
	// again (a renamed container shows its new name after at most this);
	// missTTL is the same for a container whose name was not found.
	foundTTL = 10 * time.Minute
	missTTL  = time.Minute
	// DefaultNameWait is how long Process waits, at a container's first
	// sighting, for its name when the worker is idle.
	DefaultNameWait = 20 * time.Millisecond
	// failureLogEvery spaces out the logs of refused files.
	failureLogEvery = time.Second
)

// lookupFunc looks a container's name up; owner is the UID whose home
// holds a rootless container's files (-1: none).
type lookupFunc func(c model.Container, owner int, deadline time.Time) (string, error)

// namer names containers off the callers' path: one worker goroutine does
// the lookups, fed by a bounded queue, and a bounded cache keeps their
// results. A caller never waits for a lookup longer than wait.
type namer struct {
	lookup lookupFunc
	now    func() time.Time
	log    *slog.Logger
	wait   time.Duration
	queue  chan nameRequest
	stop   chan struct{}
	done   chan struct{}

	mu         sync.Mutex // guards all following
	cache      map[string]*nameEntry
	busy       int // lookups queued or running
	closed     bool
	lastLog    time.Time
	suppressed int // refusals not logged since lastLog
}

type nameRequest struct {
	c     model.Container
	owner int
	e     *nameEntry
}

// nameEntry is a container's cached name.
type nameEntry struct {
	name    string
	checked time.Time // when the last lookup ended; zero before the first
	// pending is non-nil while a lookup is queued or running, and closed
	// when it ends.
	pending chan struct{}
	// waitable: the first lookup started on an idle worker, so callers
	// may wait a moment for it.
	waitable bool
	logged   bool // a refusal was logged for this container
}

// newNamer starts the worker; close stops it.
func newNamer(lookup lookupFunc, now func() time.Time, log *slog.Logger, wait time.Duration) *namer {
	n := &namer{
		lookup: lookup, now: now, log: log, wait: wait,
		queue: make(chan nameRequest, nameQueue),
		stop:  make(chan struct{}), done: make(chan struct{}),
		cache: make(map[string]*nameEntry),
	}
	go n.run()
	return n
}

// name returns what is known of c's name now: "" until its lookup ends
// (the caller shows the short ID), then the name found. At c's first
// sighting, when the worker has nothing else to do, it waits up to n.wait
// for the lookup. A name older than its TTL is served while it is looked
// up again.
func (n *namer) name(c model.Container, owner int) string {
	now := n.now()
	n.mu.Lock()
	e := n.cache[c.ID]
	if n.closed {
		defer n.mu.Unlock()
		if e == nil {
			return ""
		}
		return e.name
	}
	if e != nil && !e.checked.IsZero() {
		if e.pending == nil && now.Sub(e.checked) >= e.ttl() {
			n.enqueueLocked(c, owner, e)
		}
		name := e.name
		n.mu.Unlock()
		return name
	}
	if e == nil {
		e = &nameEntry{waitable: n.busy == 0}
		if !n.enqueueLocked(c, owner, e) {
			n.mu.Unlock()
			return "" // the queue is full: a later sighting tries again
		}
		n.insertLocked(c.ID, e, now)
	}
	wait := e.pending
	if !e.waitable || n.wait <= 0 {
		wait = nil
	}
	n.mu.Unlock()
	if wait == nil {
		return ""
	}
	t := time.NewTimer(n.wait)
	select {
	case <-wait:
	case <-t.C:
	}
	t.Stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	return e.name
}

func (e *nameEntry) ttl() time.Duration {
	if e.name != "" {
		return foundTTL
	}
	return missTTL
}

// enqueueLocked queues a lookup of c for e, unless the queue is full.
func (n *namer) enqueueLocked(c model.Container, owner int, e *nameEntry) bool {
	e.pending = make(chan struct{})
	select {
	case n.queue <- nameRequest{c: c, owner: owner, e: e}:
		n.busy++
		return true
	default:
		e.pending = nil
		return false
	}
}

// insertLocked caches e as id's, making room when the cache is full: the
// entries past their TTL go, else the one checked longest ago.
func (n *namer) insertLocked(id string, e *nameEntry, now time.Time) {
	if len(n.cache) >= maxNames {
		var oldest string
		for k, x := range n.cache {
			if x.pending != nil {
				continue
			}
			if now.Sub(x.checked) >= x.ttl() {
				delete(n.cache, k)
			} else if oldest == "" || x.checked.Before(n.cache[oldest].checked) {
				oldest = k
			}
		}
		if len(n.cache) >= maxNames && oldest != "" {
			delete(n.cache, oldest)
		}
	}
	n.cache[id] = e
}

func (n *namer) run() {
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case req := <-n.queue:
			n.serve(req)
		}
	}
}

// serve does one lookup and records its result.
func (n *namer) serve(req nameRequest) {
	name, err := n.lookup(req.c, req.owner, time.Now().Add(lookupTimeout))
	now := n.now()
	n.mu.Lock()
	e := req.e
	if name != "" || err == nil {
		e.name = name // a refusal keeps the name last found
	}
	e.checked = now
	close(e.pending)
	e.pending = nil
	n.busy--
	logIt, suppressed := false, 0
	if err != nil && !e.logged {
		e.logged = true
		if now.Sub(n.lastLog) >= failureLogEvery {
			logIt, suppressed = true, n.suppressed
			n.lastLog, n.suppressed = now, 0
		} else {
			n.suppressed++
		}
	}
	n.mu.Unlock()
	if logIt {
		n.log.Warn("container name not read: a file was refused or unreadable; the container shows by its short ID",
			"container", req.c.Label(), "runtime", req.c.Runtime, "err", err, "suppressed", suppressed)
	}
}

// close stops the worker and waits for it to exit (after the lookup it is
// doing, at most lookupTimeout). Safe to call more than once.
func (n *namer) close() {
	n.mu.Lock()
	first := !n.closed
	n.closed = true
	n.mu.Unlock()
	if first {
		close(n.stop)
	}
	<-n.done
}
