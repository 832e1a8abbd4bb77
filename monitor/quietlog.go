package monitor

import (
	"sync"
	"time"
)

// quietLog is the watched namespace's quiet setting over time: whether
// conntrack's events of local TCP and UDP flows were silenced. A flow's
// events are set once, by the setting when its first packet passed, so a
// socket is placed by the setting it was made under, not by the one when
// it is placed: a socket held by no process, made while the events were
// on, was announced to conntrack and is conntrack's to count even if the
// events are silenced before the socket monitor places it.
type quietLog struct {
	mu       sync.Mutex
	initial  bool
	switches []quietSwitch // oldest first
}

type quietSwitch struct {
	at time.Time // the tick it was made in, after that tick's socket read
	on bool
}

// quietKeep is how many switches a quietLog keeps: sockets are placed
// within a few ticks of their first listing, and switches are ten
// seconds apart at the closest.
const quietKeep = 8

func newQuietLog(on bool) *quietLog { return &quietLog{initial: on} }

// set records the setting from the tick at on; a setting equal to the
// current one records nothing.
func (l *quietLog) set(at time.Time, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nowLocked() == on {
		return
	}
	if len(l.switches) == quietKeep {
		l.initial = l.switches[0].on
		l.switches = append(l.switches[:0], l.switches[1:]...)
	}
	l.switches = append(l.switches, quietSwitch{at: at, on: on})
}

// now reports the current setting.
func (l *quietLog) now() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nowLocked()
}

func (l *quietLog) nowLocked() bool {
	if n := len(l.switches); n > 0 {
		return l.switches[n-1].on
	}
	return l.initial
}

// madeUnder reports the setting a socket first listed by the tick at born
// was made under: a switch made in that very tick came after its socket
// read, so after the socket.
func (l *quietLog) madeUnder(born time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	on := l.initial
	for _, s := range l.switches {
		if !s.at.Before(born) {
			break
		}
		on = s.on
	}
	return on
}
