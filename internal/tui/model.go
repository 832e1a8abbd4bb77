package tui

import (
	"time"
	"unicode"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bwmon/bwmon/model"
)

// maxFilter bounds the filter a person types, in runes.
const maxFilter = 64

// Model is the UI's state: the snapshot shown, the terminal's size, and
// what the keys chose. It is a bubbletea Model; Update is a pure function
// of the messages (snapshots, statuses, log lines, processes, the clock,
// keys and sizes), so tests drive it without a terminal. Run feeds it.
type Model struct {
	title  string
	source string
	// request asks for the processes of an app; it must not block. Nil
	// when the source cannot list processes.
	request func(app string)
	st      styles

	w, h int

	snap    *model.Snapshot // shown
	pending *model.Snapshot // arrived while paused
	held    int             // ticks held back while paused
	got     time.Time       // when snap arrived
	now     time.Time
	status  Status
	log     []string

	ord     order // key, reverse and totals; the filter is each view's
	filter  string
	bits    bool
	paused  bool
	editing bool // typing the filter
	help    bool
	bigLog  bool

	// sel is the app under the cursor, followed by name as the rows move;
	// selIdx is its row, kept for when it goes away. top is the first row
	// shown.
	sel    string
	selIdx int
	top    int
	pane   *pane // an app expanded into its processes; nil for the apps
}

// pane is an app expanded into its processes.
type pane struct {
	app    string
	procs  []model.ProcessUsage
	loaded bool
	err    string
	filter string
	// sel is the PID under the cursor, selIdx its row; top is the first
	// row shown.
	sel, selIdx, top int
}

// The messages Run sends the Model beside bubbletea's keys and sizes.
type (
	// snapshotMsg is a new tick, arrived at at.
	snapshotMsg struct {
		s  *model.Snapshot
		at time.Time
	}
	statusMsg    Status
	logMsg       []string
	clockMsg     time.Time
	processesMsg struct {
		app   string
		procs []model.ProcessUsage
		err   error
	}
)

// modelOptions is what newModel takes.
type modelOptions struct {
	title, source string
	request       func(app string)
	renderer      *lipgloss.Renderer
	now           time.Time
}

func newModel(o modelOptions) Model {
	return Model{title: o.title, source: o.source, request: o.request, st: newStyles(o.renderer), now: o.now,
		w: 80, h: 24}
}

// Init starts nothing: Run delivers the ticks and the clock.
func (m Model) Init() tea.Cmd { return nil }

// Update applies msg.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = max(msg.Width, 1), max(msg.Height, 1)
	case snapshotMsg:
		if m.paused {
			m.pending = msg.s
			m.held++
			break
		}
		m.snap, m.got = msg.s, msg.at
		m.refresh()
	case processesMsg:
		if m.pane != nil && m.pane.app == msg.app {
			m.pane.loaded = true
			m.pane.err = ""
			if msg.err != nil {
				m.pane.err = msg.err.Error()
			} else {
				m.pane.procs = msg.procs
			}
		}
	case statusMsg:
		m.status = Status(msg)
	case logMsg:
		m.log = msg
	case clockMsg:
		m.now = time.Time(msg)
	case tea.KeyMsg:
		cmd = m.key(msg)
	}
	m.fix()
	return m, cmd
}

// refresh asks for the processes of the app expanded, if any.
func (m *Model) refresh() {
	if m.pane != nil && m.request != nil {
		m.request(m.pane.app)
	}
}

// key handles a key.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.editing {
		m.editKey(k)
		return nil
	}
	if k.Paste {
		return nil // text pasted outside the filter means nothing
	}
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 {
		// Keys typed faster than they are read come as one: each
		// counts, and "/" turns the rest into the filter.
		for i, r := range k.Runes {
			if m.editing {
				m.editKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: k.Runes[i:]})
				return nil
			}
			if cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}); cmd != nil {
				return cmd
			}
		}
		return nil
	}
	if m.help {
		m.help = false
		if k.String() == "q" {
			return tea.Quit
		}
		return nil
	}
	switch s := k.String(); s {
	case "q":
		return tea.Quit
	case "ctrl+z":
		return tea.Suspend
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup", "ctrl+b":
		m.move(-max(1, m.layout().body))
	case "pgdown", "ctrl+f":
		m.move(max(1, m.layout().body))
	case "home", "g":
		m.move(-1 << 30)
	case "end", "G":
		m.move(1 << 30)
	case "enter":
		if m.pane != nil {
			m.pane = nil
		} else {
			m.expand()
		}
	case "esc", "backspace", "left":
		switch {
		case m.pane != nil:
			m.pane = nil
		case s == "esc":
			m.filter = ""
		}
	case "/":
		m.editing = true
	case "<", ",":
		m.ord.key = (m.ord.key + numSortKeys - 1) % numSortKeys
		m.ord.reverse = false
	case ">", ".":
		m.ord.key = (m.ord.key + 1) % numSortKeys
		m.ord.reverse = false
	case "0", "1", "2", "3", "4", "5", "6":
		if k := sortKey(s[0] - '0'); k == m.ord.key {
			m.ord.reverse = !m.ord.reverse
		} else {
			m.ord.key, m.ord.reverse = k, false
		}
	case "r":
		m.ord.reverse = !m.ord.reverse
	case "b":
		m.bits = !m.bits
	case "t":
		m.ord.totals = !m.ord.totals
	case " ", "p":
		m.paused = !m.paused
		if !m.paused && m.pending != nil {
			m.snap, m.pending, m.got = m.pending, nil, m.now
			m.refresh()
		}
		m.held = 0
	case "l":
		m.bigLog = !m.bigLog
	case "?", "h":
		m.help = true
	}
	return nil
}

// editKey handles a key while the filter is typed: it applies as it is
// typed; enter keeps it, esc clears it.
func (m *Model) editKey(k tea.KeyMsg) {
	f := m.viewFilter()
	switch k.Type {
	case tea.KeyEnter:
		m.editing = false
	case tea.KeyEsc:
		*f, m.editing = "", false
	case tea.KeyBackspace:
		if _, n := utf8.DecodeLastRuneInString(*f); n > 0 {
			*f = (*f)[:len(*f)-n]
		}
	case tea.KeyCtrlU:
		*f = ""
	case tea.KeyRunes, tea.KeySpace:
		for _, r := range k.Runes {
			if unicode.IsPrint(r) && utf8.RuneCountInString(*f) < maxFilter {
				*f += string(r)
			}
		}
	}
}

// viewFilter is the filter of the view on screen.
func (m *Model) viewFilter() *string {
	if m.pane != nil {
		return &m.pane.filter
	}
	return &m.filter
}

// expand opens the app under the cursor, and asks for its processes.
func (m *Model) expand() {
	if m.request == nil || m.sel == "" {
		return
	}
	m.pane = &pane{app: m.sel}
	m.request(m.sel)
}

// move moves the cursor by d rows, within the rows.
func (m *Model) move(d int) {
	if m.pane != nil {
		rows := m.procRows()
		if len(rows) == 0 {
			return
		}
		i := clamp(m.pane.selIdx+d, 0, len(rows)-1)
		m.pane.sel, m.pane.selIdx = rows[i].PID, i
		return
	}
	rows := m.appRows()
	if len(rows) == 0 {
		return
	}
	i := clamp(m.selIdx+d, 0, len(rows)-1)
	m.sel, m.selIdx = rows[i].App, i
}

// fix puts the cursor back on its row after the rows changed (it follows
// its app, or its PID; when that is gone it keeps its place) and scrolls
// so that it is on screen.
func (m *Model) fix() {
	body := m.layout().body
	if m.pane != nil {
		p := m.pane
		rows := m.procRows()
		p.selIdx = clamp(p.selIdx, 0, max(0, len(rows)-1))
		for i, r := range rows {
			if r.PID == p.sel {
				p.selIdx = i
			}
		}
		if len(rows) > 0 {
			p.sel = rows[p.selIdx].PID
		}
		p.top = scroll(p.top, p.selIdx, len(rows), body)
		return
	}
	rows := m.appRows()
	m.selIdx = clamp(m.selIdx, 0, max(0, len(rows)-1))
	for i, r := range rows {
		if r.App == m.sel {
			m.selIdx = i
		}
	}
	if len(rows) > 0 {
		m.sel = rows[m.selIdx].App
	} else {
		m.sel = ""
	}
	m.top = scroll(m.top, m.selIdx, len(rows)+len(m.pinned()), body)
}

// scroll returns the first row to show of n, body rows high, so that row
// sel is on screen, moving as little as it can.
func scroll(top, sel, n, body int) int {
	if body <= 0 {
		return sel
	}
	if sel < top {
		top = sel
	}
	if sel >= top+body {
		top = sel - body + 1
	}
	return clamp(top, 0, max(0, n-body))
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

func (m *Model) appOrder() order {
	o := m.ord
	o.filter = m.filter
	return o
}

func (m *Model) appRows() []*model.AppUsage { return appRows(m.snap, m.appOrder()) }

func (m *Model) procRows() []*model.ProcessUsage {
	if m.pane == nil {
		return nil
	}
	o := m.ord
	o.filter = m.pane.filter
	return procRows(m.pane.procs, o)
}
