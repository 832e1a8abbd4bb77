package aggregator

import (
	"regexp"

	"github.com/bwmon/bwmon/model"
)

// AppRule names an app and the command lines that belong to it.
type AppRule struct {
	Name string
	// Match holds regexes searched in the command line; any match counts.
	Match []*regexp.Regexp
}

// Grouper decides which app a process belongs to.
type Grouper struct {
	Rules []AppRule
	// AutoGroup groups unmatched processes by executable basename; without
	// it they are grouped by their full command line.
	AutoGroup bool
}

// App returns the app name for an entry's info, and false when the bytes
// belong in the unattributed bucket.
func (g *Grouper) App(info model.Info) (string, bool) {
	switch {
	case info.Unattributed != "":
		return "", false
	case info.App != "":
		return info.App, true
	case info.Process == nil:
		return "", false
	}
	p := info.Process
	for _, r := range g.Rules {
		for _, re := range r.Match {
			if re.MatchString(p.Cmdline) {
				return r.Name, true
			}
		}
	}
	if g.AutoGroup || p.Cmdline == "" {
		return p.Name(), true
	}
	return p.Cmdline, true
}
