//go:build !unix

package state

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// stateDir is the state directory; on this OS it cannot be opened safely.
type stateDir struct{ path string }

func openDir(path string, check bool) (*stateDir, error) {
	return nil, fmt.Errorf("%w on %s", errors.ErrUnsupported, runtime.GOOS) // the caller says what it was doing
}

func (d *stateDir) boltOpener(string) func(string, int, os.FileMode) (*os.File, error) {
	return func(string, int, os.FileMode) (*os.File, error) { return nil, errors.ErrUnsupported }
}

func (d *stateDir) exists(string) (bool, error) { return false, errors.ErrUnsupported }
func (d *stateDir) rename(string, string) error { return errors.ErrUnsupported }
func (d *stateDir) remove(string) error         { return errors.ErrUnsupported }
func (d *stateDir) names() ([]string, error)    { return nil, errors.ErrUnsupported }
func (d *stateDir) lock() (*os.File, error)     { return nil, errors.ErrUnsupported }
func (d *stateDir) Close() error                { return nil }
