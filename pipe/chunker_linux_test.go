package pipe

import (
	"testing"

	"golang.org/x/sys/unix"
)

// chunkerModes are the ways a copy moves bytes here: use, called before
// the pipe starts, makes the copies of the rest of the test take that way.
var chunkerModes = []struct {
	name string
	use  func(t *testing.T)
}{
	{name: "splice", use: func(*testing.T) {}},
	{name: "portable", use: noKernelPipe},
}

// noKernelPipe makes every kernel pipe fail to open, as over the
// descriptor limit, until the test ends: copies fall back to the portable
// chunker. Call it before leakCheck and startPipe, so that it is undone
// after the pipe has stopped.
func noKernelPipe(t *testing.T) {
	saved := pipe2
	pipe2 = func([]int, int) error { return unix.EMFILE }
	t.Cleanup(func() { pipe2 = saved })
}
