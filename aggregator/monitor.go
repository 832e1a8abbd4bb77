package aggregator

import (
	"time"

	"github.com/bwmon/bwmon/model"
)

// A Monitor counts bytes. The aggregator calls Collect once per tick from
// its own goroutine; the monitor adds to c what it counted since the last
// call.
type Monitor interface {
	// Name identifies the monitor in logs and statistics.
	Name() string
	// Collect adds to c the bytes counted since the last call, at time now.
	Collect(c *model.MonitorEntryCollection, now time.Time) error
	// Stats reports the monitor's own figures.
	Stats() model.MonitorStats
	// Close stops the monitor and blocks until its goroutines have exited.
	// It is safe to call more than once.
	Close() error
}

// A Consumer receives each tick's Snapshot. Consume is called on the tick's
// goroutine and must return quickly: slow work (running commands, writing to
// clients) belongs on the consumer's own goroutines. The Snapshot is shared
// and must not be modified.
type Consumer interface {
	Consume(s *model.Snapshot)
}

// A LinkMonitor is a Monitor that also reads the network interfaces of the
// namespace it watches. The aggregator calls Links once per tick, right
// after Collect, from the same goroutine: what each interface moved since
// the last call, and the bytes the monitor counted since then as they
// crossed those interfaces (model.LinkTick), for the interfaces' lines
// and coverage.
type LinkMonitor interface {
	Monitor
	Links(now time.Time) (model.LinkTick, error)
}
