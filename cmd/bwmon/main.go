// Command bwmon is a per-process bandwidth accounting agent for Linux: it
// reads the kernel's conntrack counters, attributes every flow to the
// process that owns its socket, groups processes into apps, and prints or
// serves what each app moved.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/bwmon/bwmon/aggregator"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can call it. Exit status: 0 on a
// clean stop, 1 on a runtime failure, 2 on a bad command line or config.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == alertExecCommand { // hidden: how the notifier runs alert commands
		return runAlertExec(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "pipe" {
		return runPipe(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "report" {
		return runReport(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bwmon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML configuration `file` (default: built-in defaults, see config.example.toml)")
	output := fs.String("output", "table", "what to print each tick: table, json (one object per line) or none")
	interval := fs.Duration("interval", 0, "tick length, overriding the config's interval (e.g. 2s)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text (key=value) or json (one object per line)")
	tickStats := fs.Bool("tick-stats", false, "print the percentiles of the tick durations on exit (stderr)")
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
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon:", err)
		return 2
	}
	if *interval != 0 && *interval < 100*time.Millisecond {
		fmt.Fprintln(stderr, "bwmon: -interval must be at least 100ms")
		return 2
	}
	// load reads the configuration, at start and on each reload.
	load := func() (*Config, error) {
		cfg := Defaults()
		if *configPath != "" {
			c, err := LoadConfig(*configPath)
			if err != nil {
				return nil, err
			}
			cfg = c
		}
		if *interval != 0 {
			cfg.Aggregator.Interval = *interval
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, "bwmon:", err)
		return 2
	}
	if *tickStats {
		cfg.TickStats = stderr
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

	if path := os.Getenv("BWMON_CPUPROFILE"); path != "" {
		// A CPU profile of the whole run, for `go tool pprof`.
		if f, err := os.Create(path); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if path := os.Getenv("BWMON_MEMPROFILE"); path != "" {
		defer startMemProfile(path)()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := agentOptions{Out: out, Alerts: stderr}
	if *configPath != "" {
		opts.Load = load
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	opts.Reload = hup
	if err := runAgent(ctx, cfg, opts, logger); err != nil {
		fmt.Fprintln(stderr, "bwmon:", err)
		return 1
	}
	return 0
}
