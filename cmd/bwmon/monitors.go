package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/internal/classify"
	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/pipe"
)

// monitorSpec is one monitor the configuration asks for.
type monitorSpec struct {
	// id changes whenever the monitor's name or configuration does: a
	// reload keeps a running monitor whose id is unchanged.
	id    string
	start func(logger *slog.Logger) (aggregator.Monitor, error)
}

// runningMonitor is a started monitor and the spec it was started from.
type runningMonitor struct {
	spec monitorSpec
	m    aggregator.Monitor
}

// monitorSpecs lists the monitors of cfg in order: conntrack monitors,
// then pipes.
func monitorSpecs(cfg *config.Config) []monitorSpec {
	var specs []monitorSpec
	for i, mc := range cfg.Conntrack {
		name := "conntrack"
		if i > 0 {
			name = fmt.Sprintf("conntrack-%d", i)
		}
		opts := monitor.Options{Name: name, Config: mc, Manage: cfg.Manage, Classes: cfg.ClassTable}
		specs = append(specs, monitorSpec{
			// The classes are part of it: a flow's class is found
			// once, so new classes take a new monitor.
			id: identity("conntrack", struct {
				Name    string
				Manage  bool
				Config  monitor.ConntrackConfig
				Classes classify.Config
			}{name, cfg.Manage, mc, cfg.Classes}),
			start: func(logger *slog.Logger) (aggregator.Monitor, error) {
				o := opts
				o.Logger = logger
				m, err := monitor.NewConntrack(o)
				if err != nil {
					return nil, err
				}
				// Its namespace's interfaces, for their figures and
				// coverage; the counting goes on without them.
				lm, err := monitor.WithLinks(m)
				if err != nil {
					logger.Warn("not reading the network interfaces: no interface figures nor coverage", "monitor", name, "err", err)
					return m, nil
				}
				return lm, nil
			},
		})
	}
	for _, pc := range cfg.Pipes {
		specs = append(specs, monitorSpec{
			id: identity("pipe", pc),
			start: func(logger *slog.Logger) (aggregator.Monitor, error) {
				return pipe.New(pc, logger)
			},
		})
	}
	return specs
}

// unencodable numbers the identities of monitors whose configuration
// cannot be encoded.
var unencodable atomic.Uint64

// identity is a monitor's reload identity: its kind and the canonical JSON
// of all it is started from, each regex as its source (Regexp.MarshalText),
// so that any field a monitor's Config gains takes part with no change
// here. A configuration JSON cannot encode (a func field) gets an identity
// no other has: such a monitor restarts on every reload rather than miss
// a change.
func identity(kind string, cfg any) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Sprintf("%s unencodable-%d: %v", kind, unencodable.Add(1), err)
	}
	return kind + " " + string(b)
}

// startMonitors starts specs in order; on a failure it closes the ones it
// started and returns the error.
func startMonitors(specs []monitorSpec, logger *slog.Logger) ([]*runningMonitor, error) {
	var started []*runningMonitor
	for _, s := range specs {
		m, err := s.start(logger)
		if err != nil {
			closeMonitors(started, logger)
			return nil, err
		}
		started = append(started, &runningMonitor{spec: s, m: m})
	}
	return started, nil
}

// closeMonitors closes ms, logging failures; Close blocks until each
// monitor has stopped and undone what it set up in the kernel.
func closeMonitors(ms []*runningMonitor, logger *slog.Logger) {
	for _, r := range ms {
		if err := r.m.Close(); err != nil {
			logger.Warn("closing monitor", "monitor", r.m.Name(), "err", err)
		}
	}
}

func monitorsOf(rs []*runningMonitor) []aggregator.Monitor {
	out := make([]aggregator.Monitor, len(rs))
	for i, r := range rs {
		out[i] = r.m
	}
	return out
}

// errNoMonitor is a configuration without any monitor.
var errNoMonitor = errors.New("no monitor configured: add a [[monitor]] section")
