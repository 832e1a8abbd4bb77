//go:build !linux

package pipe

import "testing"

// chunkerModes are the ways a copy moves bytes here: the portable chunker
// only.
var chunkerModes = []struct {
	name string
	use  func(t *testing.T)
}{
	{name: "portable", use: func(*testing.T) {}},
}
