package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/notify"
)

// agentOptions is what run hands runAgent beside the configuration.
type agentOptions struct {
	// Out prints each tick (nil for -output none).
	Out aggregator.Consumer
	// Load re-reads the configuration for a reload, applying the command
	// line's overrides; nil when there is no file to re-read.
	Load func() (*config.Config, error)
	// Reload delivers a value for each reload request (SIGHUP).
	Reload <-chan os.Signal
	// Alerts receives the notifier's alert lines (stderr).
	Alerts io.Writer
	// TickStats, when set (-tick-stats), receives the tick duration
	// percentiles at exit.
	TickStats io.Writer
	// UI, when set, runs the terminal UI once the agent has started, with
	// the aggregator's Processes, until ctx is done; when it returns (q),
	// the agent stops.
	UI func(ctx context.Context, processes func(app string) []model.ProcessUsage) error
	// YieldState and YieldListen are set when the state directory and the
	// listen address are the built-in defaults (no -config, no -state-dir
	// or -listen): another bwmon holding the directory means running
	// without state, a busy address means another loopback port
	// (coexist.go).
	YieldState, YieldListen bool
}

// part is a piece of the agent beside the monitors: the console output,
// the state store, and the notifier and the HTTP server as they join. Each
// field may be nil.
type part struct {
	name string
	// consumer receives every tick's Snapshot.
	consumer aggregator.Consumer
	// run, when set, runs in the agent's errgroup until ctx is done; an
	// error stops the agent.
	run func(ctx context.Context) error
	// reload takes a new, validated configuration. On error the part
	// keeps its old one; the error is logged and the rest of the reload
	// stands.
	reload func(cfg *config.Config) error
	// close stops the part after the last tick; parts close in the reverse
	// order of addParts, before the monitors.
	close func() error
}

// daemon is a running bwmon: monitors, the aggregator over them, and the
// parts fed by it.
type daemon struct {
	log      *slog.Logger
	cfg      *config.Config
	agg      *aggregator.Aggregator
	monitors []*runningMonitor
	parts    []part
	// store keeps the totals across restarts; nil with [state] dir = "".
	// GET /api/v1/usage reads it.
	store *state.Store
}

// runAgent starts the agent and runs it until ctx is done, reloading the
// configuration on each opts.Reload; it returns after everything it
// started has stopped.
func runAgent(ctx context.Context, cfg *config.Config, opts agentOptions, logger *slog.Logger) error {
	a, err := startDaemon(cfg, opts.YieldState, logger)
	if err != nil {
		return err
	}
	defer a.shutdown()

	if opts.Out != nil {
		a.addParts(part{name: "output", consumer: opts.Out})
	}
	notifier, err := notify.New(cfg.Notify, notify.Options{Logger: logger, Alerts: opts.Alerts})
	if err != nil {
		return err
	}
	// The notifier keeps the rules it started with: a reload logs that
	// [[notify]] changes need a restart (its cooldowns live in memory).
	a.addParts(part{name: "notify", consumer: notifier, close: notifier.Close,
		reload: func(c *config.Config) error {
			if !reflect.DeepEqual(c.Notify, cfg.Notify) {
				return errors.New("[[notify]] rules changed: restart bwmon to apply them")
			}
			return nil
		}})
	var usage httpapi.UsageSource
	if a.store != nil {
		usage = a.store
	}
	web, ln, err := listenWeb(cfg.HTTP, opts.YieldListen, cfg.Limits,
		httpapi.Options{NotifyStats: notifier.Stats, Usage: usage, Processes: a.agg.Processes}, logger)
	if err != nil {
		return err
	}
	if web != nil {
		a.addParts(part{name: "http", consumer: web, close: web.Close,
			run: func(ctx context.Context) error { return web.Serve(ctx, ln) },
			reload: func(c *config.Config) error {
				if !reflect.DeepEqual(c.HTTP, cfg.HTTP) {
					return errors.New("[http] changed: restart bwmon to apply it")
				}
				return nil
			}})
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.agg.Run(ctx) })
	if opts.UI != nil {
		g.Go(func() error {
			defer stop()
			return opts.UI(ctx, a.agg.Processes)
		})
	}
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-opts.Reload:
				a.reload(opts.Load)
			}
		}
	})
	for _, p := range a.parts {
		if p.run != nil {
			g.Go(func() error { return p.run(ctx) })
		}
	}
	err = g.Wait()
	if opts.TickStats != nil {
		printTickStats(opts.TickStats, a.agg.TickDurations())
	}
	return err
}

// printTickStats writes the tick duration percentiles (-tick-stats).
func printTickStats(w io.Writer, d []time.Duration) {
	if len(d) == 0 {
		fmt.Fprintln(w, "tick durations: no tick")
		return
	}
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Fprintf(w, "tick durations: n=%d p50=%s p99=%s max=%s\n", len(d), q(0.50), q(0.99), d[len(d)-1])
}

// startDaemon opens the state store, starts the monitors and makes the
// aggregator, seeded with the stored totals. With yieldState, a state
// directory another agent holds means running without state.
func startDaemon(cfg *config.Config, yieldState bool, logger *slog.Logger) (*daemon, error) {
	a := &daemon{log: logger, cfg: cfg}
	start := time.Now()
	// Monitors first: what keeps bwmon from counting at all (privileges,
	// kernel support) is the error a user needs to see.
	specs := monitorSpecs(cfg)
	if len(specs) == 0 {
		return nil, errNoMonitor
	}
	ms, err := startMonitors(specs, logger)
	if err != nil {
		return nil, err
	}
	if cfg.State.Dir != "" {
		st, err := openState(cfg.State, cfg.Limits.DayApps, yieldState, logger)
		if err != nil {
			closeMonitors(ms, logger)
			return nil, err
		}
		if st != nil {
			a.store = st
			a.addParts(part{name: "state", consumer: st, close: st.Close})
		}
	} else {
		logger.Info("keeping no state: totals start at zero", "since", start.Format(time.RFC3339))
	}
	a.monitors = ms
	a.agg = aggregator.New(cfg.Aggregator, monitorsOf(ms), a.consumers(), logger, start)
	if a.store != nil {
		apps, unattributed := a.store.Totals()
		a.agg.Restore(apps, unattributed, a.store.Since())
		a.agg.RestoreClasses(a.store.Classes())
		a.agg.RestoreForwarded(a.store.Forwarded())
	}
	return a, nil
}

// addParts adds parts and hands the aggregator the consumers of all.
func (a *daemon) addParts(ps ...part) {
	a.parts = append(a.parts, ps...)
	if a.agg != nil {
		a.agg.Reconfigure(a.cfg.Aggregator, monitorsOf(a.monitors), a.consumers())
	}
}

func (a *daemon) consumers() []aggregator.Consumer {
	var cs []aggregator.Consumer
	for _, p := range a.parts {
		if p.consumer != nil {
			cs = append(cs, p.consumer)
		}
	}
	return cs
}

// shutdown ends a run: a last tick so the bytes since the previous one are
// counted, then the parts close (the store writes its last flush), then
// the monitors (which undo what they set up in the kernel).
func (a *daemon) shutdown() {
	a.agg.Tick(time.Now())
	a.closeParts()
	closeMonitors(a.monitors, a.log)
	a.log.Info("stopped")
}

func (a *daemon) closeParts() {
	for _, p := range slices.Backward(a.parts) {
		if p.close == nil {
			continue
		}
		if err := p.close(); err != nil {
			a.log.Error("closing", "part", p.name, "err", err)
		}
	}
}
