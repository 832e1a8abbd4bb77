package model

import "time"

// Snapshot is the result of one tick: what every app moved, cumulative and
// over the last interval. Its JSON form is a contract shared by
// `bwmon -output json` (one object per line) and the HTTP API.
type Snapshot struct {
	// Time is when the tick closed.
	Time time.Time `json:"time"`
	// Since is when the cumulative totals began: the creation of the
	// agent's state store, which survives restarts, or the agent's start
	// when it keeps no state.
	Since time.Time `json:"since"`
	// IntervalS is the length of the tick in seconds, measured on the
	// monotonic clock.
	IntervalS float64 `json:"interval_s"`
	// Apps lists every app seen since Since, busiest first (by rate, then
	// by total, then by name).
	Apps []AppUsage `json:"apps"`
	// Unattributed holds the bytes of flows whose process was not found.
	Unattributed Unattributed `json:"unattributed"`
	// Forwarded holds the bytes the host routed between other hosts.
	Forwarded Forwarded `json:"forwarded"`

	// Agent describes bwmon itself during the tick; it is not part of the
	// JSON contract (the HTTP API exports it as metrics).
	Agent AgentStats `json:"-"`
}

// AppUsage is one app's line in a Snapshot.
type AppUsage struct {
	App string `json:"app"`
	// BytesIn and BytesOut are cumulative since Snapshot.Since, at the
	// layer the monitor counts (IP layer for conntrack, payload for pipes).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// RateIn and RateOut are bytes per second over the last tick.
	RateIn  float64 `json:"rate_in"`
	RateOut float64 `json:"rate_out"`
	// PIDs are the app's processes that moved bytes within the retention
	// time, ascending; empty for pipes and idle apps.
	PIDs []int `json:"pids"`
	// Users, Units, Containers and Cgroups say where those processes run
	// (see Identity), each sorted and without repeats; empty where
	// nothing is known.
	Users      []UserRef   `json:"users"`
	Units      []string    `json:"units"`
	Containers []Container `json:"containers"`
	Cgroups    []string    `json:"cgroups"`
	// NetNS lists the network namespaces other than the host's that the
	// app's processes run in (see Process.NetNS), sorted.
	NetNS []string `json:"netns"`
}

// Unattributed is the honest bucket: bytes bwmon saw but could not tie to a
// process, split by reason.
type Unattributed struct {
	BytesIn  uint64                     `json:"bytes_in"`
	BytesOut uint64                     `json:"bytes_out"`
	RateIn   float64                    `json:"rate_in"`
	RateOut  float64                    `json:"rate_out"`
	Reasons  map[Reason]UnattributedSum `json:"reasons"`
}

// Forwarded is traffic the host routed (a router, a NAT gateway, a host of
// containers on a routed network) with no local socket at either end, by
// pair of hosts.
type Forwarded struct {
	// BytesIn and BytesOut are cumulative since Snapshot.Since, seen from
	// the inside hosts: in is what they received.
	BytesIn  uint64  `json:"bytes_in"`
	BytesOut uint64  `json:"bytes_out"`
	RateIn   float64 `json:"rate_in"`
	RateOut  float64 `json:"rate_out"`
	// Hosts lists the pairs of hosts, busiest first.
	Hosts []ForwardedHosts `json:"hosts"`
}

// ForwardedHosts is one pair of hosts in the forwarded section.
type ForwardedHosts struct {
	// Inside and Remote are addresses (see HostPair); Remote is "*" for
	// the pairs folded together once the list is at its bound.
	Inside   string  `json:"inside"`
	Remote   string  `json:"remote"`
	BytesIn  uint64  `json:"bytes_in"`
	BytesOut uint64  `json:"bytes_out"`
	RateIn   float64 `json:"rate_in"`
	RateOut  float64 `json:"rate_out"`
}

// UnattributedSum is the cumulative bytes of one unattributed reason.
type UnattributedSum struct {
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// AgentStats is what bwmon measured of itself during a tick.
type AgentStats struct {
	// TickDuration is how long collecting and grouping took.
	TickDuration time.Duration
	// Entries is the number of live MonitorEntries.
	Entries int
	// Monitors holds each monitor's own figures, by monitor name.
	Monitors map[string]MonitorStats
}

// MonitorStats is what a monitor reports of itself.
type MonitorStats struct {
	// Flows is the number of flows (or connections) it tracks now.
	Flows int
	// Processes is the number of processes it knows.
	Processes int
	// EventsLost counts kernel events lost since start.
	EventsLost uint64
}

// NotifyStats counts what the notifier did since start; the HTTP API
// exports it as metrics.
type NotifyStats struct {
	// Fired and Resolved count alert events by state.
	Fired, Resolved uint64
	// Dropped counts events not delivered because too many commands were
	// already running.
	Dropped uint64
	// Failed counts commands and webhooks that failed or timed out.
	Failed uint64
}
