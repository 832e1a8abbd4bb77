package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/bwmon/bwmon/model"
)

// TestScreenFits draws every view at many sizes, with hostile and wide
// names, a long log and a hundred apps: never more lines than the screen,
// never a line wider, never a control character.
func TestScreenFits(t *testing.T) {
	sizes := [][2]int{{80, 24}, {200, 50}, {50, 8}, {20, 5}, {1, 1}, {10, 2}, {300, 80}, {40, 3}, {120, 30}, {66, 15}}
	views := []struct {
		name string
		keys []string
	}{
		{"apps", nil},
		{"processes", []string{"enter"}},
		{"filter typed", []string{"/", "p", "y"}},
		{"help", []string{"?"}},
		{"paused, bits, totals, larger log", []string{"p", "b", "t", "l"}},
		{"the end", []string{"end"}},
	}
	for _, sz := range sizes {
		for _, v := range views {
			t.Run(fmt.Sprintf("%dx%d %s", sz[0], sz[1], v.name), func(t *testing.T) {
				hs := newHarness(t, sz[0], sz[1])
				hs.send(logMsg{
					`time=2026-11-22T10:00:00.000+01:00 level=INFO msg="serving the web page, API and metrics" component=http url=http://127.0.0.1:8000/ token=false`,
					"level=WARN msg=" + strings.Repeat("long ", 300),
					"2026-11-22 10:00:01: 日本語 exceeding 'in' bandwidth limit 1.00 MB/s: 12.00 MB/s (1200.0 %)",
				})
				hs.tick(fakeSnapshot(t0, 100))
				hs.keys(v.keys...)
				hs.send(processesMsg{app: "python3", procs: fakeProcesses()})
				for _, l := range hs.screen() {
					for _, r := range l {
						if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
							t.Fatalf("the screen carries %U: %q", r, l)
						}
					}
				}
			})
		}
	}
}

// TestHeader: the header says when, the interval, the totals, the
// unattributed share and the apps folded into (other), at 80×24 and
// 200×50; the busiest app is the first row, under the cursor.
func TestHeader(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			hs := newHarness(t, sz[0], sz[1])
			hs.tick(fakeSnapshot(t0, 30))
			lines := hs.screen()
			head := strings.Join(lines[:2], "\n")
			for _, want := range []string{"bwmon " + t0.Format("15:04:05"), "interval 1.00s", "in 13.0 MiB/s", "out 400 KiB/s",
				"total in 977 MiB", "unattributed <0.1%", "(other): 1412 apps folded"} {
				if !strings.Contains(head, want) {
					t.Errorf("the header lacks %q:\n%s", want, head)
				}
			}
			if got := hs.selected(); !strings.HasSuffix(got, " python3") {
				t.Errorf("the row under the cursor is %q, want the busiest, python3", got)
			}
			if len(lines) != sz[1] {
				t.Errorf("%d lines, want the whole screen, %d", len(lines), sz[1])
			}
			hs.send(logMsg{"one line"}) // fewer than the log area holds
			if lines := hs.screen(); len(lines) != sz[1] || !strings.HasPrefix(lines[sz[1]-1], "q quit") || lines[sz[1]-2] != "one line" {
				t.Errorf("with one log line, the bottom of the screen is %q, want it, then the keys", lines[len(lines)-2:])
			}
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "q quit") {
				t.Errorf("the last line is %q, want the keys", last)
			}
		})
	}
}

func TestColumnsFollowWidth(t *testing.T) {
	tests := []struct {
		name        string
		w           int
		keys        []string
		want, never []string
	}{
		{"wide: all", 200, nil, []string{"RATE IN", "TOTAL OUT", "PROCS", "USERS", "WHERE", "alice", "fetcher", "session-3.scope"}, nil},
		{"80", 80, nil, []string{"RATE IN", "RATE OUT", "TOTAL IN", "TOTAL OUT", "PROCS"}, []string{"USERS"}},
		{"narrow: the rates", 45, nil, []string{"RATE IN", "RATE OUT"}, []string{"TOTAL IN", "PROCS"}},
		{"narrow, t: the totals", 45, []string{"t"}, []string{"TOTAL IN", "TOTAL OUT"}, []string{"RATE IN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.w, 24)
			hs.tick(fakeSnapshot(t0, 3))
			hs.keys(tt.keys...)
			s := strings.Join(hs.screen(), "\n")
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("no %q on screen:\n%s", w, s)
				}
			}
			for _, w := range tt.never {
				if strings.Contains(s, w) {
					t.Errorf("%q on screen:\n%s", w, s)
				}
			}
		})
	}
}

// TestSort: each key sorts by its column, again reverses; (other) stays
// last, and the pinned lines after it.
func TestSort(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		first []string
		arrow string // in the titles
	}{
		{"busiest", nil, []string{"python3", "curl", "app-01"}, ""},
		{"totals: the largest", []string{"t"}, []string{"curl", "python3", "app-01"}, ""},
		{"rate in", []string{"1"}, []string{"python3", "curl", "app-01"}, "RATE IN▼"},
		{"rate out", []string{"2"}, []string{"curl", "python3", "evil\\x1b[2Jname"}, "RATE OUT▼"},
		{"total in", []string{"3"}, []string{"curl", "python3", "app-03"}, "TOTAL IN▼"},
		{"total out", []string{"4"}, []string{"curl", "python3", "app-01"}, "TOTAL OUT▼"},
		{"processes", []string{"5"}, []string{"app-03", "python3", "app-02"}, "PROCS▼"},
		{"name", []string{"6"}, []string{"app-01", "app-02", "app-03"}, "APP▲"},
		{"name again: reversed", []string{"6", "6"}, []string{"日本語の名前語語語", "python3", "evil\\x1b[2Jname"}, "APP▼"},
		{"r reverses", []string{"1", "r"}, []string{"evil\\x1b[2Jname", "日本語の名前語語語", "app-03"}, "RATE IN▲"},
		{"> from busiest: rate in", []string{">"}, []string{"python3", "curl", "app-01"}, "RATE IN▼"},
		{"< from busiest: name", []string{"<"}, []string{"app-01", "app-02", "app-03"}, "APP▲"},
		{"0: busiest again", []string{"6", "0"}, []string{"python3", "curl", "app-01"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, 200, 40)
			hs.tick(fakeSnapshot(t0, 3))
			hs.keys(tt.keys...)
			names := hs.names()
			var got []string
			for _, n := range names[:3] {
				got = append(got, strings.TrimSuffix(n, "…"))
			}
			for i := range got {
				if !strings.HasPrefix(tt.first[i], got[i]) && !strings.HasPrefix(got[i], tt.first[i]) {
					t.Fatalf("first rows %q, want %q", got, tt.first)
				}
			}
			rows := hs.rows()
			if !strings.Contains(rows[len(rows)-2], "(other: 1412 apps)") || !strings.Contains(rows[len(rows)-1], "(unattributed: no_socket 4.00 KiB, kernel 200 B)") {
				t.Errorf("the last rows are %q, want (other), then the unattributed line", rows[len(rows)-2:])
			}
			screen := strings.Join(hs.screen(), "\n")
			if tt.arrow != "" && !strings.Contains(screen, tt.arrow) {
				t.Errorf("no %q in the titles:\n%s", tt.arrow, screen)
			}
			if tt.arrow == "" && strings.ContainsAny(screen, "▲▼") && !strings.Contains(screen, "sort ") {
				t.Errorf("a column is marked while sorting by the busiest:\n%s", screen)
			}
		})
	}
}

// TestFilter: / filters the apps by name as it is typed, case aside; q is
// text then; enter keeps the filter, esc clears it.
func TestFilter(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 30))
	if hs.keys("/", "P", "y", "q") {
		t.Fatal("q typed into the filter quit")
	}
	if got := hs.names(); len(got) != 0 {
		t.Fatalf("filter pyq shows %q, want nothing", got)
	}
	screen := strings.Join(hs.screen(), "\n")
	if !strings.Contains(screen, `no app matches "Pyq"`) || !strings.Contains(screen, "filter: Pyq█") {
		t.Fatalf("the screen does not say what is filtered:\n%s", screen)
	}
	hs.keys("backspace", "enter")
	if got := hs.names(); !slices.Equal(got, []string{"python3"}) {
		t.Fatalf("filter Py shows %q, want python3 only (not the pinned lines)", got)
	}
	if last := hs.screen()[23]; !strings.HasPrefix(last, `filter "Py": 1 of 35`) {
		t.Fatalf("footer %q, want it to say the filter", last)
	}
	hs.tick(fakeSnapshot(t0.Add(time.Second), 30))
	if got := hs.names(); !slices.Equal(got, []string{"python3"}) {
		t.Fatalf("after a tick, filter Py shows %q", got)
	}
	hs.keys("/", "esc")
	if got := hs.names(); len(got) < 15 {
		t.Fatalf("after esc, %d rows: %q", len(got), got)
	}
	hs.keys("/", "a", "p", "p", "-", "2", "enter", "esc")
	if got := hs.names(); len(got) < 15 {
		t.Fatalf("esc after the filter was kept does not clear it: %q", got)
	}
	hs.keys("/", "\x1b[2J\u202e", "enter")
	if s := strings.Join(hs.screen(), ""); strings.ContainsRune(s, '\x1b') || strings.ContainsRune(s, '\u202e') {
		t.Fatalf("a pasted control reached the screen: %q", s)
	}
}

// TestExpand: enter expands the app under the cursor into its processes,
// asked for again each tick; esc goes back, the cursor on the same app.
func TestExpand(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			hs := newHarness(t, sz[0], sz[1])
			hs.tick(fakeSnapshot(t0, 30))
			hs.keys("6") // by name: python3 is further down
			for range 40 {
				if strings.HasSuffix(hs.selected(), " python3") {
					break
				}
				hs.keys("j")
			}
			hs.keys("enter", "0")
			if !slices.Equal(hs.requests, []string{"python3"}) {
				t.Fatalf("requests %q, want python3's processes", hs.requests)
			}
			if s := strings.Join(hs.screen(), "\n"); !strings.Contains(s, "▸ python3  loading") {
				t.Fatalf("no loading line:\n%s", s)
			}
			hs.send(processesMsg{app: "python3", procs: fakeProcesses()})
			screen := strings.Join(hs.screen(), "\n")
			want := []string{"▸ python3  3 processes", "PID", "USER", "COMMAND", " 4242 alice", " 4243 alice", "python3 -m http.server", "   99 ?", "[python3]"}
			if sz[0] >= 200 {
				want = append(want, "/usr/local/lib/python3.13/bin/python3 -m http.server 8080")
			}
			if sz[0] >= 80 {
				want = append(want, "WHERE", "session-3", "fetcher", "blue")
			}
			for _, w := range want {
				if !strings.Contains(screen, w) {
					t.Errorf("no %q in the processes view:\n%s", w, screen)
				}
			}
			if got := hs.selected(); !strings.HasPrefix(got, ">   4242") {
				t.Errorf("cursor on %q, want the busiest process", got)
			}
			hs.tick(fakeSnapshot(t0.Add(time.Second), 30))
			if len(hs.requests) != 2 {
				t.Errorf("requests after a tick %q, want python3's again", hs.requests)
			}
			hs.keys("/", "4", "2", "4", "3", "enter")
			if rows := hs.rows(); len(rows) != 1 || !strings.Contains(rows[0], "4243") {
				t.Errorf("filter 4243 in the processes: %q", rows)
			}
			hs.send(processesMsg{app: "curl", procs: nil}) // a late answer for another app
			if rows := hs.rows(); len(rows) != 1 {
				t.Errorf("an answer for curl changed python3's view: %q", rows)
			}
			hs.keys("esc")
			if got := hs.selected(); !strings.HasSuffix(got, " python3") {
				t.Errorf("back from the processes, the cursor is on %q, want python3", got)
			}
			hs.keys("enter")
			hs.send(processesMsg{app: "python3", err: errors.New("the agent does not list processes")})
			if s := strings.Join(hs.screen(), "\n"); !strings.Contains(s, "cannot list its processes: the agent does not list processes") {
				t.Errorf("an error is not said:\n%s", s)
			}
		})
	}
}

// TestCursorFollowsApp: as the rows move tick by tick, the cursor stays on
// its app, and on screen; when the app goes, on its row.
func TestCursorFollowsApp(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 60))
	hs.keys("j", "j", "j") // python3, curl, app-01, app-02
	if got := hs.selected(); !strings.HasSuffix(got, " app-02") {
		t.Fatalf("cursor on %q, want app-02", got)
	}
	s := fakeSnapshot(t0.Add(time.Second), 60)
	for i := range s.Apps {
		if s.Apps[i].App == "app-02" {
			s.Apps[i].RateIn = 1 // now near the end
		}
	}
	hs.tick(s)
	if got := hs.selected(); !strings.HasSuffix(got, " app-02") {
		t.Fatalf("after app-02 slowed down, the cursor is on %q", got)
	}
	s = fakeSnapshot(t0.Add(2*time.Second), 60)
	s.Apps = slices.DeleteFunc(s.Apps, func(a model.AppUsage) bool { return a.App == "app-02" })
	hs.tick(s)
	if got := hs.selected(); got == "" {
		t.Fatal("after app-02 went away, no row is under the cursor")
	}
}

// TestScroll: the cursor moves by row, page and to either end, and the
// rows scroll to keep it on screen.
func TestScroll(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 100))
	body := hs.m.layout().body
	var seq []string // python3, curl, the app-NN (of one rate) by name, …, (other)
	for _, a := range appRows(hs.m.snap, order{}) {
		seq = append(seq, a.App)
	}
	tests := []struct {
		keys []string
		want string
	}{
		{[]string{"end"}, "(other: 1412 apps)"},
		{[]string{"home"}, "python3"},
		{[]string{"pgdown"}, seq[body]},
		{[]string{"pgdown", "pgdown", "up"}, seq[2*body-1]},
		{[]string{"pgdown", "pgup"}, "python3"},
		{[]string{"down", "down", "up"}, "curl"},
		{[]string{"G", "k"}, "日本語の名前語語語語語語…"},
		{[]string{"g"}, "python3"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, " "), func(t *testing.T) {
			hs.keys("home")
			hs.keys(tt.keys...)
			if got := hs.selected(); !strings.HasSuffix(got, " "+tt.want) {
				t.Errorf("cursor on %q, want %s", got, tt.want)
			}
			if n := len(hs.rows()); n != body {
				t.Errorf("%d rows on screen, want %d", n, body)
			}
		})
	}
}

func TestPause(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 3))
	hs.keys(" ")
	hs.tick(fakeSnapshot(t0.Add(time.Second), 3))
	hs.tick(fakeSnapshot(t0.Add(2*time.Second), 3))
	head := strings.Join(hs.screen()[:2], "\n")
	if !strings.Contains(head, t0.Format("15:04:05")) || !strings.Contains(head, "PAUSED, 2 ticks held") {
		t.Fatalf("paused, the header is:\n%s", head)
	}
	hs.keys("p")
	head = strings.Join(hs.screen()[:2], "\n")
	if !strings.Contains(head, t0.Add(2*time.Second).Format("15:04:05")) || strings.Contains(head, "PAUSED") {
		t.Fatalf("resumed, the header is:\n%s", head)
	}
}

func TestBits(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 3))
	hs.keys("b")
	s := strings.Join(hs.screen(), "\n")
	if !strings.Contains(s, "in 109 Mbit/s") || !strings.Contains(hs.selected(), "101 Mbit/s") {
		t.Fatalf("b does not show bits:\n%s", s)
	}
	if !strings.Contains(hs.selected(), "40.0 MiB") {
		t.Fatalf("b changed the totals: %q", hs.selected())
	}
	hs.keys("b")
	if !strings.Contains(hs.selected(), "12.0 MiB/s") {
		t.Fatalf("b again does not show bytes: %q", hs.selected())
	}
}

// TestStatus: the header says when the source is gone, counting down to
// the next attempt, and when no tick came for a while.
func TestStatus(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 3))
	hs.send(statusMsg{Down: true, Text: "agent gone: dial tcp 127.0.0.1:8000: connection refused", Retry: hs.now.Add(4 * time.Second)})
	hs.send(clockMsg(hs.now.Add(time.Second)))
	head := strings.Join(hs.screen()[:2], "\n")
	if !strings.Contains(head, "agent gone: dial tcp 127.0.0.1:8000: connection refused, retrying in 3s") {
		t.Fatalf("the header does not say the agent is gone:\n%s", head)
	}
	hs.send(statusMsg{}, clockMsg(hs.now.Add(10*time.Second)))
	head = strings.Join(hs.screen()[:2], "\n")
	if !strings.Contains(head, "no tick for 10s") {
		t.Fatalf("the header does not say the ticks stopped:\n%s", head)
	}
}

// TestLogArea: the log area shows the latest lines at the bottom, wrapped
// so that a URL stays whole; l makes it larger.
func TestLogArea(t *testing.T) {
	url := "url=http://127.0.0.1:8000/"
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 30))
	hs.send(logMsg{"old line", `time=2026-11-22T10:00:00.000+01:00 level=INFO msg="serving the web page, API and metrics" component=http ` + url + ` token=false`})
	lines := hs.screen()
	area := strings.Join(lines[len(lines)-5:len(lines)-1], "")
	stamp := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC).Local().Format("15:04:05") // 10:00 at +01:00
	if !strings.Contains(area, url) || !strings.Contains(area, stamp+" level=INFO") || !strings.Contains(strings.Join(lines, "\n"), "─ log") {
		t.Fatalf("the URL is not whole in the log area:\n%s", strings.Join(lines, "\n"))
	}
	small := hs.m.layout().logRows
	hs.keys("l")
	if big := hs.m.layout().logRows; big <= small {
		t.Fatalf("l: %d log rows, was %d", big, small)
	}
}

// TestKeysTogether: keys read together come as one message of runes; each
// counts, and after "/" the rest is the filter.
func TestKeysTogether(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.tick(fakeSnapshot(t0, 30))
	hs.keys("jj")
	if got := hs.selected(); !strings.HasSuffix(got, " app-01") {
		t.Fatalf("jj: cursor on %q, want app-01", got)
	}
	hs.keys("6/pyq")
	if got := hs.names(); len(got) != 0 || !hs.m.editing || hs.m.filter != "pyq" {
		t.Fatalf("6/pyq: rows %q, filter %q (editing %v), want the filter pyq", got, hs.m.filter, hs.m.editing)
	}
	hs.keys("esc")
	if !hs.keys("xq") {
		t.Fatal("xq does not quit")
	}
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		hs := newHarness(t, 80, 24)
		if !hs.keys(k) {
			t.Errorf("%s does not quit", k)
		}
	}
	hs := newHarness(t, 80, 24)
	hs.keys("?")
	if s := strings.Join(hs.screen(), "\n"); !strings.Contains(s, "sort by the previous, next column") {
		t.Fatalf("? shows no help:\n%s", s)
	}
	if hs.keys("x"); strings.Contains(strings.Join(hs.screen(), "\n"), "previous, next column") {
		t.Fatal("a key does not close the help")
	}
}
