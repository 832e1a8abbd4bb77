package notify

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sizes returns how many handlers and remembered names the notifier holds.
func (r *rig) sizes() (handlers, matches int) {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	return len(r.n.handlers), len(r.n.matches)
}

// TestStateForgetsAppsThatWent feeds 10,000 uniquely named one-shot apps,
// 100 a tick, each over the limit for its one tick: the notifier's maps
// hold the apps of the last few ticks, never all the names seen.
func TestStateForgetsAppsThatWent(t *testing.T) {
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1000, Window: 2, Cooldown: time.Hour, Resolve: true}}}
	r := newRig(t, cfg, Options{})
	const names, perTick = 10_000, 100
	maxHandlers, maxMatches := 0, 0
	for tick := 1; tick <= names/perTick; tick++ {
		var apps []usage
		for i := range perTick {
			apps = append(apps, usage{fmt.Sprintf("oneshot-%05d", (tick-1)*perTick+i), 0, 5000})
		}
		r.feed(tick, apps)
		r.drain(t)
		h, m := r.sizes()
		maxHandlers, maxMatches = max(maxHandlers, h), max(maxMatches, m)
	}
	// An app lives on for a window of ticks after it went (its mean comes
	// down to 0, then 'resolved' goes out): 100 names a tick for 3 ticks.
	if maxHandlers > 3*perTick || maxMatches > perTick {
		t.Errorf("at most %d handlers and %d names remembered, want at most %d and %d", maxHandlers, maxMatches, 3*perTick, perTick)
	}
	for tick := names/perTick + 1; tick <= names/perTick+3; tick++ {
		r.feed(tick, nil)
		r.drain(t)
	}
	if h, m := r.sizes(); h != 0 || m != 0 {
		t.Errorf("%d handlers and %d names remembered once every app went, want none", h, m)
	}
	if s := r.n.Stats(); s.Fired != names || s.Resolved != names || s.Dropped != 0 {
		t.Errorf("stats = %+v, want %d fired and resolved, none dropped", s, names)
	}
	t.Logf("%d one-shot apps: at most %d handlers and %d names held", names, maxHandlers, maxMatches)
}

// TestStateIsCapped lists 10,000 apps over the limit in one tick: the
// notifier watches MaxWatched of them, says so once, and an app that comes
// once the flood is gone is watched in place of one of them.
func TestStateIsCapped(t *testing.T) {
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1000, Window: 5, Cooldown: time.Hour}}}
	r := newRig(t, cfg, Options{})
	var flood []usage
	for i := range 10_000 {
		flood = append(flood, usage{fmt.Sprintf("flood-%05d", i), 0, 50_000})
	}
	for tick := 1; tick <= 2; tick++ {
		r.feed(tick, flood)
		r.drain(t)
	}
	if h, m := r.sizes(); h != MaxWatched || m != MaxWatched {
		t.Errorf("%d handlers and %d names remembered for 10,000 apps, want MaxWatched (%d) each", h, m, MaxWatched)
	}
	if n := strings.Count(r.log.String(), "watching too many apps"); n != 1 {
		t.Errorf("%d log lines about apps not watched, want 1:\n%.3000s", n, r.log)
	}
	// The flood goes; its windows still hold bytes. A new app comes.
	r.feed(3, []usage{})
	r.drain(t)
	r.feed(4, []usage{{"victim", 0, 50_000}})
	r.drain(t)
	if !strings.Contains(r.alerts.String(), "victim exceeding") {
		t.Errorf("the app that came after the flood was not watched; handlers %d", func() int { h, _ := r.sizes(); return h }())
	}
	if h, _ := r.sizes(); h > MaxWatched {
		t.Errorf("%d handlers, want at most %d", h, MaxWatched)
	}
}
