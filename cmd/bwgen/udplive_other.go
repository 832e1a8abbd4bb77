//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// udpLive holds N live UDP flows, on Linux only.
func udpLive(addr string, n, size int64, first int64, workers int) error {
	return fmt.Errorf("udp-live is for Linux: not on %s", runtime.GOOS)
}
