//go:build !linux

package identity

import (
	"fmt"
	"runtime"
)

// Elsewhere than Linux nothing is read: there is no /proc/PID/cgroup, and
// the opening rules of read_linux.go and home_linux.go need openat2 and
// O_PATH.

func notHere() error { return fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS) }

func readTrusted(string, int64, budget) ([]byte, error) { return nil, notHere() }

func readInHome(string, Home, string, int64, budget) ([]byte, error) { return nil, notHere() }

func readProc(string, int64) ([]byte, bool, error) { return nil, false, notHere() }

func listDir(string, int, budget) ([]string, error) { return nil, notHere() }
