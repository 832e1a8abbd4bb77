package pipe

import (
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// blast writes to c until it fails, and reads it into the void until it
// fails: loopback can carry far more than the limit both ways.
func blast(c *net.TCPConn, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := pattern(64<<10, 3)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		io.Copy(io.Discard, c)
	}()
}

func TestRateLimit(t *testing.T) {
	const (
		limit  = 4 << 20 // bytes/s each way
		window = 5 * time.Second
		conns  = 2 // the limit is the pipe's, shared by its connections
	)
	leakCheck(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	tg := startTarget(t, func(c *net.TCPConn) {
		var own sync.WaitGroup
		blast(c, &own)
		own.Wait()
	})
	p := startPipe(t, Config{Target: tg.addr(), RateLimit: model.Rate(limit)}, nil)

	start := time.Now()
	var clients []*net.TCPConn
	for range conns {
		c := dial(t, p)
		clients = append(clients, c)
		blast(c, &wg)
	}
	time.Sleep(window) // the measurement window, not a synchronisation
	tot := p.Totals()
	elapsed := time.Since(start)
	for _, c := range clients {
		c.Close()
	}

	want := limit * elapsed.Seconds()
	for _, d := range []struct {
		name string
		got  uint64
	}{{"in", tot.In}, {"out", tot.Out}} {
		dev := (float64(d.got) - want) / want
		t.Logf("%s: %d bytes in %s: %.0f B/s, %+.2f%% off the limit", d.name, d.got, elapsed, float64(d.got)/elapsed.Seconds(), 100*dev)
		if math.Abs(dev) > 0.05 {
			t.Errorf("%s moved %d bytes in %s, want %.0f ± 5%% (limit %d B/s)", d.name, d.got, elapsed, want, limit)
		}
	}
}

func TestLimiterBurst(t *testing.T) {
	tests := []struct {
		name  string
		rate  model.Rate
		burst int
	}{
		{name: "a tenth of a second", rate: 1 << 20, burst: 1 << 20 / 10},
		{name: "at most a chunk", rate: 1 << 30, burst: maxChunk},
		{name: "at least a byte", rate: 2, burst: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newLimiter(tt.rate).Burst(); got != tt.burst {
				t.Fatalf("burst of %v = %d, want %d", tt.rate, got, tt.burst)
			}
		})
	}
}
