package aggregator

import (
	"time"

	"github.com/bwmon/bwmon/model"
)

// Restore seeds the aggregator with the totals a previous run ended with,
// so that the totals continue where they left off; since is when they
// began, reported as Snapshot.Since. Call it before the first Tick: it
// replaces every total counted so far.
//
// The totals of model.OtherApp become OtherApp's. Other names are made
// clean as the Grouper's are (names that become the same add up). Restored
// apps count as active at the restore: those the limits do not keep are
// folded by the first ticks, the largest by total kept.
func (a *Aggregator) Restore(apps map[string]model.Totals, unattributed map[model.Reason]model.UnattributedSum, since time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.apps)
	a.other = otherState{}
	for name, t := range apps {
		if name == model.OtherApp {
			a.other.in += t.In
			a.other.out += t.Out
			continue
		}
		name = appName(name)
		st := a.apps[name]
		if st == nil {
			st = &appState{name: name, active: a.last}
			a.apps[name] = st
		}
		st.in += t.In
		st.out += t.Out
	}
	clear(a.unattr)
	for r, sum := range unattributed {
		a.unattr[r] = &model.UnattributedSum{BytesIn: sum.BytesIn, BytesOut: sum.BytesOut}
	}
	a.since = since
}

// RestoreForwarded seeds the forwarded section with the pairs of hosts a
// previous run ended with (their rates are ignored). Call it before the
// first Tick: it replaces the section. Pairs past Config.ForwardedPairs are
// folded as new ones are, the busiest kept exact.
func (a *Aggregator) RestoreForwarded(hosts []model.ForwardedHosts) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fwd.restore(hosts)
}

// RestoreClasses seeds the apps' bytes by destination class with those a
// previous run ended with (app name to class name to bytes). Call it after
// Restore, before the first Tick. Classes the configuration no longer
// names, and apps Restore did not seed, are left out.
func (a *Aggregator) RestoreClasses(apps map[string]map[string]model.Totals) {
	a.mu.Lock()
	defer a.mu.Unlock()
	index := make(map[string]int, len(a.cfg.ClassNames))
	for i, n := range a.cfg.ClassNames {
		if i > 0 && i < model.MaxClasses && n != "" {
			index[n] = i
		}
	}
	for name, classes := range apps {
		var rows []appClass
		for class, t := range classes {
			if i, ok := index[class]; ok {
				rows = append(rows, appClass{class: model.Class(i), in: t.In, out: t.Out})
			}
		}
		if rows == nil {
			continue
		}
		if name == model.OtherApp {
			a.other.classes = mergeClasses(a.other.classes, rows)
			continue
		}
		if st := a.apps[appName(name)]; st != nil {
			st.classes = mergeClasses(st.classes, rows)
		}
	}
}
