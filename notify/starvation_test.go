//go:build unix

package notify

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAlertStarvation reproduces finding 4 of the security review: with
// max_running reached, 40 apps an attacker named fire first and the
// victim's event was dropped with its cooldown armed, so its alert was
// lost for the whole cooldown. Now the victim's command runs within a
// bounded number of deliveries, and its cooldown starts when it was
// delivered.
func TestAlertStarvation(t *testing.T) {
	const attackers = 40
	tests := []struct {
		name      string
		attackRe  string
		victimRe  string
		maxBefore int // deliveries that may come before the victim's
	}{
		// Rules are served in turn: one attacker at most goes first.
		{name: "victim on another rule", attackRe: `^attacker-`, victimRe: `^victim$`, maxBefore: 1},
		// One rule serves its apps in the order they fired: the victim,
		// listed last, comes after every attacker, but it comes.
		{name: "victim on the same rule", attackRe: `^(attacker-.*|victim)$`, maxBefore: attackers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			script := writeScript(t, dir, "slow.sh", "#!/bin/sh\nprintf '%s\\n' \"$BWMON_APP\" >> \"$1/order\"\nsleep 0.05\n")
			rule := func(re string) Rule {
				return Rule{App: regexp.MustCompile(re), Out: 1000, Window: 1, Cooldown: time.Hour,
					Command: []string{"/bin/sh", script, dir}, CommandTimeout: 10 * time.Second}
			}
			cfg := Config{MaxRunning: 1, Rules: []Rule{rule(tt.attackRe)}}
			if tt.victimRe != "" {
				cfg.Rules = append(cfg.Rules, rule(tt.victimRe))
			}
			r := newRig(t, cfg, Options{})
			var apps []usage
			for i := range attackers {
				apps = append(apps, usage{fmt.Sprintf("attacker-%02d", i), 0, 5000})
			}
			apps = append(apps, usage{"victim", 0, 5000})

			// Ticks come every 20 ms (each one second of tick time); the
			// commands take 50 ms or more each.
			began := time.Now()
			deadline := began.Add(20 * time.Second)
			var order []string
			tick := 0
			for !slices.Contains(order, "victim") {
				if time.Now().After(deadline) {
					t.Fatalf("the victim's command did not run within 20s (%d ticks); ran: %q\nstats %+v\nlog:\n%s",
						tick, order, r.n.Stats(), r.log)
				}
				tick++
				r.feed(tick, apps)
				time.Sleep(20 * time.Millisecond)
				order = readOrder(t, dir)
			}
			took := time.Since(began)
			before := slices.Index(order, "victim")
			if before > tt.maxBefore {
				t.Errorf("%d commands ran before the victim's, want at most %d: %q", before, tt.maxBefore, order)
			}
			// The victim's cooldown started when its command started,
			// many ticks after it first fired, not at tick 1.
			r.n.mu.Lock()
			h := r.n.handlers[handlerKey{len(cfg.Rules) - 1, "victim"}]
			var armed time.Time
			if h != nil {
				armed = h.out.lastFiring
			}
			r.n.mu.Unlock()
			if !armed.After(tickAt(1)) || armed.After(tickAt(tick)) {
				t.Errorf("the victim's cooldown started at %v, want when it was delivered: after tick 1 (%v), by tick %d (%v)",
					armed, tickAt(1), tick, tickAt(tick))
			}
			if s := r.n.Stats(); s.Failed != 0 {
				t.Errorf("stats = %+v, want no failure\nlog:\n%s", s, r.log)
			}
			t.Logf("victim's command ran after %d others, %s (%d ticks) after it first fired", before, took.Round(time.Millisecond), tick)
		})
	}
}

// readOrder returns the apps the slow script recorded, in the order their
// commands started.
func readOrder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "order"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}
