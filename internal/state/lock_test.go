package state

import (
	"errors"
	"testing"
)

// TestOpenLockedIsErrLocked: a second agent on a directory gets an error
// that callers can tell apart from a broken directory.
func TestOpenLockedIsErrLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want it to wrap ErrLocked", err)
	}
}
