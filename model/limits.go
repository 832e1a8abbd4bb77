package model

import "time"

// Bounds of the Limits: a cap must leave bwmon usable, and must stay a
// cap.
const (
	// MaxLimit bounds every count of Limits.
	MaxLimit = 100000
	// MinActiveWindow bounds Limits.ActiveWindow from below.
	MinActiveWindow = 10 * time.Second
)

// Validate reports the first limit of l that is out of bounds, as a
// *FieldError naming its key in the [limits] table. It checks the limits
// an agent runs with: zero fields, which the parts read as their
// defaults, are refused; WithDefaults fills them first.
func (l Limits) Validate() error {
	counts := []struct {
		field string
		v     int
	}{
		{"apps", l.Apps},
		{"top_apps", l.TopApps},
		{"history_apps", l.HistoryApps},
		{"day_apps", l.DayApps},
		{"websocket_clients", l.WebSocketClients},
		{"namespaces", l.Namespaces},
	}
	for _, c := range counts {
		if c.v < 1 || c.v > MaxLimit {
			return FieldErrorf(c.field, "%s = %d: use 1 to %d", c.field, c.v, MaxLimit)
		}
	}
	if l.TopApps > l.Apps {
		return FieldErrorf("top_apps", "top_apps = %d is more than apps = %d: the top apps are among the apps listed", l.TopApps, l.Apps)
	}
	if l.ActiveWindow < MinActiveWindow {
		return FieldErrorf("active_window", "active_window %s is too short: use at least %s", l.ActiveWindow, MinActiveWindow)
	}
	return nil
}
