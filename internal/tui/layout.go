package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/bwmon/bwmon/model"
)

// styles are the looks the UI uses: attributes and the basic colours only,
// which every terminal has; with NO_COLOR or TERM=dumb, lipgloss drops
// them, and the cursor's ">" still shows the selected row.
type styles struct {
	title, head, sel, warn, bad, dim lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	if r == nil {
		r = lipgloss.NewRenderer(nil)
	}
	return styles{
		title: r.NewStyle().Bold(true),
		head:  r.NewStyle().Bold(true).Reverse(true),
		sel:   r.NewStyle().Reverse(true),
		warn:  r.NewStyle().Foreground(lipgloss.Color("3")).Bold(true),
		bad:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		dim:   r.NewStyle().Faint(true),
	}
}

// segment is a piece of the header.
type segment struct {
	text  string
	style *lipgloss.Style // nil: plain
}

// segments are the header's pieces, the most important first: the packer
// drops the last ones that do not fit.
func (m *Model) segments() []segment {
	st := &m.st
	title := m.title
	if m.snap != nil {
		title += " " + m.snap.Time.Local().Format("15:04:05")
	}
	segs := []segment{{title, &st.title}}
	if m.paused {
		t := "PAUSED (p resumes)"
		if m.held > 0 {
			t = fmt.Sprintf("PAUSED, %d ticks held (p resumes)", m.held)
		}
		segs = append(segs, segment{t, &st.warn})
	}
	switch {
	case m.status.Down:
		t := m.status.Text
		if t == "" {
			t = "no ticks"
		}
		if !m.status.Retry.IsZero() {
			t += fmt.Sprintf(", retrying in %s", max(0, m.status.Retry.Sub(m.now)).Round(time.Second))
		}
		segs = append(segs, segment{t, &st.bad})
	case m.stale() > 0:
		segs = append(segs, segment{fmt.Sprintf("no tick for %s", m.stale().Round(time.Second)), &st.warn})
	}
	s := m.snap
	if s == nil {
		segs = append(segs, segment{"waiting for the first tick…", nil})
		if m.source != "" {
			segs = append(segs, segment{m.source, &st.dim})
		}
		return segs
	}
	var all numbers
	for i := range s.Apps {
		a := &s.Apps[i]
		all.rateIn, all.rateOut = all.rateIn+a.RateIn, all.rateOut+a.RateOut
		all.totalIn, all.totalOut = all.totalIn+a.BytesIn, all.totalOut+a.BytesOut
	}
	u := s.Unattributed
	attributed := all.total()
	all.rateIn, all.rateOut = all.rateIn+u.RateIn, all.rateOut+u.RateOut
	all.totalIn, all.totalOut = all.totalIn+u.BytesIn, all.totalOut+u.BytesOut
	segs = append(segs,
		segment{"in " + formatRate(all.rateIn, m.bits) + "  out " + formatRate(all.rateOut, m.bits), nil},
		segment{"total in " + formatBytes(float64(all.totalIn)) + "  out " + formatBytes(float64(all.totalOut)), nil})
	if c, ok := coverageText(s); ok {
		st := &st.dim
		if c.low {
			st = &m.st.warn
		}
		segs = append(segs, segment{c.text, st})
	}
	// The honest bucket, said even when empty.
	un := u.BytesIn + u.BytesOut
	segs = append(segs, segment{"unattributed " + share(un, un+attributed), nil})
	for i := range s.Apps {
		if a := &s.Apps[i]; a.App == model.OtherApp && a.Folded > 0 {
			segs = append(segs, segment{fmt.Sprintf("(other): %d apps folded", a.Folded), nil})
		}
	}
	segs = append(segs, segment{"sort " + m.ord.key.label(m.ord.totals) + m.arrow(m.ord.key), &st.dim},
		segment{fmt.Sprintf("interval %.2fs", s.IntervalS), &st.dim})
	if !s.Since.IsZero() {
		segs = append(segs, segment{"since " + s.Since.Local().Format("2006-01-02 15:04"), &st.dim})
	}
	if m.source != "" {
		segs = append(segs, segment{m.source, &st.dim})
	}
	return segs
}

// coverage is what the header says of coverage.
type coverage struct {
	text string
	low  bool // under lowCoverage either way: said in the warning's colour
}

// lowCoverage is the share below which the header marks coverage.
const lowCoverage = 0.95

// coverageText says how much of the interfaces' traffic bwmon explained
// over the last 15 minutes: "coverage 15m in 99.3% out 99.8%". ok
// is false when the agent reads no interface (a pipe alone, an older
// agent); a window whose interfaces moved nothing shows "–".
func coverageText(s *model.Snapshot) (coverage, bool) {
	if len(s.Interfaces) == 0 {
		return coverage{}, false
	}
	w := s.Coverage.Last15m
	low := w.In != nil && *w.In < lowCoverage || w.Out != nil && *w.Out < lowCoverage
	return coverage{"coverage 15m " + w.String(), low}, true
}

// share is part of whole in percent: "0.5%", "<0.1%".
func share(part, whole uint64) string {
	if whole == 0 {
		return "0%"
	}
	p := 100 * float64(part) / float64(whole)
	if p < 0.1 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", p)
}

// stale is how long no tick came, when that is more than three intervals
// (and 5 s); 0 otherwise.
func (m *Model) stale() time.Duration {
	if m.snap == nil || m.got.IsZero() || m.paused {
		return 0
	}
	d := m.now.Sub(m.got)
	if d > 5*time.Second && d.Seconds() > 3*m.snap.IntervalS {
		return d
	}
	return 0
}

// pack lays segments out in at most n lines of w columns, two spaces
// apart, in order; a segment that does not fit where it comes is left
// out (a later, shorter one may still fit). Each is cleaned, and cut to w
// (some come from the network: an agent's error message); the first is
// always there.
func pack(segs []segment, w, n int) [][]segment {
	var lines [][]segment
	used := 0
	for i, s := range segs {
		s.text = clip(s.text, w)
		sw := width(s.text)
		switch {
		case i == 0:
			lines = append(lines, []segment{s})
			used = sw
		case used+2+sw <= w:
			lines[len(lines)-1] = append(lines[len(lines)-1], s)
			used += 2 + sw
		case len(lines) < n:
			lines = append(lines, []segment{s})
			used = sw
		}
	}
	return lines
}

// layout is how the screen's rows are shared.
type layout struct {
	header [][]segment
	// heads is the rows above the table's body: its column titles, and
	// in the processes view the app's line and its classes' line.
	heads int
	body  int
	// logRows is the log area's rows under its rule; 0: no log area.
	logRows int
	footer  bool
}

// layout shares the screen: the header (two lines, one on a low
// terminal), the table, the log area (a sixth of the screen, between 2 and
// 8 lines, half with l; none when the log is empty or the screen low) and
// the footer with the keys.
func (m *Model) layout() layout {
	n := 2
	if m.h < 12 {
		n = 1
	}
	l := layout{header: pack(m.segments(), m.w, n), heads: 1}
	if m.pane != nil {
		l.heads = 2
		if m.paneClasses() != "" {
			l.heads = 3 // the app's classes
		}
	}
	avail := m.h - len(l.header)
	if avail >= 4 {
		l.footer = true
		avail--
	}
	avail -= l.heads
	if len(m.log) > 0 && !m.help {
		want := clamp(m.h/6, 2, 8)
		if m.bigLog {
			want = m.h / 2
		}
		// Leave the table three rows at least.
		if rows := min(want, avail-3-1); rows >= 1 {
			l.logRows = rows
			avail -= rows + 1
		}
	}
	l.body = max(0, avail)
	return l
}

// column is one column of a table.
type column struct {
	title string
	w     int
	right bool
	// key is the sort key of the column; -1 for none.
	key sortKey
}

const noKey sortKey = -1

// Widths of the columns.
const (
	rateW  = 11
	totalW = 10
	countW = 6
	pidW   = 7
	userW  = 10
	usersW = 12
	whereW = 20
	// minNameW is the least width an app's name is given before columns
	// are left out.
	minNameW = 16
)

// appColumns are the columns of the apps table at the screen's width: all
// of them from about 120 columns, then without users and where they run,
// then without the processes' count (below about 70), then only the rates
// (or the totals, in totals mode; below about 65). The last, the app's
// name, takes the rest.
func (m *Model) appColumns() []column {
	ri := column{"RATE IN", rateW, true, sortRateIn}
	ro := column{"RATE OUT", rateW, true, sortRateOut}
	ti := column{"TOTAL IN", totalW, true, sortTotalIn}
	to := column{"TOTAL OUT", totalW, true, sortTotalOut}
	pc := column{"PROCS", countW, true, sortCount}
	pair := []column{ri, ro}
	if m.ord.totals {
		pair = []column{ti, to}
	}
	for _, c := range []struct {
		cols    []column
		minName int
	}{
		// Users and where they run only when the name keeps room.
		{[]column{ri, ro, ti, to, pc, {"USERS", usersW, false, noKey}, {"WHERE", whereW, false, noKey}}, 2 * minNameW},
		{[]column{ri, ro, ti, to, pc}, minNameW},
		{[]column{ri, ro, ti, to}, minNameW},
		{pair, 0},
	} {
		if name := m.w - 1 - fixed(c.cols) - 1; name >= c.minName {
			return append(c.cols, column{"APP", max(1, name), false, sortName})
		}
	}
	return append(pair, column{"APP", 1, false, sortName}) // narrower than the rates
}

// procColumns are the columns of the processes view: PID, user, rates,
// totals when there is room (else the rates or the totals, as t chose),
// where the process runs, and its command line, which takes the rest.
func (m *Model) procColumns() []column {
	pid := column{"PID", pidW, true, sortCount}
	user := column{"USER", userW, false, noKey}
	if m.w < 100 {
		user.w = 8 // "www-data"
	}
	ri := column{"RATE IN", rateW, true, sortRateIn}
	ro := column{"RATE OUT", rateW, true, sortRateOut}
	ti := column{"TOTAL IN", totalW, true, sortTotalIn}
	to := column{"TOTAL OUT", totalW, true, sortTotalOut}
	c := []column{pid, user, ri, ro, ti, to}
	if m.w-1-fixed(c) < 60 {
		c = []column{pid, user, ri, ro}
		if m.ord.totals {
			c = []column{pid, user, ti, to}
		}
	}
	rest := m.w - 1 - fixed(c) - 1
	if rest >= 24 {
		wh := clamp(rest/4, 10, 24)
		c = append(c, column{"WHERE", wh, false, noKey})
		rest -= wh + 1
	}
	return append(c, column{"COMMAND", max(1, rest), false, sortName})
}

// fixed is the width of columns with a space after each.
func fixed(cs []column) int {
	n := 0
	for _, c := range cs {
		n += c.w + 1
	}
	return n
}

// arrow marks the sort column's title: ▼ the largest (or Z) first, ▲ the
// smallest (or A).
func (m *Model) arrow(k sortKey) string {
	if k != m.ord.key {
		return ""
	}
	if k.ascending(m.pane != nil) != m.ord.reverse {
		return "▲"
	}
	return "▼"
}

// cells renders a row of cells in columns cs, each cut to its width, after
// the cursor's column.
func cells(cursor bool, cs []column, vals []string) string {
	var b strings.Builder
	if cursor {
		b.WriteByte('>')
	} else {
		b.WriteByte(' ')
	}
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if c.right {
			b.WriteString(right(vals[i], c.w))
		} else {
			b.WriteString(left(vals[i], c.w))
		}
	}
	return b.String()
}
