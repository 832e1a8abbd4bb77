package model

import (
	"strconv"
	"time"
)

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
	// Apps lists the apps active within the limits' active window and the
	// top ones by total, at most Limits.Apps of them, busiest first (by
	// rate, then by total, then by name); the rest are folded into one
	// app named OtherApp, whose line comes last, whatever its rate, once
	// it holds bytes. The lines add up to every byte attributed since
	// Since. A folded app whose processes move bytes again is listed anew
	// from zero; its older bytes stay in OtherApp.
	Apps []AppUsage `json:"apps"`
	// Unattributed holds the bytes of flows whose process was not found.
	Unattributed Unattributed `json:"unattributed"`
	// Forwarded holds the bytes the host routed between other hosts.
	Forwarded Forwarded `json:"forwarded"`
	// Interfaces lists the network interfaces of the namespaces the
	// monitors watch, with their bytes at the IP and the link layer:
	// counted ones first (RoleCounted), then by total; at most
	// MaxInterfaces, the others folded into one line named OtherApp.
	Interfaces []Interface `json:"interfaces"`
	// Coverage says how much of the counted interfaces' traffic bwmon
	// accounted for.
	Coverage Coverage `json:"coverage"`

	// Agent describes bwmon itself during the tick; it is not part of the
	// JSON contract (the HTTP API exports it as metrics).
	Agent AgentStats `json:"-"`
}

// OtherApp is the app the apps beyond the limits are folded into: it keeps
// their bytes, so the apps' totals still add up. Its parentheses keep it
// apart from an executable's name in the common case, like GroupUnknown.
const OtherApp = "(other)"

// OtherLabel names the line of OtherApp in a table, with the number of
// apps folded into it since the agent started: "(other: 1412 apps)"; just
// "(other)" when it holds only bytes restored from an earlier run.
func OtherLabel(folded uint64) string {
	switch folded {
	case 0:
		return OtherApp
	case 1:
		return "(other: 1 app)"
	}
	return "(other: " + strconv.FormatUint(folded, 10) + " apps)"
}

// AppUsage is one app's line in a Snapshot.
type AppUsage struct {
	// App is the app's name, as safename.Clean makes it: valid UTF-8
	// without control or format characters, at most safename.MaxLen bytes.
	App string `json:"app"`
	// BytesIn and BytesOut are cumulative since Snapshot.Since, at the
	// layer the monitor counts (IP layer for conntrack, payload for pipes).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// RateIn and RateOut are bytes per second over the last tick.
	RateIn  float64 `json:"rate_in"`
	RateOut float64 `json:"rate_out"`
	// PIDs are the app's processes that moved bytes within the retention
	// time, ascending, at most MaxListed of them; empty for pipes and idle
	// apps.
	PIDs []int `json:"pids"`
	// Processes is how many processes PIDs would list without its bound.
	Processes int `json:"processes"`
	// Folded is, on the OtherApp line only, how many apps were folded
	// into it since the agent started.
	Folded uint64 `json:"folded,omitempty"`
	// Users, Units, Containers and Cgroups say where those processes run
	// (see Identity), each sorted and without repeats, at most MaxListed
	// entries and MaxListedBytes of names each; empty where nothing is
	// known.
	Users      []UserRef   `json:"users"`
	Units      []string    `json:"units"`
	Containers []Container `json:"containers"`
	Cgroups    []string    `json:"cgroups"`
	// NetNS lists the network namespaces other than the host's that the
	// app's processes run in (see Process.NetNS), sorted.
	NetNS []string `json:"netns"`
	// Classes splits the app's bytes by the destination class of the
	// remote end (the [[class]] rules and the built-in "local", "private"
	// and "internet"), for the bytes of monitors that know the remote end:
	// cumulative since Snapshot.Since, with the rates of the last tick.
	// Only classes that hold bytes are listed, at most MaxClasses-1;
	// absent when none does (a pipe's bytes).
	Classes map[string]AppClass `json:"classes,omitempty"`
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

// MaxListed bounds each list of an AppUsage (PIDs, Users, Units,
// Containers, Cgroups, NetNS): an app of ten thousand processes still makes
// a line of bounded size.
const MaxListed = 32

// MaxListedBytes bounds the names in each of the lists of an AppUsage
// beside PIDs: the entries that would take a list past it are left out, so
// that hostile cgroup or container names cannot make a line large.
const MaxListedBytes = 1024

// AgentStats is what bwmon measured of itself during a tick.
type AgentStats struct {
	// TickDuration is how long collecting and grouping took.
	TickDuration time.Duration
	// Entries is the number of live MonitorEntries.
	Entries int
	// Monitors holds each monitor's own figures, by monitor name.
	Monitors map[string]MonitorStats
	// Limits are the bounds the agent runs with.
	Limits Limits
	// FoldedApps counts the apps folded into OtherApp since start.
	FoldedApps uint64
}

// Limits are the bounds that keep what bwmon holds and serves from growing
// with every process name ever seen (the [limits] table of the
// configuration). Each part enforces its own; the agent reports all of them
// in its statistics. Zero means the part's default.
type Limits struct {
	// Apps is how many apps are listed by name (the table, the JSON, the
	// page, /metrics, the state store's totals); the rest are folded into
	// OtherApp.
	Apps int
	// TopApps is how many of those, the largest by total, stay listed
	// even when idle.
	TopApps int
	// ActiveWindow is how recently an app must have moved bytes to stay
	// listed when it is not among the TopApps.
	ActiveWindow time.Duration
	// HistoryApps is how many apps the 15-minute and 24-hour history
	// keeps, the largest by volume.
	HistoryApps int
	// DayApps is how many apps each day of the state store (and `bwmon
	// report`) keeps by name; the rest of the day is folded into OtherApp.
	DayApps int
	// WebSocketClients is how many /api/v1/live clients are served at once.
	WebSocketClients int
	// Namespaces is how many network namespaces are read at once with
	// [conntrack] namespaces = "all".
	Namespaces int
}

// MonitorStats is what a monitor reports of itself.
type MonitorStats struct {
	// Flows is the number of flows (or connections) it tracks now.
	Flows int
	// Processes is the number of processes it knows.
	Processes int
	// EventsLost counts kernel events lost since start.
	EventsLost uint64
	// ReadErrors counts the failures of the monitor's kernel readers
	// (other than lost events) since start; each reader is restarted
	// after a backoff.
	ReadErrors uint64
	// NamespacesRead and NamespacesSkipped are, for a conntrack monitor
	// with namespaces = "all", the other network namespaces whose tables
	// it reads now, and those it left to its own table at the last look
	// because [limits] namespaces were read already.
	NamespacesRead, NamespacesSkipped int
	// CountMode says where a conntrack monitor counts the bytes of local
	// sockets: "socket" (the kernel's eBPF programs count each socket,
	// conntrack the rest) or "conntrack" (all of them); CountFallback,
	// with "conntrack" under [socket] mode = "auto", why not at the
	// socket.
	CountMode, CountFallback string
	// Sockets is how many sockets the socket monitor counts now;
	// SocketsMapFull how many found the kernel's map full since start
	// (their bytes were left to conntrack), SocketsRingLost how many
	// close records the kernel's ring buffer could not take (the
	// sockets' final counters were read from the map instead),
	// SocketsLateUnchecked how many sockets closed before their peer
	// whose flow could not be looked up for its last packets (too many
	// waited: their last two packets went unbooked).
	Sockets                                               int
	SocketsMapFull, SocketsRingLost, SocketsLateUnchecked uint64
}

// NotifyStats counts what the notifier did since start; the HTTP API
// exports it as metrics.
type NotifyStats struct {
	// Fired and Resolved count alert events by state.
	Fired, Resolved uint64
	// Dropped counts events not delivered: their rule's queue was full,
	// or they were still queued at shutdown.
	Dropped uint64
	// Failed counts commands and webhooks that failed or timed out.
	Failed uint64
}

// The default Limits.
const (
	DefaultLimitApps             = 100
	DefaultLimitTopApps          = 20
	DefaultLimitActiveWindow     = 15 * time.Minute
	DefaultLimitHistoryApps      = 100
	DefaultLimitDayApps          = 200
	DefaultLimitWebSocketClients = 64
	DefaultLimitNamespaces       = 64
)

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Apps, DefaultLimitApps)
	def(&l.TopApps, DefaultLimitTopApps)
	def(&l.HistoryApps, DefaultLimitHistoryApps)
	def(&l.DayApps, DefaultLimitDayApps)
	def(&l.WebSocketClients, DefaultLimitWebSocketClients)
	def(&l.Namespaces, DefaultLimitNamespaces)
	if l.ActiveWindow <= 0 {
		l.ActiveWindow = DefaultLimitActiveWindow
	}
	return l
}
