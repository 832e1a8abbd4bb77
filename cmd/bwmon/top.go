package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/redact"
	"github.com/bwmon/bwmon/internal/remote"
	"github.com/bwmon/bwmon/internal/tui"
)

const topUsage = `usage: bwmon top [flags]

Look at a running bwmon agent (the service, or one started by hand) live, in
the terminal UI the agent shows itself, fed by its WebSocket /api/v1/live:
no root and no second agent needed. It follows the agent the local
configuration describes (` + installedConfig + `: [http] listen and token),
else http://` + httpapi.DefaultListen + `/. When the agent goes away it says so in the
header and reconnects. Sent to a pipe or a file, it prints the plain table
each tick, or JSON with -output json. Keys: ? (docs/terminal.md).

flags:
`

// topFlags are the flags of bwmon top.
type topFlags struct {
	url, token, tokenFile, config, output string
}

// runTop is bwmon top. It stops on SIGINT, SIGTERM and SIGHUP (the
// terminal closed); there is nothing to reload.
func runTop(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return topCommand(ctx, args, stdout, stderr, isTerminal(stdout))
}

// topCommand is bwmon top until ctx is done; terminal says whether stdout
// is one. Exit status as for run.
func topCommand(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) int {
	var f topFlags
	fset := flag.NewFlagSet("bwmon top", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(stderr, topUsage)
		fset.PrintDefaults()
	}
	fset.StringVar(&f.url, "url", "", "the agent's `URL` (default: from the configuration's [http] listen, else http://"+httpapi.DefaultListen+"/)")
	fset.StringVar(&f.token, "token", "", "the agent's [http] `token` (visible to other users in ps: prefer -token-file)")
	fset.StringVar(&f.tokenFile, "token-file", "", "read the agent's [http] token from `FILE`")
	fset.StringVar(&f.config, "config", "", "the agent's configuration `file`, for its [http] listen and token (default "+installedConfig+" if it exists)")
	fset.StringVar(&f.output, "output", "", "print each tick as a table or json instead of showing the live UI\n(default: the UI on a terminal, else table)")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "bwmon top:", redact.URLs(err.Error()))
		return 2
	}
	if fset.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %.64q", fset.Arg(0)))
	}
	if f.output != "" && f.output != "table" && f.output != "json" {
		return fail(fmt.Errorf("bad -output %.64q: want table or json", f.output))
	}
	u, token, notes, err := topTarget(f)
	if err != nil {
		return fail(err)
	}
	c := remote.New(remote.Options{URL: u, Token: token})
	if terminal && f.output == "" {
		return topUI(ctx, c, u, notes, stderr)
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "bwmon top:", n)
	}
	var out aggregator.Consumer
	if f.output == "json" {
		out = newJSONOutput(stdout)
	} else {
		out = &tableOutput{w: stdout}
	}
	// Each change of state, one line on stderr.
	_ = c.Run(ctx, out.Consume, func(st remote.State) {
		if st.Connected {
			fmt.Fprintln(stderr, "bwmon top: following", u.String())
			return
		}
		fmt.Fprintf(stderr, "bwmon top: %s; retrying in %s\n", topStatus(st, u).Text, time.Until(st.Retry).Round(100*time.Millisecond))
	})
	return 0
}

// topUI runs the terminal UI on what c follows until q or ctx's end.
func topUI(ctx context.Context, c *remote.Client, u *url.URL, notes []string, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := tui.NewLogSink(stderr)
	for _, n := range notes {
		fmt.Fprintln(sink, "bwmon top:", n)
	}
	feed := tui.NewFeed()
	feed.SetStatus(tui.Status{Down: true, Text: "connecting to " + u.String()})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.Run(ctx, feed.Consume, func(st remote.State) { feed.SetStatus(topStatus(st, u)) })
	}()
	err := tui.Run(ctx, feed, tui.Options{Title: "bwmon top", Source: "agent " + u.String(),
		Processes: c.Processes, Log: sink})
	cancel()
	wg.Wait()
	if err != nil {
		fmt.Fprintln(stderr, "bwmon top:", err)
		return 1
	}
	return 0
}

// topStatus is what the header says of the client's state.
func topStatus(st remote.State, u *url.URL) tui.Status {
	if st.Connected {
		return tui.Status{}
	}
	text := fmt.Sprintf("no agent at %s: %v", u.String(), st.Err)
	switch {
	case errors.Is(st.Err, remote.ErrUnauthorized):
		text += " (give -token-file FILE with the [http] token of its configuration)"
	case errors.Is(st.Err, remote.ErrForbidden):
		text += " (give -url with the address it listens on)"
	}
	return tui.Status{Down: true, Text: text, Retry: st.Retry}
}

// topTarget works out which agent to follow and its token: the flags,
// else the configuration (-config, else installedConfig if it exists),
// else the defaults. notes say what a person should know about that
// choice (a configuration that could not be read).
func topTarget(f topFlags) (u *url.URL, token string, notes []string, err error) {
	path := f.config
	if path == "" {
		if _, err := os.Stat(installedConfig); err == nil || !errors.Is(err, fs.ErrNotExist) {
			path = installedConfig
		}
	}
	listen := httpapi.DefaultListen
	if path != "" && (f.url == "" || (f.token == "" && f.tokenFile == "")) {
		l, t, err := agentHTTP(path)
		switch {
		case err != nil && f.config != "":
			return nil, "", nil, err
		case err != nil:
			notes = append(notes, fmt.Sprintf("%v: following http://%s/ without a token (give -url, -token-file)", err, listen))
		default:
			listen, token = l, t
		}
	}
	if listen == "" {
		return nil, "", nil, fmt.Errorf("%s: [http] listen = \"\": the agent serves no HTTP to follow; set [http] listen, or give -url", path)
	}
	switch {
	case f.token != "":
		token = f.token
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("reading -token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	raw := f.url
	if raw == "" {
		raw = "http://" + dialable(listen) + "/"
	}
	u, err = remote.ParseURL(raw)
	if err != nil {
		return nil, "", nil, fmt.Errorf("-url: %w", err)
	}
	return u, token, notes, nil
}

// agentHTTP reads the [http] listen and token of the agent's configuration
// at path.
func agentHTTP(path string) (listen, token string, err error) {
	cfg, err := config.Load(path)
	if err != nil {
		return "", "", err
	}
	return cfg.HTTP.Listen, cfg.HTTP.Token, nil
}

// dialable turns a listen address into one to connect to: every interface
// ("", 0.0.0.0, ::) is reached on loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
