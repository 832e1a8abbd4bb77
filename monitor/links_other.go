//go:build !linux

package monitor

import (
	"fmt"
	"runtime"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Links reads the network interfaces of a namespace on Linux.
type Links struct{}

// OpenLinks returns ErrNotSupported outside Linux.
func OpenLinks(string) (*Links, error) {
	return nil, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}

// Read returns ErrNotSupported outside Linux.
func (l *Links) Read() (model.LinkTick, error) {
	return model.LinkTick{}, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}

// Close does nothing.
func (l *Links) Close() error { return nil }

// LinkedConntrack is the Linux conntrack monitor that also reads its
// namespace's interfaces; elsewhere it cannot be made.
type LinkedConntrack struct{ *Conntrack }

// WithLinks returns ErrNotSupported outside Linux.
func WithLinks(*Conntrack) (*LinkedConntrack, error) {
	return nil, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}

// Links returns ErrNotSupported outside Linux.
func (l *LinkedConntrack) Links(time.Time) (model.LinkTick, error) {
	return model.LinkTick{}, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}
