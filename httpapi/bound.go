package httpapi

import (
	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// boundSnapshot returns snap as the server serves it: every app name as
// safename.Clean makes it, each name once, and at most Agent.Limits.Apps apps by
// name besides model.OtherApp, the apps beyond folded into it (their bytes,
// rates and processes added to its own), so totals still add up.
//
// The aggregator already hands over such a snapshot; this keeps the server
// safe on its own (a name restored from an old state file, a consumer fed
// by something else). In that common case it costs one pass over the names
// and returns snap itself; otherwise it returns a copy and leaves snap, which
// other consumers read, untouched.
func boundSnapshot(snap *model.Snapshot) *model.Snapshot {
	limit := snap.Agent.Limits.WithDefaults().Apps
	named, others := 0, 0
	clean := true
	for i := range snap.Apps {
		name := snap.Apps[i].App
		if name == model.OtherApp {
			others++
		} else {
			named++
		}
		if clean && safename.Clean(name) != name {
			clean = false
		}
	}
	if clean && named <= limit && others <= 1 {
		return snap
	}

	out := *snap
	out.Apps = make([]model.AppUsage, 0, min(len(snap.Apps), limit+1))
	index := make(map[string]int, len(snap.Apps))
	other := -1
	folded := uint64(0)
	for _, a := range snap.Apps {
		a.App = safename.Clean(a.App)
		i, dup := index[a.App]
		switch {
		case a.App == model.OtherApp || (!dup && namedIn(out.Apps, other) >= limit):
			if other < 0 {
				other = len(out.Apps)
				index[model.OtherApp] = other
				if a.App == model.OtherApp {
					out.Apps = append(out.Apps, a)
					continue
				}
				out.Apps = append(out.Apps, model.AppUsage{App: model.OtherApp, PIDs: []int{}, Users: []model.UserRef{},
					Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}, NetNS: []string{}})
			}
			o := &out.Apps[other]
			merge(o, &a)
			if a.App == model.OtherApp {
				o.Folded += a.Folded
			} else {
				folded++
			}
		case dup:
			// Two names that clean to the same: one app, as it would
			// have been had the names been clean from the start.
			merge(&out.Apps[i], &a)
		default:
			index[a.App] = len(out.Apps)
			out.Apps = append(out.Apps, a)
		}
	}
	if other >= 0 {
		out.Apps[other].Folded += folded
	}
	return &out
}

// namedIn counts the apps of apps other than the one at index other.
func namedIn(apps []model.AppUsage, other int) int {
	if other >= 0 {
		return len(apps) - 1
	}
	return len(apps)
}

// merge adds b's bytes, rates and processes to a; a's lists stay as they
// are.
func merge(a, b *model.AppUsage) {
	a.Processes = max(a.Processes, len(a.PIDs))
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
	a.RateIn += b.RateIn
	a.RateOut += b.RateOut
	a.Processes += max(b.Processes, len(b.PIDs))
}
