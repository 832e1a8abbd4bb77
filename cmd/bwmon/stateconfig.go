package main

import (
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
		if *s.Dir != "" && !filepath.IsAbs(*s.Dir) {
			return errAt("state.dir", "dir %q is relative: write an absolute path such as %q, or \"\" to keep no state", *s.Dir, DefaultStateDir)
		}
		sc.Dir = filepath.Clean(*s.Dir)
		if *s.Dir == "" {
			sc.Dir = ""
		}
	}
	if s.Flush != nil {
		if s.Flush.Duration < minFlush {
			return errAt("state.flush", "flush %s is too short: use at least %s", s.Flush.Duration, minFlush)
		}
		sc.Flush = s.Flush.Duration
	}
	return nil
}
