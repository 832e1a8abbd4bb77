//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// rawEth sends Ethernet frames through an AF_PACKET socket, on Linux only.
func rawEth(ifname string, total, size int64) error {
	return fmt.Errorf("raw-eth needs AF_PACKET sockets: not on %s", runtime.GOOS)
}
