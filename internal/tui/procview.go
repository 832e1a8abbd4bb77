package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// procLines are the processes view: the app's line, the titles, and the
// processes from the one at the top.
func (m *Model) procLines(l layout) []string {
	p := m.pane
	head := "▸ " + p.app
	if p.app == model.OtherApp {
		head = "▸ the apps folded into " + model.OtherApp
	}
	var app *model.AppUsage
	if m.snap != nil {
		for i := range m.snap.Apps {
			if m.snap.Apps[i].App == p.app {
				app = &m.snap.Apps[i]
			}
		}
	}
	switch {
	case !p.loaded:
		head += "  loading its processes…"
	case p.err != "":
		head += "  cannot list its processes: " + p.err
	default:
		head += fmt.Sprintf("  %d processes", len(p.procs))
		if len(p.procs) >= maxShownProcs {
			head += fmt.Sprintf(" (the busiest %d)", len(p.procs))
		}
	}
	if app != nil {
		head += "  in " + formatRate(app.RateIn, m.bits) + "  out " + formatRate(app.RateOut, m.bits)
	} else if m.snap != nil {
		head += "  (no longer listed)"
	}
	head += "  esc: back"
	cs := m.procColumns()
	out := []string{m.st.title.Render(clip(head, m.w))}
	if c := m.paneClasses(); c != "" {
		out = append(out, clip(c, m.w))
	}
	out = append(out, m.titles(cs))
	rows := m.procRows()
	for i := p.top; i < len(rows) && len(out) < l.body+l.heads; i++ {
		r := rows[i]
		vals := m.numbers(cs, procNumbers(r))
		for j, c := range cs {
			switch c.title {
			case "PID":
				vals[j] = strconv.Itoa(r.PID)
			case "USER":
				vals[j] = userLabel(r.User)
			case "WHERE":
				vals[j] = where(*r)
			case "COMMAND":
				vals[j] = command(r, c.w)
			}
		}
		line := pad(cells(i == p.selIdx, cs, vals), m.w)
		if i == p.selIdx {
			line = m.st.sel.Render(line)
		}
		out = append(out, line)
	}
	if p.loaded && p.err == "" && len(rows) == 0 && len(out) < l.body+l.heads {
		msg := " no live process moved bytes in the last ticks"
		if p.filter != "" {
			msg = fmt.Sprintf(" no process matches %q", p.filter)
		}
		out = append(out, clip(msg, m.w))
	}
	return out
}

// paneClasses is the line of the expanded app's bytes by destination
// class, the largest first: "by class: internet in 1.2 MB/s out 80 kB/s
// (3.1 GiB, 75%) · ..."; "" when it has none.
func (m *Model) paneClasses() string {
	if m.pane == nil || m.snap == nil {
		return ""
	}
	var app *model.AppUsage
	for i := range m.snap.Apps {
		if m.snap.Apps[i].App == m.pane.app {
			app = &m.snap.Apps[i]
		}
	}
	if app == nil || len(app.Classes) == 0 {
		return ""
	}
	names := make([]string, 0, len(app.Classes))
	var sum uint64
	for n, c := range app.Classes {
		names = append(names, n)
		sum += c.BytesIn + c.BytesOut
	}
	slices.SortFunc(names, func(x, y string) int {
		a, b := app.Classes[x], app.Classes[y]
		return cmp.Or(cmp.Compare(b.BytesIn+b.BytesOut, a.BytesIn+a.BytesOut), cmp.Compare(x, y))
	})
	parts := make([]string, len(names))
	for i, n := range names {
		c := app.Classes[n]
		share := 0.0
		if sum > 0 {
			share = float64(c.BytesIn+c.BytesOut) / float64(sum) * 100
		}
		parts[i] = fmt.Sprintf("%s in %s out %s (%s, %.0f%%)", n, formatRate(c.RateIn, m.bits), formatRate(c.RateOut, m.bits),
			formatBytes(float64(c.BytesIn+c.BytesOut)), share)
	}
	return "  by class: " + strings.Join(parts, " · ")
}

// command is a process's command line for a column w wide: whole when it
// fits, else with its program's directory left out, which keeps the
// arguments in view (which python3 it is); its name in brackets when it
// has none (a kernel thread, or a process that cleared it).
func command(p *model.ProcessUsage, w int) string {
	if p.Cmdline == "" {
		return "[" + p.Name + "]"
	}
	if width(p.Cmdline) <= w {
		return p.Cmdline
	}
	prog, args, _ := strings.Cut(p.Cmdline, " ")
	if i := strings.LastIndexByte(prog, '/'); i >= 0 && i < len(prog)-1 {
		prog = prog[i+1:]
	}
	if args == "" {
		return prog
	}
	return prog + " " + args
}

// maxShownProcs is how many processes the sources return at most
// (aggregator.MaxProcesses); the view says when the list is at it.
const maxShownProcs = 200
