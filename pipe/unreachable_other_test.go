//go:build !linux

package pipe

import (
	"net"
	"testing"
)

// unreachable needs a listen backlog of 0, which only the Linux test sets.
func unreachable(t *testing.T) net.Listener {
	t.Skip("an unreachable target is made on Linux only")
	return nil
}

// refusing returns an address on loopback where nothing listens (a
// listener closed: another may be given its port meanwhile).
func refusing(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
