//go:build !unix

package state

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

func lockDir(path string) (*os.File, error) {
	return nil, fmt.Errorf("locking the state directory: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}
