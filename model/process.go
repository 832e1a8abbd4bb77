package model

import (
	"net/netip"
	"path/filepath"
)

// Process describes the operating-system process that owns a socket.
type Process struct {
	// PID is the process ID (the thread-group ID).
	PID int
	// StartTime is the process start time in clock ticks since boot, as in
	// /proc/PID/stat; with PID it tells a reused PID apart.
	StartTime uint64
	// Comm is the kernel's short name of the process (at most 15 bytes).
	Comm string
	// Exe is the path of the executable, or "" when it could not be read.
	// For a process that exited before it could be read, it may be the
	// executable's file name alone, as the kernel recorded it when the
	// process made its socket.
	Exe string
	// Cmdline is the command line with its arguments joined by spaces.
	Cmdline string
	// Arg0 is argv[0] as the process set it.
	Arg0 string
	// Identity is where the process runs; nil when it could not be read.
	Identity *Identity
	// NetNS names the network namespace the process runs in when it is
	// not the host's (that of PID 1): the name `ip netns` gives it, else
	// "net:[INODE]" as /proc/PID/ns/net reads.
	NetNS string
}

// Name is the name bwmon groups a process under when no app rule matches:
// the basename of the executable, else of argv[0], else the kernel's comm.
func (p *Process) Name() string {
	if p.Exe != "" {
		return filepath.Base(p.Exe)
	}
	if p.Arg0 != "" {
		return filepath.Base(p.Arg0)
	}
	if arg0 := firstField(p.Cmdline); arg0 != "" {
		return filepath.Base(arg0)
	}
	if p.Comm != "" {
		return p.Comm
	}
	return "unknown"
}

func firstField(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}

// Info says whom the bytes of a MonitorEntry belong to. Exactly one of its
// fields is set.
type Info struct {
	// Process is the owner of the bytes, for entries of a process.
	Process *Process
	// App is a fixed app name (the pipe monitor's), used as is.
	App string
	// Unattributed is the reason no owner was found (see the Reason
	// constants); such bytes are counted in the unattributed bucket.
	Unattributed Reason
	// Forwarded is the pair of hosts of traffic the host routed, with no
	// local socket at either end; such bytes are counted in the forwarded
	// section. In is what the inside host received, out what it sent.
	Forwarded *HostPair
}

// HostPair names the two ends of forwarded traffic. Inside is the host on
// this side of the router: the source of a connection it routed, or the
// destination a DNAT rule forwarded it to. Remote is the other end.
type HostPair struct {
	Inside, Remote netip.Addr
}

// Reason says why bytes could not be attributed to a process.
type Reason string

// The reasons bytes end up in the unattributed bucket.
const (
	// ReasonNoSocket: the flow has a local end, but no socket matched it
	// (it was closed before bwmon could look, or it lives where bwmon
	// cannot see).
	ReasonNoSocket Reason = "no_socket"
	// ReasonNoProcess: the socket was found, but no process holds it
	// (it is orphaned, or held by a process bwmon cannot read).
	ReasonNoProcess Reason = "no_process"
	// ReasonProcessGone: the socket's process exited before bwmon could
	// read who it was.
	ReasonProcessGone Reason = "process_gone"
	// ReasonNotLocal: neither end of the flow is an address of this host
	// (forwarded or routed traffic), and [conntrack] forwarded is off or
	// the flow has no host pair.
	ReasonNotLocal Reason = "not_local"
	// ReasonKernel: the local end is the kernel itself (it answers ICMP
	// echo requests to this host), not a process.
	ReasonKernel Reason = "kernel"
	// ReasonEventsLost: the kernel dropped conntrack events, so the last
	// bytes of some flows were counted without an owner.
	ReasonEventsLost Reason = "events_lost"
	// ReasonSocketMapFull: the socket was made while the eBPF programs'
	// map of sockets was full ([socket] max_sockets), and its creator is
	// not known either (PID 0 or 1, or the map of creators was full too):
	// its bytes are counted, not its process.
	ReasonSocketMapFull Reason = "socket_map_full"
	// ReasonUnreadableNamespace: the local end is in another network
	// namespace of this host whose sockets bwmon cannot read (it lacks
	// the privilege, or the namespace went away before it could look).
	ReasonUnreadableNamespace Reason = "unreadable_namespace"
)

// Reasons are the reasons above, in the order outputs list them.
var Reasons = []Reason{ReasonNoSocket, ReasonNoProcess, ReasonProcessGone, ReasonNotLocal,
	ReasonKernel, ReasonEventsLost, ReasonUnreadableNamespace, ReasonSocketMapFull}

// ProcessUsage is one live process of an app, as a view that expands the
// app shows it. Its strings are clean (safename.Clean).
type ProcessUsage struct {
	PID int `json:"pid"`
	// Name is what the process is grouped under without a rule: its
	// executable's basename (see Process.Name).
	Name string `json:"name"`
	// Cmdline is the command line, cut to safename.MaxLen bytes.
	Cmdline string  `json:"cmdline"`
	User    UserRef `json:"user"`
	// Unit, Container (its label) and NetNS say where it runs; "" when
	// nothing is known or it runs on the host.
	Unit      string `json:"unit,omitempty"`
	Container string `json:"container,omitempty"`
	NetNS     string `json:"netns,omitempty"`
	// BytesIn and BytesOut are what the process moved since bwmon first
	// counted bytes for it (within the retention of its entry).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// RateIn and RateOut are bytes per second over the last tick.
	RateIn  float64 `json:"rate_in"`
	RateOut float64 `json:"rate_out"`
}
