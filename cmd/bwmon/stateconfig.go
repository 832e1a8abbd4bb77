package main

import (
	"fmt"
	"path/filepath"
	"time"
)

// stateSection is the [state] table.
type stateSection struct {
	Dir   *string   `toml:"dir"`
	Flush *duration `toml:"flush"`
}

// StateConfig says where and how often the agent keeps its totals.
type StateConfig struct {
	// Dir is the state directory; "" keeps no state (totals start at
	// zero with each start).
	Dir string
	// Flush is how often the totals are written.
	Flush time.Duration
}

// Defaults of [state].
const (
	DefaultStateDir = "/var/lib/bwmon"
	minFlush        = time.Second
)

// parseState validates the [state] table into sc, which holds the
// defaults.
func parseState(s stateSection, sc *StateConfig, errAt errAtFunc) error {
	if s.Dir != nil {
		dir, err := checkStateDir(*s.Dir)
		if err != nil {
			return errAt("state.dir", "%v", err)
		}
		sc.Dir = dir
	}
	if s.Flush != nil {
		if err := checkFlush(s.Flush.Duration); err != nil {
			return errAt("state.flush", "%v", err)
		}
		sc.Flush = s.Flush.Duration
	}
	return nil
}

// checkStateDir validates [state] dir and returns it cleaned: an absolute
// path (the service's working directory is not the one a relative path
// was written for), or "" to keep no state.
func checkStateDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("dir %q is relative: write an absolute path such as %q, or \"\" to keep no state", dir, DefaultStateDir)
	}
	return filepath.Clean(dir), nil
}

// stateDirFlag validates -state-dir: as [state] dir, except that a relative
// path is taken from the working directory, as a shell user expects.
func stateDirFlag(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("-state-dir %q: %w: give an absolute path", dir, err)
	}
	return checkStateDir(abs)
}

// checkFlush validates [state] flush.
func checkFlush(d time.Duration) error {
	if d < minFlush {
		return fmt.Errorf("flush %s is too short: use at least %s", d, minFlush)
	}
	return nil
}
