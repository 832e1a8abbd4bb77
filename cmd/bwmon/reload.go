package main

import (
	"errors"
	"fmt"

	"github.com/bwmon/bwmon/internal/config"
)

// reload re-reads the configuration and applies it without losing a count:
// the aggregator keeps every total, monitors whose section is unchanged
// keep running, removed ones stop, new ones start. A configuration that
// does not validate, or whose new monitors fail to start, is rejected with
// a logged error and the old one keeps running.
func (a *daemon) reload(load func() (*config.Config, error)) {
	if load == nil {
		a.log.Warn("reload requested, but bwmon started without -config: nothing to re-read")
		return
	}
	cfg, err := load()
	if err != nil {
		a.log.Error("reload: configuration rejected, the old one keeps running", "err", err)
		return
	}
	if err := a.apply(cfg); err != nil {
		a.log.Error("reload failed, the old configuration keeps running", "path", cfg.Path, "err", err)
	}
}

// apply switches the agent to cfg. Monitors are matched by their spec's id.
// A removed monitor is closed before the new ones start, so a pipe that
// changes but keeps its listen address can bind it again; if a new monitor
// fails to start, the removed ones are started again from the old
// configuration and the error is returned.
func (a *daemon) apply(cfg *config.Config) error {
	if cfg.State != a.cfg.State {
		a.log.Warn("reload: [state] changes take effect at the next start", "dir", a.cfg.State.Dir, "flush", a.cfg.State.Flush)
	}
	specs := monitorSpecs(cfg)
	if len(specs) == 0 {
		return errNoMonitor
	}
	running := make(map[string]*runningMonitor, len(a.monitors))
	for _, r := range a.monitors {
		running[r.spec.id] = r
	}
	var added []monitorSpec
	for _, s := range specs {
		if _, ok := running[s.id]; ok {
			delete(running, s.id) // kept
		} else {
			added = append(added, s)
		}
	}
	var kept, removed []*runningMonitor
	for _, r := range a.monitors {
		if _, gone := running[r.spec.id]; gone {
			removed = append(removed, r)
		} else {
			kept = append(kept, r)
		}
	}

	// No tick may collect from a monitor being closed.
	a.agg.Reconfigure(a.cfg.Aggregator, monitorsOf(kept), a.consumers())
	closeMonitors(removed, a.log)
	started, err := startMonitors(added, a.log)
	if err != nil {
		restored, rerr := startMonitors(specsOf(removed), a.log)
		a.monitors = order(a.monitors, append(kept, restored...))
		a.agg.Reconfigure(a.cfg.Aggregator, monitorsOf(a.monitors), a.consumers())
		if rerr != nil {
			return errors.Join(err, fmt.Errorf("starting the old monitors again: %w", rerr))
		}
		return err
	}

	byID := make(map[string]*runningMonitor, len(specs))
	for _, r := range append(kept, started...) {
		byID[r.spec.id] = r
	}
	a.monitors = a.monitors[:0:0]
	for _, s := range specs {
		a.monitors = append(a.monitors, byID[s.id])
	}
	a.cfg = cfg
	for _, p := range a.parts {
		if p.reload == nil {
			continue
		}
		if err := p.reload(cfg); err != nil {
			a.log.Error("reload: part keeps its old configuration", "part", p.name, "err", err)
		}
	}
	a.agg.Reconfigure(cfg.Aggregator, monitorsOf(a.monitors), a.consumers())
	a.log.Info("configuration reloaded", "path", cfg.Path,
		"monitors_kept", len(kept), "monitors_started", len(started), "monitors_stopped", len(removed),
		"apps", len(cfg.Aggregator.Grouper.Rules), "interval", cfg.Aggregator.Interval)
	return nil
}

func specsOf(rs []*runningMonitor) []monitorSpec {
	out := make([]monitorSpec, len(rs))
	for i, r := range rs {
		out[i] = r.spec
	}
	return out
}

// order returns the monitors of rs in the order of their ids in before.
func order(before, rs []*runningMonitor) []*runningMonitor {
	byID := make(map[string]*runningMonitor, len(rs))
	for _, r := range rs {
		byID[r.spec.id] = r
	}
	out := make([]*runningMonitor, 0, len(rs))
	for _, b := range before {
		if r, ok := byID[b.spec.id]; ok {
			out = append(out, r)
		}
	}
	return out
}
