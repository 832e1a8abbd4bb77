package state

import (
	"path/filepath"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Config is the [state] table: where and how often the agent keeps its
// totals.
type Config struct {
	// Dir is the state directory, an absolute path; "" keeps no state
	// (the totals start at zero with each start).
	Dir string
	// Flush is how often the totals are written.
	Flush time.Duration
}

// Defaults of [state].
const (
	// DefaultDir is where the agent keeps its state unless told.
	DefaultDir = "/var/lib/bwmon"
	// MinFlush bounds Config.Flush from below.
	MinFlush = time.Second
)

// Validate reports the first field of c that cannot run, as a
// *model.FieldError naming its key in the [state] table. A relative
// directory is refused: the service's working directory is not the one it
// was written for.
func (c Config) Validate() error {
	if c.Dir != "" && !filepath.IsAbs(c.Dir) {
		return model.FieldErrorf("dir", `dir %q is relative: write an absolute path such as %q, or "" to keep no state`, c.Dir, DefaultDir)
	}
	if c.Flush < MinFlush {
		return model.FieldErrorf("flush", "flush %s is too short: use at least %s", c.Flush, MinFlush)
	}
	return nil
}
