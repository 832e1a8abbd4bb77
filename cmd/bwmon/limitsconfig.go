package main

import (
	"time"

	"github.com/bwmon/bwmon/model"
)

// limitsSection is the [limits] table as written.
type limitsSection struct {
	Apps             *int      `toml:"apps"`
	TopApps          *int      `toml:"top_apps"`
	ActiveWindow     *duration `toml:"active_window"`
	HistoryApps      *int      `toml:"history_apps"`
	DayApps          *int      `toml:"day_apps"`
	WebSocketClients *int      `toml:"websocket_clients"`
	Namespaces       *int      `toml:"namespaces"`
}

// Bounds of the [limits] keys: a cap must leave bwmon usable, and must stay
// a cap.
const (
	maxLimit        = 100000
	minActiveWindow = 10 * time.Second
)

// parseLimits validates the [limits] table into l, which holds the
// defaults.
func parseLimits(s limitsSection, l *model.Limits, errAt errAtFunc) error {
	ints := []struct {
		key string
		v   *int
		dst *int
		min int
	}{
		{"limits.apps", s.Apps, &l.Apps, 1},
		{"limits.top_apps", s.TopApps, &l.TopApps, 1},
		{"limits.history_apps", s.HistoryApps, &l.HistoryApps, 1},
		{"limits.day_apps", s.DayApps, &l.DayApps, 1},
		{"limits.websocket_clients", s.WebSocketClients, &l.WebSocketClients, 1},
		{"limits.namespaces", s.Namespaces, &l.Namespaces, 1},
	}
	for _, k := range ints {
		if k.v == nil {
			continue
		}
		if *k.v < k.min || *k.v > maxLimit {
			return errAt(k.key, "%s = %d: use %d to %d", k.key[len("limits."):], *k.v, k.min, maxLimit)
		}
		*k.dst = *k.v
	}
	if l.TopApps > l.Apps {
		return errAt("limits.top_apps", "top_apps = %d is more than apps = %d: the top apps are among the apps listed", l.TopApps, l.Apps)
	}
	if s.ActiveWindow != nil {
		if s.ActiveWindow.Duration < minActiveWindow {
			return errAt("limits.active_window", "active_window %s is too short: use at least %s", s.ActiveWindow.Duration, minActiveWindow)
		}
		l.ActiveWindow = s.ActiveWindow.Duration
	}
	return nil
}
