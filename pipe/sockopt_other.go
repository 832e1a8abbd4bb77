//go:build !linux

package pipe

import "net"

// limitUnsent does nothing here: the unsent bytes of a socket are bounded
// by its send buffer only.
func limitUnsent(*net.TCPConn) {}
