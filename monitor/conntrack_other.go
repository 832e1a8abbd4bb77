//go:build !linux

package monitor

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/bwmon/bwmon/model"
)

// ErrNotSupported means the monitor cannot run on this operating system.
var ErrNotSupported = errors.New("conntrack monitor not supported")

// Conntrack is the Linux conntrack monitor; elsewhere it cannot be made.
type Conntrack struct{}

// NewConntrack returns ErrNotSupported outside Linux.
func NewConntrack(Options) (*Conntrack, error) {
	return nil, fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}

// Name implements aggregator.Monitor.
func (m *Conntrack) Name() string { return "conntrack" }

// Collect implements aggregator.Monitor.
func (m *Conntrack) Collect(*model.MonitorEntryCollection, time.Time) error {
	return fmt.Errorf("%w on %s", ErrNotSupported, runtime.GOOS)
}

// Stats implements aggregator.Monitor.
func (m *Conntrack) Stats() model.MonitorStats { return model.MonitorStats{} }

// Namespaces implements nothing outside Linux.
func (m *Conntrack) Namespaces() NamespaceStats { return NamespaceStats{} }

// Close implements aggregator.Monitor.
func (m *Conntrack) Close() error { return nil }
