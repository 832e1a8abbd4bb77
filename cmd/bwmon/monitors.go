package main

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/bwmon/bwmon/aggregator"
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
func monitorSpecs(cfg *Config) []monitorSpec {
	var specs []monitorSpec
	for i, mc := range cfg.Conntrack {
		name := "conntrack"
		if i > 0 {
			name = fmt.Sprintf("conntrack-%d", i)
		}
		opts := monitor.Options{Name: name, Config: mc, NetNS: mc.NetNS, Manage: cfg.Manage}
		specs = append(specs, monitorSpec{
			id: fmt.Sprintf("conntrack name=%q netns=%q manage=%v ignore_local=%v ignore_forwarded=%v all_namespaces=%v max_namespaces=%d manage_user_namespaces=%v include=%q exclude=%q",
				name, mc.NetNS, cfg.Manage, mc.IgnoreLocal, mc.IgnoreForwarded, mc.AllNamespaces, mc.MaxNamespaces, mc.ManageUserNamespaces, regexStrings(mc.Include), regexStrings(mc.Exclude)),
			start: func(logger *slog.Logger) (aggregator.Monitor, error) {
				o := opts
				o.Logger = logger
				return monitor.NewConntrack(o)
			},
		})
	}
	for _, pc := range cfg.Pipes {
		specs = append(specs, monitorSpec{
			id: fmt.Sprintf("pipe %+v", pc),
			start: func(logger *slog.Logger) (aggregator.Monitor, error) {
				return pipe.New(pc, logger)
			},
		})
	}
	return specs
}

func regexStrings(res []*regexp.Regexp) []string {
	out := make([]string, len(res))
	for i, re := range res {
		out[i] = re.String()
	}
	return out
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
