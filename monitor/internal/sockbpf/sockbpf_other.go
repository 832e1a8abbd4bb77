//go:build !linux

package sockbpf

import (
	"fmt"
	"runtime"
)

// Counter counts bytes per socket in the kernel (Linux only).
type Counter struct{}

// Open fails on this OS.
func Open(o Options) (*Counter, error) {
	return nil, fmt.Errorf("%w on %s: it needs Linux", ErrUnsupported, runtime.GOOS)
}

// Read does nothing on this OS.
func (c *Counter) Read(fn func(*Socket)) error { return nil }

// ExeName knows no name on this OS.
func (c *Counter) ExeName(pid int, comm string) string { return "" }

// ExeNamesErr is nil on this OS (there is no Counter).
func (c *Counter) ExeNamesErr() error { return nil }

// Stats is zero on this OS.
func (c *Counter) Stats() Stats { return Stats{} }

// Close does nothing on this OS.
func (c *Counter) Close() error { return nil }
