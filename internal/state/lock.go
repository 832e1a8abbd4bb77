package state

import "errors"

// ErrLocked is returned by Open, wrapped, when another agent holds the
// state directory's lock file: test for it with errors.Is.
var ErrLocked = errors.New("state directory in use by another bwmon")
