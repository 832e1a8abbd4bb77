package tui

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bwmon/bwmon/model"
)

// t0 is the time of the first fake tick.
var t0 = time.Date(2026, 11, 22, 10, 0, 1, 0, time.Local)

// fakeSnapshot is a tick of n generic apps (app-01 … slowest last) beside
// python3 (the busiest), curl (the largest total), a hostile name, the
// (other) line and unattributed bytes.
func fakeSnapshot(at time.Time, n int) *model.Snapshot {
	s := &model.Snapshot{Time: at, Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local), IntervalS: 1,
		Apps: []model.AppUsage{
			{App: "python3", RateIn: 12 << 20, RateOut: 100 << 10, BytesIn: 40 << 20, BytesOut: 1 << 20, Processes: 2, PIDs: []int{4242, 4243},
				Users: []model.UserRef{{UID: 1000, Name: "alice"}}, Units: []string{"session-3.scope"}},
			{App: "curl", RateIn: 1 << 20, RateOut: 300 << 10, BytesIn: 900 << 20, BytesOut: 2 << 20, Processes: 1, PIDs: []int{77},
				Users: []model.UserRef{{UID: 0, Name: "root"}}, Containers: []model.Container{{Runtime: "docker", ID: "d548c5b83fa6", Name: "fetcher"}}},
			{App: `evil\x1b[2Jname`, RateOut: 10, BytesOut: 5, Processes: 1},
			{App: "日本語の名前" + strings.Repeat("語", 80), RateIn: 5, BytesIn: 5, Processes: 1},
		},
		Unattributed: model.Unattributed{BytesIn: 4096, BytesOut: 200, RateIn: 100, Reasons: map[model.Reason]model.UnattributedSum{
			model.ReasonNoSocket: {BytesIn: 4096}, model.ReasonKernel: {BytesOut: 200}}},
		Forwarded: model.Forwarded{Hosts: []model.ForwardedHosts{}},
	}
	for i := range n {
		s.Apps = append(s.Apps, model.AppUsage{App: fmt.Sprintf("app-%02d", i+1), RateIn: float64(1000 - i), RateOut: float64(i),
			BytesIn: uint64(10_000 + i), BytesOut: uint64(50_000 - i), Processes: 1 + i%3})
	}
	s.Apps = append(s.Apps, model.AppUsage{App: model.OtherApp, RateIn: 2048, BytesIn: 37 << 20, BytesOut: 2 << 20, Folded: 1412})
	return s
}

// fakeProcesses are python3's processes.
func fakeProcesses() []model.ProcessUsage {
	return []model.ProcessUsage{
		{PID: 4242, Name: "python3", Cmdline: "/usr/local/lib/python3.13/bin/python3 -m http.server 8080", User: model.UserRef{UID: 1000, Name: "alice"},
			Unit: "session-3.scope", RateIn: 11 << 20, RateOut: 90 << 10, BytesIn: 30 << 20, BytesOut: 1 << 20},
		{PID: 4243, Name: "python3", Cmdline: "python3 fetch.py", User: model.UserRef{UID: 1000, Name: "alice"},
			Container: "fetcher", RateIn: 1 << 20, RateOut: 10 << 10, BytesIn: 10 << 20},
		{PID: 99, Name: "python3", Cmdline: "", User: model.UserRef{UID: -1}, NetNS: "blue"},
	}
}

// harness drives a Model as Run does, recording its requests for
// processes.
type harness struct {
	t        *testing.T
	m        Model
	requests []string
	now      time.Time
}

func newHarness(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, now: t0}
	hs.m = newModel(modelOptions{title: "bwmon", request: func(app string) { hs.requests = append(hs.requests, app) },
		renderer: lipgloss.NewRenderer(io.Discard), now: t0})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// send gives the model msgs, and reports whether one made it quit.
func (hs *harness) send(msgs ...tea.Msg) (quit bool) {
	hs.t.Helper()
	for _, msg := range msgs {
		nm, cmd := hs.m.Update(msg)
		hs.m = nm.(Model)
		if cmd != nil {
			if _, ok := cmd().(tea.QuitMsg); ok {
				quit = true
			}
		}
	}
	return quit
}

// tick delivers a snapshot at the harness's clock, one second on each.
func (hs *harness) tick(s *model.Snapshot) {
	hs.t.Helper()
	hs.now = hs.now.Add(time.Second)
	hs.send(clockMsg(hs.now), snapshotMsg{s: s, at: hs.now})
}

// keys presses each key: a name bubbletea gives ("up", "enter", "esc",
// "pgdown", "ctrl+c") or text typed.
func (hs *harness) keys(ks ...string) (quit bool) {
	hs.t.Helper()
	for _, k := range ks {
		if hs.send(keyMsg(k)) {
			quit = true
		}
	}
	return quit
}

var namedKeys = map[string]tea.KeyType{
	"up": tea.KeyUp, "down": tea.KeyDown, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome,
	"end": tea.KeyEnd, "enter": tea.KeyEnter, "esc": tea.KeyEsc, "backspace": tea.KeyBackspace,
	"ctrl+c": tea.KeyCtrlC, " ": tea.KeySpace, "left": tea.KeyLeft,
}

func keyMsg(k string) tea.KeyMsg {
	if t, ok := namedKeys[k]; ok {
		return tea.KeyMsg{Type: t, Runes: []rune(strings.TrimSpace(k))[:0]}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// screen is what the model draws, checked to fit the terminal.
func (hs *harness) screen() []string {
	hs.t.Helper()
	v := hs.m.View()
	lines := strings.Split(v, "\n")
	if len(lines) > hs.m.h {
		hs.t.Fatalf("%d lines on a screen of %d:\n%s", len(lines), hs.m.h, v)
	}
	for i, l := range lines {
		if n := width(l); n > hs.m.w {
			hs.t.Fatalf("line %d is %d columns wide on a screen of %d: %q", i, n, hs.m.w, l)
		}
	}
	return lines
}

// rows are the apps or processes on screen (the lines after the column
// titles that begin with the cursor's column), their last column trimmed.
func (hs *harness) rows() []string {
	hs.t.Helper()
	var out []string
	in := false
	for _, l := range hs.screen() {
		switch {
		case strings.Contains(l, "RATE IN") || strings.Contains(l, "TOTAL IN"):
			in = true
		case in && strings.HasPrefix(l, "─ log"):
			return out
		case in && (strings.HasPrefix(l, ">") || strings.HasPrefix(l, " ")) && strings.TrimSpace(l) != "" && !strings.Contains(l, " matches "):
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return out
}

// names are the last fields of rows: the apps' names (or commands).
func (hs *harness) names() []string {
	var out []string
	for _, r := range hs.rows() {
		f := strings.Fields(r)
		out = append(out, f[len(f)-1])
	}
	return out
}

// selected is the row under the cursor.
func (hs *harness) selected() string {
	for _, r := range hs.rows() {
		if strings.HasPrefix(r, ">") {
			return r
		}
	}
	return ""
}
