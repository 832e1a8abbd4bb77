package notify

import (
	"log/slog"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// rig is a notifier under test with its alert lines and log.
type rig struct {
	n           *Notifier
	alerts, log *nettest.SyncBuffer
}

// newRig starts a notifier, closed at cleanup, and checks that it leaves
// no goroutine behind.
func newRig(t *testing.T, cfg Config, opts Options) *rig {
	t.Helper()
	nettest.CheckGoroutines(t) // its cleanup runs after Close's below
	r := &rig{alerts: &nettest.SyncBuffer{}, log: &nettest.SyncBuffer{}}
	opts.Alerts = r.alerts
	opts.Logger = slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.n = n
	t.Cleanup(func() { n.Close() })
	return r
}

// usage is one app's rates in a tick.
type usage struct {
	app     string
	in, out float64
}

// feed hands the notifier one snapshot per tick, tick i at tickAt(first+i).
func (r *rig) feed(first int, ticks ...[]usage) {
	for i, apps := range ticks {
		s := &model.Snapshot{Time: tickAt(first + i), IntervalS: 1}
		for _, a := range apps {
			s.Apps = append(s.Apps, model.AppUsage{App: a.app, RateIn: a.in, RateOut: a.out})
		}
		r.n.Consume(s)
	}
}

// repeat returns n ticks of the same usage.
func repeat(n int, apps ...usage) [][]usage {
	out := make([][]usage, n)
	for i := range out {
		out[i] = apps
	}
	return out
}

// waitFor polls cond for up to 5 s; past that it fails the test with
// what it waited for, the notifier's stats and its log.
func (r *rig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, still no %s; stats %+v; log:\n%s", what, r.n.Stats(), r.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drain waits until no event waits in the queue, so that each one went
// out in the tick that queued it.
func (r *rig) drain(t *testing.T) {
	t.Helper()
	r.waitFor(t, "empty queue", func() bool {
		r.n.mu.Lock()
		defer r.n.mu.Unlock()
		return r.n.queue.len == 0
	})
}
