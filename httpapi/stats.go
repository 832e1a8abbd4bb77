package httpapi

import (
	"net/http"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// statsReply is the body of GET /api/v1/stats: what bounds the agent runs
// with and what they folded, refused or dropped. It is apart from the
// snapshot, whose JSON is the contract of `-output json`.
type statsReply struct {
	// Time is when the latest tick closed; null before the first.
	Time *time.Time `json:"time"`
	// Limits are the [limits] the agent runs with.
	Limits limitsReply `json:"limits"`
	// FoldedApps counts the apps folded into model.OtherApp since start.
	FoldedApps uint64 `json:"folded_apps"`
	// Entries and TickDurationS are the latest tick's live per-process
	// entries and how long it took.
	Entries       int     `json:"entries"`
	TickDurationS float64 `json:"tick_duration_s"`
	History       struct {
		// Apps is how many apps' history is kept, Evicted how many were
		// forgotten since start.
		Apps    int    `json:"apps"`
		Evicted uint64 `json:"evicted"`
	} `json:"history"`
	WebSocket struct {
		Clients             int    `json:"clients"`
		Refused             uint64 `json:"refused"`
		DroppedSlow         uint64 `json:"dropped_slow"`
		DroppedWriteTimeout uint64 `json:"dropped_write_timeout"`
	} `json:"websocket"`
	// Monitors holds each monitor's own figures, by name.
	Monitors map[string]monitorReply `json:"monitors"`
	// MetricsSkipped counts the samples /metrics left out.
	MetricsSkipped uint64 `json:"metrics_skipped"`
}

// limitsReply is model.Limits as [limits] names its keys.
type limitsReply struct {
	Apps             int     `json:"apps"`
	TopApps          int     `json:"top_apps"`
	ActiveWindowS    float64 `json:"active_window_s"`
	HistoryApps      int     `json:"history_apps"`
	DayApps          int     `json:"day_apps"`
	WebSocketClients int     `json:"websocket_clients"`
	Namespaces       int     `json:"namespaces"`
}

type monitorReply struct {
	Flows      int    `json:"flows"`
	Processes  int    `json:"processes"`
	EventsLost uint64 `json:"events_lost"`
	ReadErrors uint64 `json:"read_errors"`
	// NamespacesRead and NamespacesSkipped: see model.MonitorStats.
	NamespacesRead    int `json:"namespaces_read"`
	NamespacesSkipped int `json:"namespaces_skipped"`
	// CountMode and CountFallback: see model.MonitorStats ("socket" or
	// "conntrack", and why not at the socket).
	CountMode     string `json:"count_mode,omitempty"`
	CountFallback string `json:"count_fallback,omitempty"`
	// Sockets, SocketsMapFull, SocketsRingLost, SocketsLateUnchecked:
	// the socket monitor's (see model.MonitorStats).
	Sockets              int    `json:"sockets"`
	SocketsMapFull       uint64 `json:"sockets_map_full"`
	SocketsRingLost      uint64 `json:"sockets_ring_lost"`
	SocketsLateUnchecked uint64 `json:"sockets_late_unchecked"`
}

// serveStats answers GET /api/v1/stats.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.stats())
}

func (s *Server) stats() statsReply {
	l := s.limits()
	rep := statsReply{
		Limits: limitsReply{Apps: l.Apps, TopApps: l.TopApps, ActiveWindowS: l.ActiveWindow.Seconds(),
			HistoryApps: l.HistoryApps, DayApps: l.DayApps, WebSocketClients: l.WebSocketClients, Namespaces: l.Namespaces},
		Monitors:       map[string]monitorReply{},
		MetricsSkipped: s.skip.count.Load(),
	}
	rep.History.Apps, rep.History.Evicted = s.history.Len()
	rep.WebSocket.Clients = s.Clients()
	rep.WebSocket.Refused = s.hub.refused.Load()
	rep.WebSocket.DroppedSlow = s.hub.droppedSlow.Load()
	rep.WebSocket.DroppedWriteTimeout = s.hub.droppedTimeout.Load()
	t := s.latest.Load()
	if t == nil {
		return rep
	}
	a := t.snap.Agent
	tm := t.snap.Time
	rep.Time = &tm
	rep.FoldedApps = a.FoldedApps
	rep.Entries = a.Entries
	rep.TickDurationS = a.TickDuration.Seconds()
	for name, m := range a.Monitors {
		// Names that clean to the same add up rather than hide one
		// another.
		name = safename.Clean(name)
		sum := rep.Monitors[name]
		rep.Monitors[name] = addMonitor(sum, m)
	}
	return rep
}

func addMonitor(r monitorReply, m model.MonitorStats) monitorReply {
	r.Flows += m.Flows
	r.Processes += m.Processes
	r.EventsLost += m.EventsLost
	r.ReadErrors += m.ReadErrors
	r.NamespacesRead += m.NamespacesRead
	r.NamespacesSkipped += m.NamespacesSkipped
	if r.CountMode == "" || m.CountMode == "conntrack" {
		r.CountMode = m.CountMode
	}
	if m.CountFallback != "" {
		r.CountFallback = safename.Clean(m.CountFallback)
	}
	r.Sockets += m.Sockets
	r.SocketsMapFull += m.SocketsMapFull
	r.SocketsRingLost += m.SocketsRingLost
	r.SocketsLateUnchecked += m.SocketsLateUnchecked
	return r
}
