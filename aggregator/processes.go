package aggregator

import (
	"cmp"
	"slices"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// MaxProcesses bounds what Processes returns: the busiest processes of an
// app, however many it has.
const MaxProcesses = 200

// Processes returns the live processes of app (model.OtherApp: of the apps
// folded into it) as of the last tick, busiest first, at most
// MaxProcesses of them; nil for an app it does not know. It is safe to
// call from any goroutine; it costs a pass over the live entries, so call
// it when a person asks, not on every tick.
func (a *Aggregator) Processes(app string) []model.ProcessUsage {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.apps[app]; !ok && app != model.OtherApp {
		return nil
	}
	byPID := map[int]int{} // index in out
	out := []model.ProcessUsage{}
	for _, e := range a.entries.Entries() {
		p := e.Info.Process
		g, ok := a.groups[e.Key]
		if p == nil || !ok || g == "" {
			continue
		}
		if _, listed := a.apps[g]; (app == model.OtherApp && listed) || (app != model.OtherApp && g != app) {
			continue
		}
		tick := a.tickBytes[e.Key]
		i, seen := byPID[p.PID]
		if !seen {
			i = len(out)
			byPID[p.PID] = i
			out = append(out, processUsage(p))
		}
		u := &out[i]
		u.BytesIn += e.BytesIn
		u.BytesOut += e.BytesOut
		u.RateIn += float64(tick[0]) / a.lastDT
		u.RateOut += float64(tick[1]) / a.lastDT
	}
	slices.SortFunc(out, func(x, y model.ProcessUsage) int {
		return cmp.Or(cmp.Compare(y.RateIn+y.RateOut, x.RateIn+x.RateOut),
			cmp.Compare(y.BytesIn+y.BytesOut, x.BytesIn+x.BytesOut), cmp.Compare(x.PID, y.PID))
	})
	return out[:min(len(out), MaxProcesses):min(len(out), MaxProcesses)]
}

// processUsage is p's line without its bytes, every string clean.
func processUsage(p *model.Process) model.ProcessUsage {
	u := model.ProcessUsage{PID: p.PID, Name: safename.Clean(p.Name()), Cmdline: safename.Clean(p.Cmdline), NetNS: safename.Clean(p.NetNS)}
	if id := p.Identity; id != nil {
		u.User = model.UserRef{UID: id.UID, Name: safename.Clean(id.User)}
		u.Unit = safename.Clean(id.Unit)
		u.Container = safename.Clean(id.Container.Label())
	} else {
		u.User = model.UserRef{UID: -1}
	}
	return u
}
