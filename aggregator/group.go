package aggregator

import (
	"regexp"

	"github.com/bwmon/bwmon/internal/safename"
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
	// By is what processes are grouped by: GroupByApp ("" too) applies
	// Rules and AutoGroup; the others group by where a process runs (see
	// model.Identity) and ignore them.
	By GroupBy
}

// GroupBy is what a Grouper groups processes by.
type GroupBy string

// The ways to group processes. Entries with a fixed app name (pipes) keep
// it whatever the GroupBy.
const (
	// GroupByApp: the [[app]] rules, else the executable (AutoGroup).
	GroupByApp GroupBy = "app"
	// GroupByContainer: the container's name, else its short ID;
	// processes outside containers are grouped as GroupHost.
	GroupByContainer GroupBy = "container"
	// GroupByUnit: the systemd unit, else GroupNoUnit.
	GroupByUnit GroupBy = "unit"
	// GroupByUser: the user name, else the UID in decimal.
	GroupByUser GroupBy = "user"
)

// GroupBys lists every GroupBy, for validation and help texts.
var GroupBys = []GroupBy{GroupByApp, GroupByContainer, GroupByUnit, GroupByUser}

// The group names of processes that lack what they are grouped by.
const (
	// GroupHost holds, with GroupByContainer, the processes that run in
	// no container.
	GroupHost = "host"
	// GroupNoUnit holds, with GroupByUnit, the processes in no systemd
	// unit (the root cgroup, kernel threads, a host without systemd).
	GroupNoUnit = "(no unit)"
	// GroupUnknown holds the processes whose identity could not be read
	// (they exited first, or /proc/PID/cgroup was unreadable).
	GroupUnknown = "(unknown)"
)

// App returns the app name for an entry's info, and false when the bytes
// belong in the unattributed bucket. The name is clean (see appName),
// whoever chose it: a process's executable or command line, an [[app]]
// rule, a container, unit or user, a pipe.
func (g *Grouper) App(info model.Info) (string, bool) {
	raw, ok := g.rawApp(info)
	if !ok {
		return "", false
	}
	return appName(raw), true
}

// OtherLookalike is the app name of processes whose own name is
// model.OtherApp: the first character escaped as safename writes escapes,
// so that no process can pose as, or restore itself into, the line that
// holds the folded apps.
const OtherLookalike = `\x28other)`

// appName makes an app name of raw: safename.Clean(raw) (which allocates
// nothing when raw is clean and short), OtherLookalike for model.OtherApp.
func appName(raw string) string {
	s := safename.Clean(raw)
	if s == model.OtherApp {
		return OtherLookalike
	}
	return s
}

// rawApp is App before the name is made clean.
func (g *Grouper) rawApp(info model.Info) (string, bool) {
	switch {
	case info.Unattributed != "":
		return "", false
	case info.App != "":
		return info.App, true
	case info.Process == nil:
		return "", false
	}
	p := info.Process
	if by := g.by(); by != GroupByApp {
		return byIdentity(by, p.Identity), true
	}
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

// by is g.By, GroupByApp when unset.
func (g *Grouper) by() GroupBy {
	if g.By == "" {
		return GroupByApp
	}
	return g.By
}

// byIdentity names the group of a process with identity id under by.
func byIdentity(by GroupBy, id *model.Identity) string {
	if id == nil {
		return GroupUnknown
	}
	switch by {
	case GroupByContainer:
		if l := id.Container.Label(); l != "" {
			return l
		}
		return GroupHost
	case GroupByUnit:
		if id.Unit != "" {
			return id.Unit
		}
		return GroupNoUnit
	case GroupByUser:
		return model.UserRef{UID: id.UID, Name: id.User}.Label()
	}
	return GroupUnknown
}
