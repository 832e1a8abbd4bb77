package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

// installedConfig is where `make install` puts the configuration; `bwmon
// report` reads its [state] dir when no -config is given.
const installedConfig = "/etc/bwmon/config.toml"

const reportUsage = `usage: bwmon report [flags]

Print what each app moved per day (or month) from the state store the agent
keeps in its [state] dir, newest last, like vnstat, and what the host
forwarded between other hosts; with -by class, what each app exchanged with
each destination class (which app spent the internet egress). Each period lists its largest apps (-apps)
and sums the rest in one "(other)" line. It reads the store without writing
and works while the agent runs; bytes counted since the agent's last flush
are not in the file yet.

flags:
`

// runReport is `bwmon report`.
func runReport(args []string, stdout, stderr io.Writer) int {
	return reportCommand(args, stdout, stderr, time.Now(), time.Local)
}

// reportOptions are the flags of `bwmon report`.
type reportOptions struct {
	configPath, dir string
	from            time.Time
	period          string
	by              string
	apps            int
	json            bool
}

// parseReportArgs reads the flags of `bwmon report` at time now in loc.
// It returns flag.ErrHelp for -h; any error has been written to stderr.
func parseReportArgs(args []string, stderr io.Writer, now time.Time, loc *time.Location) (reportOptions, error) {
	var o reportOptions
	fs := flag.NewFlagSet("bwmon report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.configPath, "config", "", "the agent's configuration `file`, for its [state] dir (default "+installedConfig+" if it exists, else "+state.DefaultDir+")")
	fs.StringVar(&o.dir, "state-dir", "", "read the store in this `directory`, whatever the configuration says")
	since := fs.String("since", "7d", "from when: days (\"7d\": today and the 6 before), a duration (\"36h\") or a date (\"2025-06-01\")")
	fs.StringVar(&o.period, "period", "day", "sum by day or month")
	fs.StringVar(&o.by, "by", "app", "group each period by app, or by class: each destination class's bytes and the apps that sent the most to it")
	fs.IntVar(&o.apps, "apps", state.DefaultUsageApps, "list at most this many apps in each period, the largest, and the rest in one \""+model.OtherApp+"\" line; 0 lists every app the store holds")
	fs.BoolVar(&o.json, "json", false, "print JSON, as GET /api/v1/usage does")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	fail := func(format string, a ...any) (reportOptions, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, "bwmon report:", err)
		return o, err
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %.64q", fs.Arg(0))
	}
	if o.period != "day" && o.period != "month" {
		return fail("bad -period %.64q: want day or month", o.period)
	}
	if o.by != "app" && o.by != "class" {
		return fail("bad -by %.64q: want app or class", o.by)
	}
	if o.apps < 0 {
		return fail("bad -apps %d: want a number of apps, 0 for all", o.apps)
	}
	var err error
	if o.from, err = state.ParseSince(*since, now, loc); err != nil {
		return fail("-since: %w", err)
	}
	return o, nil
}

// reportCommand is runReport at time now in loc. Exit status as for run.
func reportCommand(args []string, stdout, stderr io.Writer, now time.Time, loc *time.Location) int {
	o, err := parseReportArgs(args, stderr, now, loc)
	if err != nil {
		return 2
	}
	if o.dir == "" {
		d, err := reportDir(o.configPath)
		if err != nil {
			fmt.Fprintln(stderr, "bwmon report:", err)
			return 2
		}
		o.dir = d
	}

	h, err := state.ReadHistory(o.dir, o.from, loc, 5*time.Second)
	if errors.Is(err, state.ErrDamaged) {
		fmt.Fprintf(stderr, "bwmon report: %v\n(restarting the agent moves a damaged store aside and begins a new one)\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "bwmon report:", err)
		return 1
	}
	if h.Repaired+h.Dropped > 0 {
		fmt.Fprintf(stderr, "bwmon report: warning: the store holds %d records whose names were not clean (shown clean) and %d that could not be read (left out); the agent repairs them when it starts\n",
			h.Repaired, h.Dropped)
	}
	u, err := h.Usage(o.period, o.apps)
	if err != nil {
		fmt.Fprintln(stderr, "bwmon report:", err)
		return 2
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(u); err != nil {
			fmt.Fprintln(stderr, "bwmon report:", err)
			return 1
		}
		return 0
	}
	if o.by == "class" {
		writeClassReport(stdout, o.dir, h, u, loc)
		return 0
	}
	writeReport(stdout, o.dir, h, u, loc)
	return 0
}

// reportDir finds the state directory from the configuration at path, or
// the installed one, or the default.
func reportDir(path string) (string, error) {
	if path == "" {
		if _, err := os.Stat(installedConfig); err != nil {
			return state.DefaultDir, nil
		}
		path = installedConfig
	}
	cfg, err := config.Load(path)
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
	reportHeader(w, dir, h, u, loc, "APP")
	if len(u.Periods) == 0 {
		fmt.Fprintln(w, "(no bytes counted in this time)")
	}
	row := func(start string, in, out uint64, app string) {
		fmt.Fprintf(w, "%-10s %12s %12s %12s  %s\n", start,
			model.FormatBytes(float64(in)), model.FormatBytes(float64(out)), model.FormatBytes(float64(in+out)), app)
	}
	for _, p := range u.Periods {
		row(p.Start, p.BytesIn, p.BytesOut, "(all)")
		reportApps(row, p.Apps)
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
	reportApps(row, u.Total.Apps)
	if un := u.Total.Unattributed; un.BytesIn+un.BytesOut > 0 {
		row("", un.BytesIn, un.BytesOut, "(unattributed)")
	}
	reportForwarded(row, u.Total.Forwarded, maxForwardedLines)
}

// reportHeader writes the report's first two lines, the last column
// named last.
func reportHeader(w io.Writer, dir string, h *state.History, u *state.Usage, loc *time.Location, last string) {
	const stamp = "2006-01-02 15:04:05"
	written := "never"
	if !h.Flushed.IsZero() {
		written = h.Flushed.In(loc).Format(stamp)
	}
	fmt.Fprintf(w, "bwmon report  %s  totals since %s  last written %s  IP-layer bytes (payload for pipes)\n",
		safename.Clean(dir), h.Since.In(loc).Format(stamp), written)
	head := "DAY"
	if u.Period == "month" {
		head = "MONTH"
	}
	fmt.Fprintf(w, "%-10s %12s %12s %12s  %s\n", head, "IN", "OUT", "TOTAL", last)
}

// writeClassReport renders u by destination class: a line per period and
// class with its sum, then its apps, the largest senders first.
func writeClassReport(w io.Writer, dir string, h *state.History, u *state.Usage, loc *time.Location) {
	reportHeader(w, dir, h, u, loc, "CLASS / APP")
	row := func(start string, in, out uint64, name string) {
		fmt.Fprintf(w, "%-10s %12s %12s %12s  %s\n", start,
			model.FormatBytes(float64(in)), model.FormatBytes(float64(out)), model.FormatBytes(float64(in+out)), name)
	}
	period := func(start string, classes []state.ClassBytes) {
		for i := 0; i < len(classes); {
			j := i
			var in, out uint64
			for ; j < len(classes) && classes[j].Class == classes[i].Class; j++ {
				in, out = in+classes[j].BytesIn, out+classes[j].BytesOut
			}
			row(start, in, out, reportName(classes[i].Class))
			start = ""
			for _, c := range classes[i:j] {
				row("", c.BytesIn, c.BytesOut, "  "+reportName(c.App))
			}
			i = j
		}
	}
	n := 0
	for _, p := range u.Periods {
		if len(p.Classes) == 0 {
			continue
		}
		period(p.Start, p.Classes)
		n++
	}
	if n == 0 {
		fmt.Fprintln(w, "(no bytes by class in this time: only monitors that know the remote end classify it)")
		return
	}
	fmt.Fprintf(w, "\ntotal since %s\n", h.Since.In(loc).Format("2006-01-02 15:04:05"))
	period("", u.Total.Classes)
}

// reportNameWidth is the width, in characters, of a name in the report.
const reportNameWidth = 60

// reportName is a name as the report shows it: clean (a name from the
// store is data; it never steers the terminal) and at most
// reportNameWidth characters.
func reportName(s string) string { return safename.Display(safename.Clean(s), reportNameWidth) }

// reportApps adds a period's apps to the report, the model.OtherApp line
// saying how many apps the listing folded into it.
func reportApps(row func(start string, in, out uint64, app string), apps []state.AppBytes) {
	for _, a := range apps {
		name := reportName(a.App)
		if a.App == model.OtherApp && a.Folded > 0 {
			name = fmt.Sprintf("(other: %d more apps)", a.Folded)
		}
		row("", a.BytesIn, a.BytesOut, name)
	}
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
			more := len(f.Hosts) - n
			if f.Folded > 0 { // the last row stands for f.Folded pairs
				more += f.Folded - 1
			}
			row("", in, out, fmt.Sprintf("  (%d more pairs)", more))
			break
		}
		row("", h.BytesIn, h.BytesOut, "  "+reportName(h.Inside+" ⇄ "+h.Remote))
		in -= min(in, h.BytesIn)
		out -= min(out, h.BytesOut)
	}
}
