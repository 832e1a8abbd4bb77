package netns

import (
	"cmp"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/bwmon/bwmon/monitor/internal/subscription"
)

// ErrNotEngaged is a namespace where no rule makes the kernel track
// connections, which bwmon may not change ([conntrack] manage = false, or
// a user's namespace without manage_user_namespaces).
var ErrNotEngaged = errors.New("no rule engages conntrack there, and bwmon may not add one")

// ErrNoAccounting is a user's namespace whose conntrack counts no bytes.
var ErrNoAccounting = errors.New("conntrack accounting is off there, and bwmon may not switch it on")

// ReadersOptions configure Readers.
type ReadersOptions[R io.Closer] struct {
	// Tracker lists the namespaces.
	Tracker *Tracker
	// Max is how many namespaces are read at once.
	Max int
	// Start starts reading namespace p (userOwned: owned by a user
	// namespace other than the initial one); it calls subscribed once
	// it listens to the namespace's events, before it reads the table,
	// from which moment the namespace's flows are its own (Watches).
	// ErrNotEngaged or ErrNoAccounting say the namespace is not to be
	// read; another error, that it cannot be.
	Start func(p *Peer, userOwned bool, subscribed func()) (R, error)
	// Log receives the set's logs.
	Log *slog.Logger
}

// Readers are the readers of the conntrack tables of the host's other
// network namespaces, with [conntrack] namespaces = "all", for the traffic
// that never leaves one: a container talking to itself over its loopback,
// two containers on a bridge with no NAT on the host.
//
// A byte is counted once. A flow is counted by the table of the namespace
// where its socket lives: once a namespace's table is read, the watched
// namespace's table skips the flows whose inside end is in it (Watches).
//
// Any user can make namespaces (`unshare -rn`), so they are bounded: at
// most Max are read at once, those of the initial user namespace first
// (containers, `ip netns add`), then the oldest; the rest are skipped,
// logged once and counted (Counts), and their flows stay with the watched
// namespace's table. A reader is closed, releasing all it holds, when its
// namespace goes, when a better-ranked one takes its place, and on Close.
// It is safe for concurrent use.
type Readers[R io.Closer] struct {
	tracker *Tracker
	max     int
	start   func(p *Peer, userOwned bool, subscribed func()) (R, error)
	log     *slog.Logger

	// syncMu serialises Sync: two at once would both start a reader of
	// a new namespace.
	syncMu sync.Mutex

	mu        sync.Mutex // guards the fields below; held while readers are called (Each)
	readers   map[uint64]reader[R]
	failed    map[uint64]bool // namespaces that could not be read; logged once
	owned     map[uint64]bool // whether a namespace is a user's (see NS.UserOwned)
	skipped   int             // namespaces not read at the last Sync: beyond max
	capLogged bool            // the cap was logged
	closed    bool            // Close was called: start nothing more

	wmu     sync.RWMutex    // guards watched; taken inside mu
	watched map[uint64]bool // namespaces whose own table counts their flows
}

type reader[R io.Closer] struct {
	r     R
	label string
}

// Counts say how the namespaces fare.
type Counts struct {
	Read, Skipped, Unread, Limit int
}

// NewReaders makes an empty set; Sync starts its readers.
func NewReaders[R io.Closer](o ReadersOptions[R]) *Readers[R] {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Readers[R]{tracker: o.Tracker, max: o.Max, start: o.Start, log: o.Log,
		readers: map[uint64]reader[R]{}, failed: map[uint64]bool{}, owned: map[uint64]bool{}, watched: map[uint64]bool{}}
}

// Watches reports whether address a belongs to a namespace whose own
// table counts its flows.
func (s *Readers[R]) Watches(a netip.Addr) bool {
	peers := s.tracker.Lookup(a)
	if len(peers) == 0 {
		return false
	}
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	for _, p := range peers {
		if s.watched[p.ino] {
			return true
		}
	}
	return false
}

func (s *Readers[R]) setWatched(ino uint64, on bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if on {
		s.watched[ino] = true
	} else {
		delete(s.watched, ino)
	}
}

// Sync starts reading the namespaces that appeared and stops reading those
// that went away, within the cap. stop aborts it (its owner closes).
func (s *Readers[R]) Sync(stop <-chan struct{}) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	live := map[uint64]*Peer{}
	for _, p := range s.tracker.List() {
		live[p.ino] = p
	}
	s.mu.Lock()
	var gone []reader[R]
	for ino, r := range s.readers {
		if live[ino] == nil {
			gone = append(gone, r)
			delete(s.readers, ino)
			s.setWatched(ino, false)
		}
	}
	maps.DeleteFunc(s.failed, func(ino uint64, _ bool) bool { return live[ino] == nil })
	maps.DeleteFunc(s.owned, func(ino uint64, _ bool) bool { return live[ino] == nil })
	var unknown []*Peer
	for ino, p := range live {
		if _, ok := s.owned[ino]; !ok && !s.failed[ino] {
			unknown = append(unknown, p)
		}
	}
	s.mu.Unlock()
	s.closeAll(gone, "stopped reading a network namespace that went away")

	// Who owns the new ones: one open and one ioctl each. A namespace
	// that cannot be opened ranks last; starting it fails and says why.
	owned := make(map[uint64]bool, len(unknown))
	for _, p := range unknown {
		owned[p.ino] = p.userOwned()
	}

	s.mu.Lock()
	maps.Copy(s.owned, owned)
	var ranked []*Peer
	for ino, p := range live {
		if !s.failed[ino] {
			ranked = append(ranked, p)
		}
	}
	slices.SortFunc(ranked, func(a, b *Peer) int {
		return cmp.Or(boolCmp(s.owned[a.ino], s.owned[b.ino]), a.found.Compare(b.found), cmp.Compare(a.ino, b.ino))
	})
	// A namespace ranked beyond the cap gives its place to a better one
	// (a container's, while users' namespaces fill the cap).
	var displaced []reader[R]
	for i, p := range ranked {
		if r, ok := s.readers[p.ino]; ok && i >= s.max {
			displaced = append(displaced, r)
			delete(s.readers, p.ino)
			s.setWatched(p.ino, false)
		}
	}
	s.mu.Unlock()
	s.closeAll(displaced, "stopped reading a network namespace to read a better-ranked one ([limits] namespaces)")

	for _, p := range ranked {
		if subscription.Stopped(stop) {
			return
		}
		s.mu.Lock()
		_, have := s.readers[p.ino]
		full := len(s.readers) >= s.max
		userOwned := s.owned[p.ino]
		s.mu.Unlock()
		if full {
			break
		}
		if have {
			continue
		}
		label := p.Label()
		r, err := s.start(p, userOwned, func() { s.setWatched(p.ino, true) })
		if err != nil {
			s.setWatched(p.ino, false)
		}
		s.mu.Lock()
		switch {
		case err == nil && s.closed:
			s.mu.Unlock()
			r.Close() // Close came while it started
			s.setWatched(p.ino, false)
			return
		case err == nil:
			s.readers[p.ino] = reader[R]{r: r, label: label}
		case errors.Is(err, ErrNotEngaged) || errors.Is(err, ErrNoAccounting):
			s.failed[p.ino] = true
			s.log.Debug("not reading the conntrack table of a network namespace", "netns", label, "reason", err)
		default:
			s.failed[p.ino] = true
			s.log.Warn("cannot read the conntrack table of a network namespace; its internal traffic is not counted", "netns", label, "err", err)
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = 0
	for _, p := range ranked {
		if _, ok := s.readers[p.ino]; !ok && !s.failed[p.ino] {
			s.skipped++
		}
	}
	if s.skipped > 0 && !s.capLogged {
		s.capLogged = true
		s.log.Warn("more network namespaces than [limits] namespaces allows: the rest are not read (their internal traffic is not counted; traffic through the host still is)",
			"limit", s.max, "skipped", s.skipped)
	}
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// closeAll closes the readers of rs, logging why.
func (s *Readers[R]) closeAll(rs []reader[R], why string) {
	for _, r := range rs {
		r.r.Close()
		s.log.Debug(why, "netns", r.label)
	}
}

// Each calls f with every reader, with the set's lock held: f must not
// call the set.
func (s *Readers[R]) Each(f func(R)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.readers {
		f(r.r)
	}
}

// Counts says how the namespaces fare.
func (s *Readers[R]) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counts{Read: len(s.readers), Skipped: s.skipped, Unread: len(s.failed), Limit: s.max}
}

// Close stops every reader and starts none after; it blocks while they
// close.
func (s *Readers[R]) Close() {
	s.mu.Lock()
	s.closed = true
	rs := s.readers
	s.readers = map[uint64]reader[R]{}
	s.mu.Unlock()
	for ino, r := range rs {
		r.r.Close()
		s.setWatched(ino, false)
	}
}
