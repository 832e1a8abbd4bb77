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
