package nettest

import (
	"runtime"
	"testing"
	"time"
)

// CheckGoroutines fails tb when, at its end, more goroutines run than when
// it was called, once those that are finishing had 5 s to exit; the
// message holds every goroutine's stack. Call it before starting what the
// test must stop, so that its cleanup runs after theirs.
func CheckGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				tb.Errorf("%d goroutines at the end, %d at the start:\n%s",
					runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
