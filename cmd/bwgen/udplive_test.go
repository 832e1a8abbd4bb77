package main

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestLivePorts(t *testing.T) {
	for _, tc := range []struct {
		name         string
		i            int64
		local, above int
	}{
		{"first", 0, 10_000, 0},
		{"last of the first port", 49_999, 59_999, 0},
		{"first of the next port", 50_000, 10_000, 1},
		{"100,000th", 99_999, 59_999, 1},
		{"third port", 100_000, 10_000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, above := livePorts(tc.i)
			if local != tc.local || above != tc.above {
				t.Errorf("livePorts(%d) = %d, %d; want %d, %d", tc.i, local, above, tc.local, tc.above)
			}
		})
	}
	// Every socket of 150,000 has a 4-tuple of its own.
	seen := map[[2]int]bool{}
	for i := range int64(150_000) {
		local, above := livePorts(i)
		if local < 1024 || local > 65535 || seen[[2]int{local, above}] {
			t.Fatalf("socket %d: local port %d, destination +%d: out of range or taken", i, local, above)
		}
		seen[[2]int{local, above}] = true
	}
}

func TestParallelConns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		total, k  int
		failAt    int64 // the call that fails (0: none)
		wantCalls int64 // exactly, when nothing fails
		wantErr   bool
	}{
		{"one after another", 10, 1, 0, 10, false},
		{"more workers than connections", 3, 16, 0, 3, false},
		{"none", 0, 4, 0, 0, false},
		{"in parallel", 1000, 16, 0, 1000, false},
		{"an error stops them", 1000, 4, 10, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			err := parallelConns(tc.total, tc.k, func() error {
				n := calls.Add(1)
				if n == tc.failAt {
					return errors.New("refused")
				}
				if tc.failAt > 0 && n > tc.failAt {
					// A connection takes time, as a real one does: the
					// others cannot race through the rest while the
					// failing worker waits for a core.
					time.Sleep(time.Millisecond)
				}
				return nil
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				// The others stop at their next connection once the
				// failing worker has recorded its error. How many start
				// before that depends on the scheduler (CI once saw 38 with
				// instant connections), so the check is that they stopped
				// long before the end, not at an exact count.
				if n := calls.Load(); n < tc.failAt || n > int64(tc.total)/2 {
					t.Errorf("%d of %d connections ran, the %dth failing, with %d at a time: the error did not stop them", n, tc.total, tc.failAt, tc.k)
				}
				return
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("%d connections, want %d", n, tc.wantCalls)
			}
		})
	}
}
