//go:build !linux

package links

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/bwmon/bwmon/model"
)

// ErrNotSupported means link statistics are read on Linux only.
var ErrNotSupported = errors.New("reading link statistics over rtnetlink is not supported")

// Reader reads the link statistics of a network namespace on Linux.
type Reader struct{}

// Open returns ErrNotSupported outside Linux.
func Open(int) (*Reader, error) { return nil, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS) }

// Close does nothing.
func (r *Reader) Close() error { return nil }

// Read returns ErrNotSupported outside Linux.
func (r *Reader) Read() ([]model.InterfaceTick, error) {
	return nil, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}
