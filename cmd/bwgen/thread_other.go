//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// onThread runs f on a named OS thread, on Linux only.
func onThread(name string, f func() error) error {
	return fmt.Errorf("-thread needs prctl(PR_SET_NAME): not on %s", runtime.GOOS)
}
