package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

// installedConfig is where `make install` puts the configuration; `bwmon
// report` reads its [state] dir when no -config is given.
const installedConfig = "/etc/bwmon/config.toml"

const reportUsage = `usage: bwmon report [flags]

Print what each app moved per day (or month) from the state store the agent
keeps in its [state] dir, newest last, like vnstat, and what the host
forwarded between other hosts. It reads the store
without writing and works while the agent runs; bytes counted since the
agent's last flush are not in the file yet.

flags:
`

// runReport is `bwmon report`.
func runReport(args []string, stdout, stderr io.Writer) int {
	return reportCommand(args, stdout, stderr, time.Now(), time.Local)
}

// reportCommand is runReport at time now in loc. Exit status as for run.
func reportCommand(args []string, stdout, stderr io.Writer, now time.Time, loc *time.Location) int {
	fs := flag.NewFlagSet("bwmon report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "the agent's configuration `file`, for its [state] dir (default "+installedConfig+" if it exists, else "+DefaultStateDir+")")
	dir := fs.String("state-dir", "", "read the store in this `directory`, whatever the configuration says")
	since := fs.String("since", "7d", "from when: days (\"7d\": today and the 6 before), a duration (\"36h\") or a date (\"2025-06-01\")")
	period := fs.String("period", "day", "sum by day or month")
	asJSON := fs.Bool("json", false, "print JSON, as GET /api/v1/usage does")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bwmon report: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *period != "day" && *period != "month" {
		fmt.Fprintf(stderr, "bwmon report: bad -period %q: want day or month\n", *period)
		return 2
	}
	from, err := state.ParseSince(*since, now, loc)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon report: -since:", err)
		return 2
	}
	if *dir == "" {
		d, err := reportDir(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, "bwmon report:", err)
			return 2
		}
		*dir = d
	}

	h, err := state.ReadHistory(*dir, from, loc, 5*time.Second)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon report:", err)
		return 1
	}
	u, err := h.Usage(*period, 0)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon report:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(u); err != nil {
			fmt.Fprintln(stderr, "bwmon report:", err)
			return 1
		}
		return 0
	}
	writeReport(stdout, *dir, h, u, loc)
	return 0
}

// reportDir finds the state directory from the configuration at path, or
// the installed one, or the default.
func reportDir(path string) (string, error) {
	if path == "" {
		if _, err := os.Stat(installedConfig); err != nil {
			return DefaultStateDir, nil
		}
		path = installedConfig
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return "", err
	}
	if cfg.State.Dir == "" {
		return "", errors.New(cfg.Path + ": [state] dir = \"\": this agent keeps no state; give -state-dir to read another")
	}
	return cfg.State.Dir, nil
}

// writeReport renders u as the report table: a line per period with its
// sum, then a line per app, one for the unattributed bytes, and the
// forwarded bytes.
func writeReport(w io.Writer, dir string, h *state.History, u *state.Usage, loc *time.Location) {
	const stamp = "2006-01-02 15:04:05"
	written := "never"
	if !h.Flushed.IsZero() {
		written = h.Flushed.In(loc).Format(stamp)
	}
	fmt.Fprintf(w, "bwmon report  %s  totals since %s  last written %s  IP-layer bytes (payload for pipes)\n",
		dir, h.Since.In(loc).Format(stamp), written)
	head := "DAY"
	if u.Period == "month" {
		head = "MONTH"
	}
	fmt.Fprintf(w, "%-10s %12s %12s %12s  %s\n", head, "IN", "OUT", "TOTAL", "APP")
	if len(u.Periods) == 0 {
		fmt.Fprintln(w, "(no bytes counted in this time)")
	}
	row := func(start string, in, out uint64, app string) {
		fmt.Fprintf(w, "%-10s %12s %12s %12s  %s\n", start,
			model.FormatBytes(float64(in)), model.FormatBytes(float64(out)), model.FormatBytes(float64(in+out)), app)
	}
	for _, p := range u.Periods {
		row(p.Start, p.BytesIn, p.BytesOut, "(all)")
		for _, a := range p.Apps {
			row("", a.BytesIn, a.BytesOut, cut(a.App))
		}
		if un := p.Unattributed; un.BytesIn+un.BytesOut > 0 {
			row("", un.BytesIn, un.BytesOut, "(unattributed)")
		}
		reportForwarded(row, p.Forwarded, maxReportPairs)
	}
	if len(u.Total.Apps) == 0 && u.Total.Unattributed.BytesIn+u.Total.Unattributed.BytesOut == 0 &&
		u.Total.Forwarded.BytesIn+u.Total.Forwarded.BytesOut == 0 {
		return
	}
	fmt.Fprintf(w, "\ntotal since %s\n", h.Since.In(loc).Format(stamp))
	row("", u.Total.BytesIn, u.Total.BytesOut, "(all)")
	for _, a := range u.Total.Apps {
		row("", a.BytesIn, a.BytesOut, cut(a.App))
	}
	if un := u.Total.Unattributed; un.BytesIn+un.BytesOut > 0 {
		row("", un.BytesIn, un.BytesOut, "(unattributed)")
	}
	reportForwarded(row, u.Total.Forwarded, maxForwardedLines)
}

// maxReportPairs is how many pairs of forwarding hosts the report shows in
// each period.
const maxReportPairs = 5

// reportForwarded adds a period's forwarded bytes to the report: their sum,
// then the n largest pairs of hosts and a line for the rest. It is apart
// from the "(all)" line, which is this host's own traffic.
func reportForwarded(row func(start string, in, out uint64, app string), f state.ForwardedBytes, n int) {
	if f.BytesIn+f.BytesOut == 0 {
		return
	}
	row("", f.BytesIn, f.BytesOut, "(forwarded)")
	in, out := f.BytesIn, f.BytesOut
	for i, h := range f.Hosts {
		if i == n {
			row("", in, out, fmt.Sprintf("  (%d more pairs)", len(f.Hosts)-n))
			break
		}
		row("", h.BytesIn, h.BytesOut, "  "+cut(h.Inside+" ⇄ "+h.Remote))
		in -= min(in, h.BytesIn)
		out -= min(out, h.BytesOut)
	}
}
