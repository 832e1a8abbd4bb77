// Command bwmon is a per-process bandwidth accounting agent for Linux: it
// reads the kernel's conntrack counters, attributes every flow to the
// process that owns its socket, groups processes into apps, and prints or
// serves what each app moved.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/pipe"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can call it. Exit status: 0 on a
// clean stop, 1 on a runtime failure, 2 on a bad command line or config.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "pipe" {
		return runPipe(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bwmon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML configuration `file` (default: built-in defaults, see config.example.toml)")
	output := fs.String("output", "table", "what to print each tick: table, json (one object per line) or none")
	interval := fs.Duration("interval", 0, "tick length, overriding the config's interval (e.g. 2s)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bwmon: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "bwmon", version)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "bwmon: bad -log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := Defaults()
	if *configPath != "" {
		c, err := LoadConfig(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, "bwmon:", err)
			return 2
		}
		cfg = c
	}
	if *interval != 0 {
		if *interval < 100*time.Millisecond {
			fmt.Fprintln(stderr, "bwmon: -interval must be at least 100ms")
			return 2
		}
		cfg.Aggregator.Interval = *interval
	}
	if *checkConfig {
		name := cfg.Path
		if name == "" {
			name = "built-in defaults"
		}
		fmt.Fprintf(stdout, "%s: ok\n", name)
		return 0
	}

	var out aggregator.Consumer
	switch *output {
	case "table":
		f, ok := stdout.(*os.File)
		out = &tableOutput{w: stdout, terminal: ok && term.IsTerminal(int(f.Fd()))}
	case "json":
		out = newJSONOutput(stdout)
	case "none":
	default:
		fmt.Fprintf(stderr, "bwmon: bad -output %q: want table, json or none\n", *output)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAgent(ctx, cfg, out, logger); err != nil {
		fmt.Fprintln(stderr, "bwmon:", err)
		return 1
	}
	return 0
}

// runAgent starts the monitors and the aggregator and runs until ctx is
// done; it returns after everything it started has stopped.
func runAgent(ctx context.Context, cfg *Config, out aggregator.Consumer, logger *slog.Logger) error {
	var monitors []aggregator.Monitor
	defer func() {
		for _, m := range monitors {
			if err := m.Close(); err != nil {
				logger.Warn("closing monitor", "monitor", m.Name(), "err", err)
			}
		}
	}()
	for i, mc := range cfg.Conntrack {
		name := "conntrack"
		if i > 0 {
			name = fmt.Sprintf("conntrack-%d", i)
		}
		m, err := monitor.NewConntrack(monitor.Options{
			Name: name, Config: mc, NetNS: mc.NetNS, Manage: cfg.Manage, Logger: logger,
		})
		if err != nil {
			return err
		}
		monitors = append(monitors, m)
	}
	for _, pc := range cfg.Pipes {
		m, err := pipe.New(pc, logger)
		if err != nil {
			return err
		}
		monitors = append(monitors, m)
	}
	if len(monitors) == 0 {
		return errors.New("no monitor configured: add a [[monitor]] section")
	}

	var consumers []aggregator.Consumer
	if out != nil {
		consumers = append(consumers, out)
	}
	web, ln, err := listenWeb(cfg.HTTP, nil, logger) // notifier stats: nil until notify lands
	if err != nil {
		return err
	}
	if web != nil {
		consumers = append(consumers, web)
	}
	agg := aggregator.New(cfg.Aggregator, monitors, consumers, logger, time.Now())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return agg.Run(ctx) })
	if web != nil {
		g.Go(func() error { return web.Serve(ctx, ln) })
	}
	return g.Wait()
}
