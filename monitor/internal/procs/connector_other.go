//go:build !linux

package procs

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// errNotSupported means there is no proc connector on this OS.
var errNotSupported = errors.New("proc connector not supported")

// connector is the Linux proc connector; elsewhere it cannot be opened.
type connector struct{}

func dialConnector(func(event), func(error), *slog.Logger, func() time.Time) (*connector, error) {
	return nil, fmt.Errorf("%w on %s", errNotSupported, runtime.GOOS)
}

func (*connector) failures() uint64 { return 0 }

// Close does nothing.
func (*connector) Close() error { return nil }
