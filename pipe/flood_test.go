package pipe

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestSilentFloodIsBounded opens 2,000 connections that never send a byte
// (the security review's flood: 12,010 descriptors without a cap). With the
// default cap the pipe serves DefaultMaxConns of them, refuses the rest at
// once, and holds two descriptors (its sockets, no kernel pipe) for each
// silent connection it serves.
func TestSilentFloodIsBounded(t *testing.T) {
	const clients = 2000
	tests := []struct {
		name     string
		maxConns int
		wantOpen int
	}{
		{name: "default cap", wantOpen: DefaultMaxConns},
		{name: "cap of 100", maxConns: 100, wantOpen: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			// The target holds each connection until the pipe or the test
			// closes it.
			tg := startTarget(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
			p := startPipe(t, Config{Target: tg.addr(), MaxConns: tt.maxConns}, nil)
			base := countResources(t)

			for range clients {
				dial(t, p)
			}
			waitFor(t, 30*time.Second, "every client to be served or refused", func() bool {
				tot := p.Totals()
				return tot.Accepted+tot.Refused == clients && tg.open() == tt.wantOpen
			})
			if tot := p.Totals(); tot.Open != tt.wantOpen || tot.Refused != uint64(clients-tt.wantOpen) {
				t.Fatalf("totals %+v, want %d open and %d refused", tot, tt.wantOpen, clients-tt.wantOpen)
			}
			// The test's own descriptors: its clients (the refused ones
			// too: the test has not closed them) and the target's side.
			pipeFDs := steadyFDs(t) - base.fds - clients - tg.open()
			t.Logf("%d silent connections served, %d refused: the pipe holds %d descriptors for them", tt.wantOpen, clients-tt.wantOpen, pipeFDs)
			if max := 2 * tt.wantOpen; pipeFDs > max {
				t.Fatalf("the pipe holds %d descriptors for %d silent connections, want at most %d (two sockets each)", pipeFDs, tt.wantOpen, max)
			}
		})
	}
}

// steadyFDs returns the number of open descriptors once it has stopped
// changing for 100 ms.
func steadyFDs(t *testing.T) int {
	t.Helper()
	last := countResources(t).fds
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		now := countResources(t).fds
		if now == last {
			return now
		}
		last = now
	}
	t.Fatalf("the open descriptors did not settle (last %d)", last)
	return 0
}
