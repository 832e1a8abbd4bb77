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
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/redact"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/internal/tui"
	"github.com/bwmon/bwmon/model"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: bwmon [flags]                     run the agent (as root)
       bwmon top [flags]                 look at a running agent (the service) live (bwmon top -h)
       bwmon report [flags]              what each app moved per day or month (bwmon report -h)
       bwmon pipe [flags] LISTEN TARGET  a TCP forwarder that counts its bytes (bwmon pipe -h)

On a terminal the agent shows a live table that answers keys (? lists
them; docs/terminal.md); to a pipe or a file it prints a table each tick
(or JSON with -output json). It serves its page, API and metrics on
127.0.0.1:8000 and keeps its totals in /var/lib/bwmon. A flag overrides the
-config file, which overrides the built-in defaults (config.example.toml).
Without -config, beside a running bwmon (the service) it steps aside: if the
default state directory is held, it runs without state; if the default
address is busy, it serves on another free loopback port and logs the URL.

flags:
`

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
	if len(args) > 0 && args[0] == "top" {
		return runTop(args[1:], stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	c := command{stdout: stdout, stderr: stderr, defaults: config.Defaults, reload: hup}
	return c.run(ctx, args)
}

// command is the agent's command line and what it runs with; tests give
// it their own defaults.
type command struct {
	stdout, stderr io.Writer
	// defaults is the configuration without -config (config.Defaults).
	defaults func() *config.Config
	// reload delivers a value for each reload request (SIGHUP); with the
	// terminal UI, each hangup.
	reload <-chan os.Signal
}

// agentFlags are the agent's flags, as parsed.
type agentFlags struct {
	config, output, logLevel, logFormat string
	interval                            time.Duration
	checkConfig, version, tickStats     bool
	// stateDir and listen override the file when set (stateDirSet,
	// listenSet), "" included; stateDir is absolute once parsed.
	stateDir, listen       string
	stateDirSet, listenSet bool
}

// newFlags returns the agent's flag set, writing its help to w, and where
// it parses to.
func newFlags(w io.Writer) (*flag.FlagSet, *agentFlags) {
	f := &agentFlags{}
	fs := flag.NewFlagSet("bwmon", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "config", "", "TOML configuration `file` (default: built-in defaults, see config.example.toml)")
	fs.StringVar(&f.output, "output", "table", "what to print each tick: table, json (one object per line) or none")
	fs.DurationVar(&f.interval, "interval", 0, "tick length, overriding the config's interval (e.g. 2s)")
	fs.StringVar(&f.stateDir, "state-dir", "", "keep the totals in `DIR`; \"\" keeps no state. Overrides [state] dir; default "+state.DefaultDir+
		",\nor no state when another bwmon holds it and there is no -config")
	fs.StringVar(&f.listen, "listen", "", "serve the page, API and metrics on `HOST:PORT`; \"\" serves no HTTP. Overrides [http] listen;\ndefault "+
		httpapi.DefaultListen+", or another free loopback port when that is busy and there is no -config")
	fs.BoolVar(&f.checkConfig, "check-config", false, "validate the configuration and the flags, print what it runs with, and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text (key=value) or json (one object per line)")
	fs.BoolVar(&f.tickStats, "tick-stats", false, "print the percentiles of the tick durations on exit (stderr)")
	return fs, f
}

// check checks what fs parsed into f, the values that need no file.
func (f *agentFlags) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (subcommands: top, report, pipe; see bwmon -h)", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) {
		f.stateDirSet = f.stateDirSet || fl.Name == "state-dir"
		f.listenSet = f.listenSet || fl.Name == "listen"
	})
	if f.interval != 0 && f.interval < aggregator.MinInterval {
		return fmt.Errorf("-interval must be at least %s", aggregator.MinInterval)
	}
	if f.stateDirSet && f.stateDir != "" {
		// Unlike [state] dir, a relative path is taken from the working
		// directory, as a shell user expects.
		dir, err := filepath.Abs(f.stateDir)
		if err != nil {
			return fmt.Errorf("-state-dir %q: %w: give an absolute path", f.stateDir, err)
		}
		f.stateDir = dir
	}
	if err := httpapi.CheckListen(f.listen); f.listenSet && err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	switch f.output {
	case "table", "json", "none":
	default:
		return fmt.Errorf("bad -output %q: want table, json or none", f.output)
	}
	return nil
}

// apply sets what the flags override in cfg: a flag wins over the file,
// which wins over the built-in defaults.
func (f *agentFlags) apply(cfg *config.Config) {
	if f.interval != 0 {
		cfg.Aggregator.Interval = f.interval
	}
	if f.stateDirSet {
		cfg.State.Dir = f.stateDir
	}
	if f.listenSet {
		cfg.HTTP.Listen = f.listen
	}
}

// run runs the agent until ctx is done.
func (c command) run(ctx context.Context, args []string) int {
	fs, f := newFlags(c.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h: the usage is printed
		}
		return 2 // the flag package printed the error and the usage
	}
	if err := f.check(fs); err != nil {
		fmt.Fprintln(c.stderr, "bwmon:", redact.URLs(err.Error()))
		return 2
	}
	if f.version {
		fmt.Fprintln(c.stdout, "bwmon", version)
		return 0
	}
	// On a terminal, the live table is the terminal UI, and what the agent
	// logs goes to its log area while it is on screen (tui.LogSink).
	interactive := f.output == "table" && isTerminal(c.stdout)
	logOut := c.stderr
	var sink *tui.LogSink
	if interactive {
		sink = tui.NewLogSink(c.stderr)
		logOut = sink
	}
	logger, err := newLogger(logOut, f.logFormat, f.logLevel)
	if err != nil {
		fmt.Fprintln(c.stderr, "bwmon:", redact.URLs(err.Error()))
		return 2
	}
	// load reads the configuration, at start and on each reload.
	load := func() (*config.Config, error) {
		cfg := c.defaults()
		if f.config != "" {
			fc, err := config.Load(f.config)
			if err != nil {
				return nil, err
			}
			cfg = fc
		}
		f.apply(cfg)
		if err := setLauncher(cfg); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(c.stderr, "bwmon:", redact.URLs(err.Error()))
		return 2
	}
	if f.checkConfig {
		fmt.Fprintln(c.stdout, checkReport(cfg))
		return 0
	}

	var out aggregator.Consumer
	var feed *tui.Feed
	switch {
	case interactive:
		feed = tui.NewFeed()
		out = feed
	case f.output == "table":
		out = &tableOutput{w: c.stdout}
	case f.output == "json":
		out = newJSONOutput(c.stdout)
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
	tuneGC()
	opts := agentOptions{Out: out, Alerts: logOut, Reload: c.reload,
		// Built-in defaults step aside for another bwmon; what a file or a
		// flag names must work or fail.
		YieldState:  f.config == "" && !f.stateDirSet,
		YieldListen: f.config == "" && !f.listenSet,
	}
	if f.config != "" {
		opts.Load = load
	}
	if f.tickStats {
		opts.TickStats = c.stderr
	}
	if interactive {
		// An interactive run ends with its terminal: a hangup (the
		// terminal closed) stops it as SIGTERM does, and the agent
		// removes what it installed. The daemon forms keep SIGHUP for
		// reloading.
		var stop func()
		ctx, stop = cancelOn(ctx, c.reload)
		defer stop()
		opts.Reload = nil
		opts.UI = func(ctx context.Context, processes func(string) []model.ProcessUsage) error {
			return tui.Run(ctx, feed, tui.Options{Title: "bwmon", Log: sink,
				Processes: func(_ context.Context, app string) ([]model.ProcessUsage, error) {
					return processes(app), nil
				}})
		}
	}
	if err := runAgent(ctx, cfg, opts, logger); err != nil {
		fmt.Fprintln(c.stderr, "bwmon:", redact.URLs(err.Error()))
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal (not TERM=dumb, which draws no
// screen).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// cancelOn returns a context that ends with ctx or at the first value from
// sig; stop ends it and waits for the goroutine that watches sig.
func cancelOn(ctx context.Context, sig <-chan os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancel()
		<-done
	}
}

// checkReport is what -check-config prints: the file, and where the agent
// would keep its state and serve, after the flags.
func checkReport(cfg *config.Config) string {
	name := cfg.Path
	if name == "" {
		name = "built-in defaults"
	}
	dir, listen := cfg.State.Dir, cfg.HTTP.Listen
	if dir == "" {
		dir = `"" (no state)`
	}
	if listen == "" {
		listen = `"" (no HTTP)`
	}
	return fmt.Sprintf("%s: ok (state dir %s, listen %s)", name, dir, listen)
}

// agentGCPercent is the agent's GOGC unless the environment sets one.
// bwmon's live heap is a few MB (tens at 100,000 flows) on a server it
// shares: Go's default of 100 lets a burst of garbage (a flood of new
// processes, each read from /proc and listed for a tick) double it before
// a collection, so the agent's peak memory follows its garbage rather
// than what it keeps. At 50 the heap may grow by half: a flood of 1,500
// one-shot processes raised the peak RSS by 7.5 MB instead of 12.
const agentGCPercent = 50

// tuneGC sets agentGCPercent unless GOGC is set.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(agentGCPercent)
	}
}
