package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// hexID is a container ID made of n.
func hexID(n int) string { return fmt.Sprintf("%064x", n) }

// gate is a lookup that waits until released, counting its calls.
type gate struct {
	mu      sync.Mutex
	calls   map[string]int
	release chan struct{}
}

func newGate() *gate { return &gate{calls: map[string]int{}, release: make(chan struct{})} }

func (g *gate) lookup(c model.Container, _ int, _ time.Time) (string, error) {
	g.mu.Lock()
	g.calls[c.ID]++
	g.mu.Unlock()
	<-g.release
	return "name-" + c.ID[:4], nil
}

func (g *gate) count(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestNamerQueueIsBounded(t *testing.T) {
	g := newGate()
	n := newNamer(g.lookup, time.Now, discard(), -1)
	defer n.close()
	defer close(g.release)

	// The first is taken by the worker, which then waits; the queue fills.
	n.name(model.Container{ID: hexID(0)}, -1)
	for g.count(hexID(0)) == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= nameQueue; i++ {
		if got := n.name(model.Container{ID: hexID(i)}, -1); got != "" {
			t.Fatalf("name = %q before any lookup ended", got)
		}
	}
	start := time.Now()
	if got := n.name(model.Container{ID: hexID(nameQueue + 1)}, -1); got != "" {
		t.Fatalf("name = %q with the queue full", got)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Fatalf("a full queue made the caller wait %v", took)
	}
	n.mu.Lock()
	_, cached := n.cache[hexID(nameQueue+1)]
	busy := n.busy
	n.mu.Unlock()
	if cached || busy != nameQueue+1 {
		t.Fatalf("with the queue full: cached %v, busy %d; want not cached, %d busy", cached, busy, nameQueue+1)
	}
}

func TestNamerWaits(t *testing.T) {
	tests := []struct {
		name string
		wait time.Duration
		busy bool // another lookup runs already
		want string
		max  time.Duration // the longest the caller may take
	}{
		{name: "idle worker: the name at once", wait: 5 * time.Second, want: "name-0000", max: 5 * time.Second},
		{name: "never wait", wait: -1, want: "", max: 50 * time.Millisecond},
		{name: "busy worker: no wait", wait: 5 * time.Second, busy: true, want: "", max: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			n := newNamer(g.lookup, time.Now, discard(), tt.wait)
			defer n.close()
			if tt.busy {
				go n.name(model.Container{ID: hexID(1 << 20)}, -1)
				for g.count(hexID(1<<20)) == 0 {
					time.Sleep(time.Millisecond)
				}
				defer close(g.release)
			} else {
				go func() { time.Sleep(10 * time.Millisecond); close(g.release) }()
			}
			start := time.Now()
			got := n.name(model.Container{ID: hexID(0)}, -1)
			if took := time.Since(start); got != tt.want || took > tt.max {
				t.Fatalf("name = %q after %v; want %q within %v", got, took, tt.want, tt.max)
			}
		})
	}
}

func TestNamerCacheIsBounded(t *testing.T) {
	clock := newFakeClock()
	n := newNamer(func(model.Container, int, time.Time) (string, error) {
		return "", nil
	}, clock.Now, discard(), 5*time.Second)
	defer n.close()
	for i := range maxNames + 100 {
		n.name(model.Container{ID: hexID(i)}, -1)
		clock.Advance(time.Millisecond)
	}
	n.mu.Lock()
	size := len(n.cache)
	_, newest := n.cache[hexID(maxNames+99)]
	_, oldest := n.cache[hexID(0)]
	n.mu.Unlock()
	if size > maxNames || !newest || oldest {
		t.Fatalf("cache of %d (cap %d), newest kept %v, oldest kept %v", size, maxNames, newest, oldest)
	}
}

func TestNamerLogsOncePerContainer(t *testing.T) {
	var logs logBuffer
	clock := newFakeClock()
	n := newNamer(func(model.Container, int, time.Time) (string, error) {
		return "", errors.New("refused")
	}, clock.Now, logs.logger(), -1)
	defer n.close()
	sight := func(id string) {
		n.name(model.Container{ID: id}, -1)
		eventually(t, "the lookup ends", func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.busy == 0
		})
	}
	for range 5 {
		sight(hexID(1))
		clock.Advance(missTTL) // expired: the next sighting looks up again
	}
	if got := len(logs.lines()); got != 1 {
		t.Fatalf("%d log lines for one container refused five times, want 1", got)
	}
	// Many containers: at most one line a second, the next telling how
	// many were left out.
	clock.Advance(failureLogEvery)
	for i := range 10 {
		sight(hexID(100 + i))
	}
	if got := len(logs.lines()); got != 2 {
		t.Fatalf("%d log lines after ten containers in the same second, want 2", got)
	}
	clock.Advance(failureLogEvery)
	sight(hexID(200))
	lines := logs.lines()
	if len(lines) != 3 || !strings.Contains(lines[2], "suppressed=9") {
		t.Fatalf("log lines %q; want 3, the last with suppressed=9", lines)
	}
}
