package monitor

import (
	"log/slog"
	"time"

	"github.com/bwmon/bwmon/internal/classify"
)

// Options configure a conntrack monitor.
type Options struct {
	// Name identifies the monitor in logs and statistics.
	Name string
	// Config holds the [[monitor]] section: its filters and the network
	// namespace it watches (Config.NetNS).
	Config ConntrackConfig
	// Manage lets the monitor enable conntrack accounting and engage
	// conntrack (see setupKernel); Close removes its table. In a network
	// namespace of an ordinary user's user namespace it does neither,
	// unless Config.ManageUserNamespaces.
	Manage bool
	// Classes puts each flow's remote end in a destination class, once,
	// when the flow is first seen; nil counts bytes under no class.
	Classes *classify.Table
	// ProcRoot is where procfs is mounted (default /proc).
	ProcRoot string
	// Logger receives the monitor's logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// openSockets opens the kernel's per-socket counters (default:
	// package sockbpf); tests hand in a fake or a failure.
	openSockets func() (socketSource, error)
}
