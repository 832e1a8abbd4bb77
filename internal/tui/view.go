package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/bwmon/bwmon/model"
)

// View draws the screen: never more lines than the terminal has, nor a
// line wider than it.
func (m Model) View() string {
	l := m.layout()
	out := make([]string, 0, m.h)
	for _, segs := range l.header {
		parts := make([]string, len(segs))
		for i, s := range segs {
			parts[i] = m.paint(s.style, s.text)
		}
		out = append(out, strings.Join(parts, "  "))
	}
	switch {
	case m.help:
		out = append(out, m.helpLines(l.heads+l.body)...)
	case m.pane != nil:
		out = append(out, m.procLines(l)...)
	default:
		out = append(out, m.appLines(l)...)
	}
	// The log area and the footer stay at the bottom.
	for len(out) < len(l.header)+l.heads+l.body {
		out = append(out, "")
	}
	if l.logRows > 0 {
		out = append(out, m.logLines(l.logRows)...)
	}
	if l.footer {
		out = append(out, m.footer())
	}
	if len(out) > m.h {
		out = out[:m.h]
	}
	return strings.Join(out, "\n")
}

// paint applies st to s; nil is plain.
func (m *Model) paint(st *lipgloss.Style, s string) string {
	if st == nil || s == "" {
		return s
	}
	return st.Render(s)
}

// titles renders the columns' titles, the sort column's marked.
func (m *Model) titles(cs []column) string {
	vals := make([]string, len(cs))
	for i, c := range cs {
		vals[i] = c.title
		if c.key != noKey {
			vals[i] += m.arrow(c.key)
		}
	}
	return m.st.head.Render(pad(cells(false, cs, vals), m.w))
}

// pad fills s with spaces to w columns.
func pad(s string, w int) string {
	if n := w - width(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return ansi.Truncate(s, w, "")
}

// appLines are the apps table: titles, and the rows from the one at the
// top, the unattributed and forwarded lines after the apps.
func (m *Model) appLines(l layout) []string {
	cs := m.appColumns()
	out := []string{m.titles(cs)}
	if m.snap == nil {
		return out
	}
	rows := m.appRows()
	pinned := m.pinned()
	for i := m.top; i < len(rows)+len(pinned) && len(out) <= l.body; i++ {
		if i >= len(rows) {
			out = append(out, m.st.dim.Render(pad(cells(false, cs, pinned[i-len(rows)]), m.w)))
			continue
		}
		a := rows[i]
		name := a.App
		if name == model.OtherApp {
			name = model.OtherLabel(a.Folded)
		}
		vals := m.numbers(cs, appNumbers(a))
		for j, c := range cs {
			switch c.title {
			case "PROCS":
				if a.App != model.OtherApp {
					vals[j] = strconv.Itoa(a.Processes)
				}
			case "USERS":
				vals[j] = appUsers(*a)
			case "WHERE":
				vals[j] = appWhere(*a)
			case "APP":
				vals[j] = name
			}
		}
		line := pad(cells(i == m.selIdx, cs, vals), m.w)
		if i == m.selIdx {
			line = m.st.sel.Render(line)
		}
		out = append(out, line)
	}
	if len(rows) == 0 && m.filter != "" && len(out) <= l.body {
		out = append(out, clip(fmt.Sprintf(" no app matches %q", m.filter), m.w))
	}
	return out
}

// numbers fills the rate and total cells of a row.
func (m *Model) numbers(cs []column, n numbers) []string {
	vals := make([]string, len(cs))
	for j, c := range cs {
		switch c.key {
		case sortRateIn:
			vals[j] = formatRate(n.rateIn, m.bits)
		case sortRateOut:
			vals[j] = formatRate(n.rateOut, m.bits)
		case sortTotalIn:
			vals[j] = formatBytes(float64(n.totalIn))
		case sortTotalOut:
			vals[j] = formatBytes(float64(n.totalOut))
		}
	}
	return vals
}

// pinned are the lines after the apps, as cells of the apps' columns: the
// unattributed bytes by reason, and the traffic the host forwarded. They
// are not apps: not sorted, not selected, not shown under a filter.
func (m *Model) pinned() [][]string {
	s := m.snap
	if s == nil || m.filter != "" {
		return nil
	}
	cs := m.appColumns()
	var out [][]string
	if u := s.Unattributed; u.BytesIn+u.BytesOut > 0 {
		vals := m.numbers(cs, numbers{u.RateIn, u.RateOut, u.BytesIn, u.BytesOut})
		vals[len(vals)-1] = "(unattributed: " + reasons(u) + ")"
		out = append(out, vals)
	}
	if f := s.Forwarded; f.BytesIn+f.BytesOut > 0 {
		vals := m.numbers(cs, numbers{f.RateIn, f.RateOut, f.BytesIn, f.BytesOut})
		vals[len(vals)-1] = fmt.Sprintf("(forwarded between other hosts: %d pairs)", len(f.Hosts))
		out = append(out, vals)
	}
	return out
}

// reasons lists the unattributed bytes by reason, as the plain table does.
func reasons(u model.Unattributed) string {
	var parts []string
	for _, r := range model.Reasons {
		if sum, ok := u.Reasons[r]; ok {
			parts = append(parts, string(r)+" "+formatBytes(float64(sum.BytesIn+sum.BytesOut)))
		}
	}
	return strings.Join(parts, ", ")
}

// logLines are the log area: a rule, and the latest lines, wrapped to the
// width (three rows at most each), the newest at the bottom.
func (m *Model) logLines(rows int) []string {
	rule := "─ log (l: larger) "
	if m.bigLog {
		rule = "─ log (l: smaller) "
	}
	out := []string{m.st.dim.Render(pad(clip(rule, m.w)+strings.Repeat("─", max(0, m.w-width(rule))), m.w))}
	var wrapped []string
	for i := len(m.log) - 1; i >= 0 && len(wrapped) < rows; i-- {
		line := shortLog(m.log[i])
		parts := strings.Split(ansi.Hardwrap(line, m.w, true), "\n")
		if len(parts) > 3 {
			parts = append(parts[:2], clip(parts[2]+"…", m.w))
		}
		if room := rows - len(wrapped); len(parts) > room {
			// The oldest line shown, its start.
			parts = append(parts[:room-1], clip(parts[room-1]+"…", m.w))
		}
		st := m.logStyle(line)
		for j := len(parts) - 1; j >= 0; j-- {
			wrapped = append(wrapped, m.paint(st, clip(parts[j], m.w)))
		}
	}
	for len(wrapped) < rows {
		wrapped = append(wrapped, "") // the newest at the bottom, always
	}
	for i := len(wrapped) - 1; i >= 0; i-- {
		out = append(out, wrapped[i])
	}
	return out
}

// shortLog shortens the time of a text log line to the time of day: the
// header has the date, and the area is narrow.
func shortLog(line string) string {
	rest, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return line
	}
	stamp, rest, _ := strings.Cut(rest, " ")
	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return line
	}
	return t.Local().Format("15:04:05") + " " + rest
}

// logStyle picks the look of a log line by its level; alert lines stand
// out as warnings.
func (m *Model) logStyle(line string) *lipgloss.Style {
	switch {
	case strings.Contains(line, "level=ERROR"), strings.Contains(line, `"level":"ERROR"`):
		return &m.st.bad
	case strings.Contains(line, "level=WARN"), strings.Contains(line, `"level":"WARN"`),
		strings.Contains(line, "bandwidth limit"):
		return &m.st.warn
	}
	return nil
}

// footer is the last line: the filter being typed, or the filter and the
// keys.
func (m *Model) footer() string {
	f := *m.viewFilterValue()
	if m.editing {
		return pad(clip("filter: "+f+"█  enter: keep · esc: clear", m.w), m.w)
	}
	var b strings.Builder
	if f != "" {
		n, of := m.counts()
		fmt.Fprintf(&b, "filter %q: %d of %d · ", f, n, of)
	}
	if m.pane != nil {
		b.WriteString("esc back  ↑↓ move  / filter  </> sort  r reverse  b bits  t totals  p pause  ? help  q quit")
	} else {
		b.WriteString("q quit  ↑↓ move  enter processes  / filter  </> sort  r reverse  b bits  t totals  p pause  ? help")
	}
	return m.st.dim.Render(pad(clip(b.String(), m.w), m.w))
}

func (m *Model) viewFilterValue() *string {
	if m.pane != nil {
		return &m.pane.filter
	}
	return &m.filter
}

// counts is how many rows the filter lets through, of how many.
func (m *Model) counts() (int, int) {
	if m.pane != nil {
		return len(m.procRows()), len(m.pane.procs)
	}
	if m.snap == nil {
		return 0, 0
	}
	return len(m.appRows()), len(m.snap.Apps)
}

// helpText lists the keys.
var helpText = []string{
	"keys",
	"",
	"  q, ctrl+c        quit",
	"  ↑ ↓, k j         move",
	"  pgup pgdn        move a page (also ctrl+b, ctrl+f)",
	"  home end, g G    first, last row",
	"  enter            expand the app into its processes (again, or esc: back)",
	"  /                filter by name (processes: by PID, user, unit, container, command)",
	"                   enter keeps it, esc clears it",
	"  < >              sort by the previous, next column",
	"  1-6, 0           sort by rate in, rate out, total in, total out, processes, name; 0 busiest",
	"  r                reverse the order",
	"  b                bits or bytes per second",
	"  t                rates or totals: the busiest order and, on a narrow screen, the columns",
	"  p, space         pause (ticks are held, not lost)",
	"  l                a larger or smaller log area",
	"  ?                this help (any key closes it)",
	"",
	"Rates are over the last tick; totals since the time in the header (\"since\").",
	"Rates are shown in binary units (KiB/s) or, with b, in bits (Mbit/s); totals in bytes.",
}

// helpLines are the help screen, n rows at most.
func (m *Model) helpLines(n int) []string {
	var out []string
	for _, l := range helpText {
		if len(out) >= n {
			break
		}
		out = append(out, clip(l, m.w))
	}
	return out
}
