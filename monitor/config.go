package monitor

import (
	"regexp"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
)

// ConntrackConfig is one [[monitor]] type = "conntrack" section.
type ConntrackConfig struct {
	// Include, when not empty, keeps only processes whose command line one
	// of these regexes finds.
	Include []*regexp.Regexp
	// Exclude drops processes whose command line one of these finds.
	Exclude []*regexp.Regexp
	// IgnoreLocal drops flows whose both ends are addresses of this host.
	IgnoreLocal bool
	// IgnoreForwarded drops forwarded flows (no local socket at either
	// end) instead of counting them in the forwarded section.
	IgnoreForwarded bool
	// AllNamespaces also watches the conntrack table of every other
	// network namespace of the host, for traffic that never leaves one.
	AllNamespaces bool
	// NetNS names the network namespace to watch: "" for bwmon's own, a
	// name from `ip netns list`, or a path like /proc/PID/ns/net.
	NetNS string
	// MaxNamespaces bounds, with AllNamespaces, how many other network
	// namespaces are read at once ([limits] namespaces; 0: the default,
	// model.DefaultLimitNamespaces). Namespaces of the initial user
	// namespace (containers, `ip netns add`) come first, then the oldest.
	MaxNamespaces int
	// ManageUserNamespaces lets a managing monitor (Options.Manage), with
	// AllNamespaces, switch on accounting and add its nftables table in
	// network namespaces owned by a user namespace other than the initial
	// one (made by an ordinary user: `unshare -rn`, rootless containers).
	// Without it such a namespace's table is read only where conntrack
	// runs and counts there already.
	ManageUserNamespaces bool
	// Socket says whether the bytes of local sockets are counted at the
	// socket by the kernel's eBPF programs ([socket] mode; "" is
	// SocketAuto), leaving conntrack what has no local socket.
	Socket SocketMode
	// KeepConntrackEvents, while bytes are counted at the socket, leaves
	// conntrack's events of the flows counted there on ([socket]
	// quiet_conntrack = false). By default they are silenced
	// (nftct.Quiet): reading them was most of the agent's cost under
	// connection churn. bwmon keeps them by itself when another
	// conntrack event listener runs in the namespace at start.
	KeepConntrackEvents bool
	// MaxSockets is how many sockets are counted at the socket at once
	// ([socket] max_sockets, DefaultMaxSockets by default; 0 is that too): the programs' map,
	// SocketSlotBytes of kernel memory each, made at start. A socket
	// made while it is full is counted by conntrack (stats: map full).
	MaxSockets int
}

// Limits of ConntrackConfig.MaxSockets.
const (
	DefaultMaxSockets = sockbpf.DefaultMaxSockets
	MinMaxSockets     = sockbpf.MinMaxSockets
	MaxMaxSockets     = sockbpf.MaxMaxSockets
	// SocketSlotBytes is the kernel memory a socket of MaxSockets takes
	// (its slot, and its entry in the packets' index).
	SocketSlotBytes = 132
)

// Validate reports the first field of c that cannot run, as a
// *model.FieldError naming its key in a [[monitor]] type = "conntrack"
// table.
func (c *ConntrackConfig) Validate() error {
	for _, f := range []struct {
		field string
		res   []*regexp.Regexp
	}{{"include", c.Include}, {"exclude", c.Exclude}} {
		for _, re := range f.res {
			switch {
			case re == nil:
				return model.FieldErrorf(f.field, "%s: a regex is missing", f.field)
			case re.String() == "":
				return model.FieldErrorf(f.field, "%s: %w", f.field, model.ErrEmptyRegex)
			}
		}
	}
	switch {
	case c.AllNamespaces && c.NetNS != "":
		return model.FieldErrorf("netns", `[conntrack] namespaces = "all" already watches network namespace %q: remove this netns (or this monitor), or set namespaces = "own"`, c.NetNS)
	case !c.Socket.Valid():
		return model.FieldErrorf("mode", `[socket] mode = %q: want "auto" (at the socket where the kernel allows it, else conntrack), "on" or "off" (conntrack alone)`, c.Socket)
	case c.MaxNamespaces < 0:
		return model.FieldErrorf("max_namespaces", "max_namespaces = %d: use 0 (the default) or more", c.MaxNamespaces)
	}
	return nil
}

// wants reports whether the config keeps a process with this command line.
func (c *ConntrackConfig) wants(cmdline string) bool {
	for _, re := range c.Exclude {
		if re.MatchString(cmdline) {
			return false
		}
	}
	if len(c.Include) == 0 {
		return true
	}
	for _, re := range c.Include {
		if re.MatchString(cmdline) {
			return true
		}
	}
	return false
}
