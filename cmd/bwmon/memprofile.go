package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// startMemProfile writes a heap profile to path (BWMON_MEMPROFILE) each
// time the agent receives SIGUSR1 and once more when stop is called, for
// `go tool pprof`. Each profile replaces the previous one.
func startMemProfile(path string) (stop func()) {
	write := func() {
		runtime.GC() // the profile shows the heap as of the last GC
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range usr1 {
			write()
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(usr1)
		<-done
		write()
	}
}
