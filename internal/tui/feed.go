package tui

import (
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Status is what the UI says about its source in the header.
type Status struct {
	// Down is set while the source delivers no ticks: the agent `bwmon
	// top` follows went away, or does not answer.
	Down bool
	// Text says what happened ("agent gone: connection refused"); it is
	// shown cleaned and cut to the header, with a countdown to Retry.
	Text string
	// Retry, when not zero, is when the next attempt is due: the header
	// counts down to it.
	Retry time.Time
}

// Feed holds what the UI shows next: the latest snapshot and the source's
// status. It is the aggregator.Consumer of an agent with a terminal UI, and
// what a client of a running agent fills. Its methods never block and are
// safe from any goroutine; a Feed works before Run starts and after it
// ends (it then only keeps the latest values).
type Feed struct {
	mu        sync.Mutex // guards the following four fields
	snap      *model.Snapshot
	status    Status
	newSnap   bool
	newStatus bool
	newLog    bool // guarded by mu too
	wake      chan struct{}
}

// NewFeed returns an empty Feed.
func NewFeed() *Feed {
	return &Feed{wake: make(chan struct{}, 1)}
}

// Consume keeps s as the snapshot to show; an earlier one not shown yet is
// dropped. s must not change afterwards (the aggregator's do not).
func (f *Feed) Consume(s *model.Snapshot) {
	f.mu.Lock()
	f.snap, f.newSnap = s, true
	f.mu.Unlock()
	f.kick()
}

// SetStatus sets what the header says about the source.
func (f *Feed) SetStatus(st Status) {
	f.mu.Lock()
	f.status, f.newStatus = st, true
	f.mu.Unlock()
	f.kick()
}

// logged says that the log has new lines.
func (f *Feed) logged() {
	f.mu.Lock()
	f.newLog = true
	f.mu.Unlock()
	f.kick()
}

func (f *Feed) kick() {
	select {
	case f.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// update is what changed since the last take.
type update struct {
	snap   *model.Snapshot // nil: no new one
	status *Status         // nil: unchanged
	log    bool
}

// take returns what changed since the last take and clears it.
func (f *Feed) take() update {
	f.mu.Lock()
	defer f.mu.Unlock()
	var u update
	if f.newSnap {
		u.snap = f.snap
	}
	if f.newStatus {
		st := f.status
		u.status = &st
	}
	u.log = f.newLog
	f.newSnap, f.newStatus, f.newLog = false, false, false
	return u
}
