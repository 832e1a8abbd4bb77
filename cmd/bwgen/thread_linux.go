package main

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	// The main goroutine keeps the main thread (the thread group's
	// leader), so that -thread's named threads are never the leader.
	runtime.LockOSThread()
}

// onThread runs f on an OS thread of its own named name (its comm, as
// prctl(PR_SET_NAME) sets it; the process's own comm stays), as
// multithreaded programs name their workers; the thread ends with f.
func onThread(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread exits with the goroutine
		if unix.Gettid() == os.Getpid() {
			errc <- fmt.Errorf("-thread: running on the main thread")
			return
		}
		p, err := unix.BytePtrFromString(name)
		if err == nil {
			err = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
		}
		if err != nil {
			errc <- fmt.Errorf("-thread: naming the thread %q: %w", name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
