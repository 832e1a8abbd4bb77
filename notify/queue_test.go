package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFairQueue(t *testing.T) {
	ev := func(rule int, app string) delivery { return delivery{rule: rule, ev: Event{App: app}} }
	tests := []struct {
		name  string
		rules int
		push  []delivery
		ready func(rule int) bool
		want  []string // "RULE:APP" in the order popped
	}{
		{
			name: "rules take turns; each rule in order", rules: 3,
			push: []delivery{ev(0, "a1"), ev(0, "a2"), ev(0, "a3"), ev(1, "b1"), ev(2, "c1"), ev(2, "c2")},
			want: []string{"0:a1", "1:b1", "2:c1", "0:a2", "2:c2", "0:a3"},
		},
		{
			name: "a rule whose slots are taken is passed over", rules: 2,
			push:  []delivery{ev(0, "a1"), ev(1, "b1"), ev(1, "b2")},
			ready: func(rule int) bool { return rule == 1 },
			want:  []string{"1:b1", "1:b2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFairQueue(tt.rules)
			for _, d := range tt.push {
				if !q.push(d) {
					t.Fatalf("push %+v refused", d)
				}
			}
			ready := tt.ready
			if ready == nil {
				ready = func(int) bool { return true }
			}
			var got []string
			for {
				d, ok := q.pop(ready)
				if !ok {
					break
				}
				got = append(got, fmt.Sprintf("%d:%s", d.rule, d.ev.App))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("popped %q, want %q", got, tt.want)
			}
			if q.len != len(tt.push)-len(tt.want) {
				t.Fatalf("len = %d, want %d", q.len, len(tt.push)-len(tt.want))
			}
		})
	}
}

func TestFairQueueBoundedPerRule(t *testing.T) {
	q := newFairQueue(2)
	for i := range MaxQueuedPerRule {
		if !q.push(delivery{rule: 0, ev: Event{App: fmt.Sprint(i)}}) {
			t.Fatalf("push %d of %d refused", i+1, MaxQueuedPerRule)
		}
	}
	if q.push(delivery{rule: 0}) {
		t.Fatalf("rule 0 took a %dth event", MaxQueuedPerRule+1)
	}
	if !q.push(delivery{rule: 1}) {
		t.Fatal("rule 1 refused an event because rule 0 is full")
	}
	if n := q.clear(); n != MaxQueuedPerRule+1 || q.len != 0 {
		t.Fatalf("clear = %d (len %d after), want %d (0)", n, q.len, MaxQueuedPerRule+1)
	}
}

// TestFullQueueDropsWithoutArming fills a rule's queue while its one slot
// is held by a webhook that does not answer: the events beyond the queue
// are dropped and counted, logged a line a minute at most, and fire again
// at the next tick, so that each app is alerted exactly once in the end.
func TestFullQueueDropsWithoutArming(t *testing.T) {
	release := make(chan struct{})
	hooks := startHookServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	cfg := Config{MaxRunning: 1, Rules: []Rule{{
		App: regexp.MustCompile(`.`), Out: 1000, Window: 1, Cooldown: time.Hour, Webhook: hooks.URL,
	}}}
	r := newRig(t, cfg, Options{WebhookTimeout: time.Minute})
	const apps = MaxQueuedPerRule + 10
	var tick []usage
	for i := range apps {
		tick = append(tick, usage{fmt.Sprintf("app-%03d", i), 0, 5000})
	}
	// 70 ticks of one second: over a minute of tick time.
	r.feed(1, tick)
	r.waitFor(t, "first webhook request", func() bool { b, _ := hooks.requests(); return len(b) == 1 })
	r.feed(2, repeat(69, tick...)...)
	s := r.n.Stats()
	if s.Fired != MaxQueuedPerRule+1 {
		t.Errorf("fired %d while the slot is held, want the queue's %d and the one in flight", s.Fired, MaxQueuedPerRule+1)
	}
	// Tick 1 drops 10 (the queue is full), each later tick the 9 that did
	// not get in: none arms its cooldown.
	if want := uint64(10 + 69*9); s.Dropped != want {
		t.Errorf("dropped %d, want %d: each tick tries the dropped events again", s.Dropped, want)
	}
	// Logged: the first drop, then at tick 61 what came since, with it.
	lines := strings.Count(r.log.String(), "alert queue full")
	if lines != 2 || !strings.Contains(r.log.String(), "dropped=1 ") || !strings.Contains(r.log.String(), fmt.Sprintf("dropped=%d ", 9+59*9+1)) {
		t.Errorf("%d log lines about drops, want 2 (at tick 1 and a minute later, with the count):\n%s", lines, r.log)
	}
	close(release)
	released = true
	// Ticks go on while the queue drains: the dropped apps get in.
	for i := 71; ; i++ {
		b, _ := hooks.requests()
		if len(b) == apps {
			break
		}
		if i > 1000 {
			t.Fatalf("%d of %d apps alerted after %d ticks; stats %+v", len(b), apps, i, r.n.Stats())
		}
		r.feed(i, tick)
		time.Sleep(5 * time.Millisecond)
	}
	r.n.Close()
	bodies, _ := hooks.requests()
	seen := map[string]int{}
	for _, b := range bodies {
		var ev Event
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.App]++
	}
	for _, u := range tick {
		if seen[u.app] != 1 {
			t.Errorf("app %s alerted %d times, want once", u.app, seen[u.app])
		}
	}
	if s := r.n.Stats(); s.Fired != apps || s.Failed != 0 {
		t.Errorf("stats = %+v, want %d fired, none failed", s, apps)
	}
}
