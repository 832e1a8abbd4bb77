package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/pipe"
)

const pipeUsage = `usage: bwmon pipe [flags] LISTEN TARGET

Forward the TCP connections accepted on LISTEN to TARGET and print, each
second, the payload bytes forwarded since start: in (client -> target) and
out (target -> client). "bwmon pipe 8080 example.org" listens on port 8080
of every address and forwards to port 8080 of example.org; write
"HOST:PORT" for either to choose. Stop it with Ctrl-C or SIGTERM.

flags:
`

// runPipe is `bwmon pipe`, the standalone forwarder of the original
// runpipe.py. It runs until SIGINT or SIGTERM.
func runPipe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return pipeCommand(ctx, stop, args, stdout, stderr, time.Second)
}

// pipeCommand runs `bwmon pipe` until ctx is done, printing a line every
// interval; stop undoes the signal handling, so that a second Ctrl-C quits
// without waiting for open connections. Exit status as for run.
func pipeCommand(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer, every time.Duration) int {
	fs := flag.NewFlagSet("bwmon pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, pipeUsage)
		fs.PrintDefaults()
	}
	var limit model.Rate
	fs.Func("rate-limit", "bytes per second in each direction, e.g. 10MiB/s or 80Mbit/s (default: no limit)", func(s string) error {
		return limit.UnmarshalText([]byte(s))
	})
	maxConns := fs.Int("max-conns", pipe.DefaultMaxConns, "open connections at most; more are closed at once (0: no limit)")
	idle := fs.Duration("idle-timeout", pipe.DefaultIdleTimeout, "close connections idle for this long (0: never)")
	drain := fs.Duration("drain-timeout", pipe.DefaultDrainTimeout, "on stop, how long open connections may finish")
	name := fs.String("name", "", "app name in the log (default pipe-LISTEN:TARGET)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "bwmon pipe: want LISTEN and TARGET, e.g. `bwmon pipe 8080 example.org`")
		fs.Usage()
		return 2
	}
	listen, target, err := pipe.ShortForm(fs.Arg(0), fs.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, "bwmon pipe:", err)
		return 2
	}
	if *maxConns < 0 || *idle < 0 || *drain < 0 {
		fmt.Fprintln(stderr, "bwmon pipe: -max-conns, -idle-timeout and -drain-timeout must not be negative")
		return 2
	}
	// The agent's logger: it keeps URLs' credentials out of the log.
	logger, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon pipe:", err)
		return 2
	}

	p, err := pipe.New(pipe.Config{
		Name: *name, Listen: listen, Target: target, RateLimit: limit,
		MaxConns: pipe.OrNoLimit(*maxConns), IdleTimeout: pipe.OrNoLimit(*idle), DrainTimeout: *drain,
	}, logger)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon pipe:", err)
		return 1
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-t.C:
			printTotals(stdout, now, p.Totals())
		}
	}
	stop()
	if n := p.Totals().Open; n > 0 {
		logger.Info("letting open connections finish; interrupt again to quit now", "conns", n, "drain_timeout", *drain)
	}
	err = p.Close()
	printTotals(stdout, time.Now(), p.Totals())
	if err != nil {
		fmt.Fprintln(stderr, "bwmon pipe:", err)
		return 1
	}
	return 0
}

// printTotals writes one line of `bwmon pipe`: cumulative payload bytes
// in and out, exact and readable, and the connections open.
func printTotals(w io.Writer, now time.Time, t pipe.Totals) {
	fmt.Fprintf(w, "%s  in %d (%s)  out %d (%s)  open %d\n", now.Format("2006-01-02 15:04:05"),
		t.In, model.FormatBytes(float64(t.In)), t.Out, model.FormatBytes(float64(t.Out)), t.Open)
}
