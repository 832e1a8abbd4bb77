package aggregator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// fakeMonitor adds, on each Collect, the next batch of additions.
type fakeMonitor struct {
	batches [][]add
	n       int
}

type add struct {
	info    model.Info
	in, out uint64
}

func (f *fakeMonitor) Name() string              { return "fake" }
func (f *fakeMonitor) Stats() model.MonitorStats { return model.MonitorStats{} }
func (f *fakeMonitor) Close() error              { return nil }
func (f *fakeMonitor) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	if f.n < len(f.batches) {
		for _, a := range f.batches[f.n] {
			key := model.KeyApp(a.info.App)
			switch {
			case a.info.Process != nil:
				key = model.KeyProcess(a.info.Process)
			case a.info.Unattributed != "":
				key = model.KeyUnattributed(a.info.Unattributed)
			case a.info.Forwarded != nil:
				key = model.KeyForwarded(*a.info.Forwarded)
			}
			c.Add(key, a.info, a.in, a.out, now)
		}
	}
	f.n++
	return nil
}

func proc(pid int, exe, cmdline string) model.Info {
	return model.Info{Process: &model.Process{PID: pid, StartTime: 1, Exe: exe, Cmdline: cmdline}}
}

func TestGrouperApp(t *testing.T) {
	g := Grouper{
		Rules: []AppRule{
			{Name: "web", Match: []*regexp.Regexp{regexp.MustCompile(`nginx|apache`)}},
			{Name: "python-web", Match: []*regexp.Regexp{regexp.MustCompile(`gunicorn`)}},
		},
		AutoGroup: true,
	}
	tests := []struct {
		name     string
		g        Grouper
		info     model.Info
		want     string
		wantAttr bool
	}{
		{"first matching rule", g, proc(1, "/usr/sbin/nginx", "nginx: worker process"), "web", true},
		{"rule on command line, not exe", g, proc(2, "/usr/bin/python3.11", "python3 /usr/bin/gunicorn app:app"), "python-web", true},
		{"auto group by exe basename", g, proc(3, "/usr/bin/curl", "curl -o x http://a"), "curl", true},
		{"no auto group: command line", Grouper{}, proc(4, "/usr/bin/curl", "curl -o x http://a"), "curl -o x http://a", true},
		{"fixed app name", g, model.Info{App: "pipe-:8080:a:80"}, "pipe-:8080:a:80", true},
		{"unattributed", g, model.Info{Unattributed: model.ReasonNoSocket}, "", false},
		{"odd argv0 is only a string", g, model.Info{Process: &model.Process{PID: 5, Arg0: "$(touch /tmp/x)", Cmdline: "$(touch /tmp/x) 'unterminated"}}, "x)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.g.App(tt.info)
			if got != tt.want || ok != tt.wantAttr {
				t.Fatalf("App() = %q, %v; want %q, %v", got, ok, tt.want, tt.wantAttr)
			}
		})
	}
}

func TestTick(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	curl1 := proc(10, "/usr/bin/curl", "curl a")
	curl2 := proc(11, "/usr/bin/curl", "curl b")
	ssh := proc(12, "/usr/bin/ssh", "ssh host")
	m := &fakeMonitor{batches: [][]add{
		{{curl1, 1000, 100}, {curl2, 3000, 300}, {ssh, 10, 20}, {model.Info{Unattributed: model.ReasonNoSocket}, 7, 9}},
		{{curl1, 500, 0}},
		{},
	}}
	a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, Retention: 10 * time.Second}, []Monitor{m}, nil, nil, t0)

	s := a.Tick(t0.Add(2 * time.Second)) // a 2 s tick: rates are halved
	if s.IntervalS != 2 {
		t.Fatalf("IntervalS = %v, want 2", s.IntervalS)
	}
	if len(s.Apps) != 2 || s.Apps[0].App != "curl" || s.Apps[1].App != "ssh" {
		t.Fatalf("apps = %+v, want curl then ssh", s.Apps)
	}
	c := s.Apps[0]
	if c.BytesIn != 4000 || c.BytesOut != 400 || c.RateIn != 2000 || c.RateOut != 200 {
		t.Fatalf("curl = %+v, want 4000/400 bytes at 2000/200 B/s", c)
	}
	if len(c.PIDs) != 2 || c.PIDs[0] != 10 || c.PIDs[1] != 11 {
		t.Fatalf("curl pids = %v, want [10 11]", c.PIDs)
	}
	u := s.Unattributed
	if u.BytesIn != 7 || u.BytesOut != 9 || u.Reasons[model.ReasonNoSocket] != (model.UnattributedSum{BytesIn: 7, BytesOut: 9}) {
		t.Fatalf("unattributed = %+v", u)
	}

	s = a.Tick(t0.Add(3 * time.Second))
	if got := s.Apps[0]; got.App != "curl" || got.BytesIn != 4500 || got.RateIn != 500 {
		t.Fatalf("second tick curl = %+v, want 4500 total, 500 B/s", got)
	}
	if got := s.Apps[1]; got.App != "ssh" || got.RateIn != 0 || got.BytesIn != 10 {
		t.Fatalf("second tick ssh = %+v, want idle with its total kept", got)
	}

	// Long after retention the entries are gone, the totals are not (both
	// apps are within the active window; TestFoldRules covers what is not).
	s = a.Tick(t0.Add(60 * time.Second))
	if len(s.Apps) != 2 || s.Apps[0].BytesIn+s.Apps[1].BytesIn != 4510 {
		t.Fatalf("after expiry apps = %+v, want both kept with totals", s.Apps)
	}
	if len(s.Apps[0].PIDs) != 0 || s.Agent.Entries != 0 {
		t.Fatalf("after expiry pids = %v entries = %d, want none", s.Apps[0].PIDs, s.Agent.Entries)
	}
}

func TestTickFeedsConsumers(t *testing.T) {
	t0 := time.Unix(0, 0)
	var got []*model.Snapshot
	a := New(Config{}, nil, []Consumer{ConsumerFunc(func(s *model.Snapshot) { got = append(got, s) })}, nil, t0)
	a.Tick(t0.Add(time.Second))
	a.Tick(t0.Add(2 * time.Second))
	if len(got) != 2 || got[1].IntervalS != 1 || got[1].Apps == nil {
		t.Fatalf("consumer got %d snapshots (%+v), want 2 with 1 s intervals and non-nil apps", len(got), got)
	}
}

func TestRestore(t *testing.T) {
	t0 := time.Unix(2_000_000, 0)
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &fakeMonitor{batches: [][]add{
		{{proc(10, "/usr/bin/curl", "curl a"), 500, 50}, {model.Info{Unattributed: model.ReasonNoSocket}, 7, 0}},
	}}
	a := New(Config{Grouper: Grouper{AutoGroup: true}}, []Monitor{m}, nil, nil, t0)
	if s := a.Tick(t0.Add(time.Second)); !s.Since.Equal(t0) {
		t.Fatalf("without Restore, Since = %v, want the start %v", s.Since, t0)
	}
	// A second aggregator, as after a restart.
	m.n = 0
	a = New(Config{Grouper: Grouper{AutoGroup: true}}, []Monitor{m}, nil, nil, t0)
	a.Restore(
		map[string]model.Totals{"curl": {In: 1000, Out: 100}, "gone": {In: 3, Out: 4}},
		map[model.Reason]model.UnattributedSum{model.ReasonNoSocket: {BytesIn: 1, BytesOut: 2}},
		since)
	s := a.Tick(t0.Add(time.Second))
	if !s.Since.Equal(since) {
		t.Fatalf("Since = %v, want the restored %v", s.Since, since)
	}
	got := map[string]model.AppUsage{}
	for _, u := range s.Apps {
		got[u.App] = u
	}
	if c := got["curl"]; c.BytesIn != 1500 || c.BytesOut != 150 || c.RateIn != 500 {
		t.Fatalf("curl = %+v, want 1500/150 bytes (restored + counted) at 500 B/s", c)
	}
	if g, ok := got["gone"]; !ok || g.BytesIn != 3 || g.BytesOut != 4 {
		t.Fatalf("gone = %+v (%v), want the restored 3/4 kept", g, ok)
	}
	if u := s.Unattributed; u.BytesIn != 8 || u.BytesOut != 2 || u.Reasons[model.ReasonNoSocket] != (model.UnattributedSum{BytesIn: 8, BytesOut: 2}) {
		t.Fatalf("unattributed = %+v, want 8/2 in no_socket", u)
	}
}

// hostile are names any local user can give a process, a container or a
// unit: invalid UTF-8, a C1 escape introducer, a bidi override, a terminal
// escape sequence, 4 KB.
var hostile = []string{"x\xffy", "a\u009b31mb", "gpj.\u202eexe", "evil\x1b[2Jname", strings.Repeat("long", 1024)}

// checkClean fails unless s is what safename.Clean makes.
func checkClean(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) || len(s) > safename.MaxLen || safename.Clean(s) != s || strings.ContainsAny(s, "\x1b\u009b\u202e") {
		t.Errorf("%s %q is not clean", what, s)
	}
}

func TestGrouperCleansNames(t *testing.T) {
	long := strings.Repeat("long", 1024)
	rules := []AppRule{{Name: "rule\u202e", Match: []*regexp.Regexp{regexp.MustCompile(`^ruled `)}}}
	ctr := &model.Identity{UID: 1000, User: "eve\x1b]0;x\a", Unit: "u\u009b.service", Container: model.Container{Runtime: "podman", ID: "0123456789abcdef", Name: "c\xff"}}
	tests := []struct {
		name string
		g    Grouper
		info model.Info
		want string
	}{
		{"invalid UTF-8 executable", Grouper{AutoGroup: true}, proc(1, "/tmp/x\xffy", "x"), `x\xffy`},
		{"C1 in the executable", Grouper{AutoGroup: true}, proc(1, "/tmp/a\u009b31mb", "x"), `a\u009b31mb`},
		{"bidi override", Grouper{AutoGroup: true}, proc(1, "/tmp/gpj.\u202eexe", "x"), `gpj.\u202eexe`},
		{"terminal escape", Grouper{AutoGroup: true}, proc(1, "/tmp/evil\x1b[2Jname", "x"), `evil\x1b[2Jname`},
		{"4 KB executable", Grouper{AutoGroup: true}, proc(1, "/tmp/"+long, "x"), safename.Clean(long)},
		{"4 KB command line", Grouper{}, proc(1, "/bin/sh", long+"\x1b"), safename.Clean(long)},
		{"command line with controls", Grouper{}, proc(1, "/bin/sh", "sh -c 'a\nb'"), `sh -c 'a\x0ab'`},
		{"rule name", Grouper{Rules: rules}, proc(1, "/bin/x", "ruled x"), `rule\u202e`},
		{"pipe name", Grouper{}, model.Info{App: "pipe\x1b[31m"}, `pipe\x1b[31m`},
		{"container name", Grouper{By: GroupByContainer}, procIn(1, "/bin/x", ctr), `c\xff`},
		{"unit name", Grouper{By: GroupByUnit}, procIn(1, "/bin/x", ctr), `u\u009b.service`},
		{"user name", Grouper{By: GroupByUser}, procIn(1, "/bin/x", ctr), `eve\x1b]0;x\x07`},
		{"a process named (other)", Grouper{AutoGroup: true}, proc(1, "/tmp/"+model.OtherApp, "x"), OtherLookalike},
		{"a command line (other)", Grouper{}, proc(1, "/tmp/x", model.OtherApp), OtherLookalike},
		{"clean names are kept", Grouper{AutoGroup: true}, proc(1, "/usr/bin/python3 früh", "x"), "python3 früh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.g.App(tt.info)
			if got != tt.want || !ok {
				t.Fatalf("App() = %q, %v; want %q, true", got, ok, tt.want)
			}
			checkClean(t, "app", got)
		})
	}
}

// TestGrouperCleanNameCostsNothing: on the hot path (a new entry), a clean
// name costs no allocation.
func TestGrouperCleanNameCostsNothing(t *testing.T) {
	g := Grouper{AutoGroup: true}
	info := proc(1, "/usr/bin/curl", "curl -o x http://a")
	if n := testing.AllocsPerRun(100, func() { g.App(info) }); n != 0 {
		t.Fatalf("Grouper.App allocates %v times for a clean name, want 0", n)
	}
}

// TestTickCleansAndBoundsLists: hostile names in every list of a line come
// out clean, each list holds its first model.MaxListed entries, and
// Processes counts every live process.
func TestTickCleansAndBoundsLists(t *testing.T) {
	const n = 100
	var batch []add
	for i := range n {
		h := hostile[i%len(hostile)] + fmt.Sprintf("-%03d", i)
		info := procIn(1000+i, "/usr/bin/worker", &model.Identity{UID: i, User: h, Unit: h + ".service", Cgroup: "/" + h,
			Container: model.Container{Runtime: h, ID: h, Name: h, PodUID: h}})
		info.Process.NetNS = h
		batch = append(batch, add{info, 1, 1})
	}
	for i, h := range hostile { // hostile app names beside
		batch = append(batch, add{proc(5000+i, "/tmp/"+h, h), 1, 1})
	}
	t0 := time.Unix(1_000_000, 0)
	a := New(Config{Grouper: Grouper{AutoGroup: true}}, []Monitor{&fakeMonitor{batches: [][]add{batch}}}, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	if len(s.Apps) != 1+len(hostile) {
		t.Fatalf("%d apps, want %d", len(s.Apps), 1+len(hostile))
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(`\u001b`)) || !utf8.Valid(js) || bytes.ContainsAny(js, "\u009b\u202e") {
		t.Fatalf("the JSON of the tick carries a raw control: %s", js)
	}
	for _, u := range s.Apps {
		checkClean(t, "app", u.App)
		for _, r := range u.Users {
			checkClean(t, "user", r.Name)
		}
		for _, c := range u.Containers {
			for _, f := range []string{c.Runtime, c.ID, c.Name, c.PodUID} {
				checkClean(t, "container field", f)
			}
		}
		for _, l := range [][]string{u.Units, u.Cgroups, u.NetNS} {
			for _, x := range l {
				checkClean(t, "list entry", x)
			}
		}
	}
	w := byName(s)["worker"]
	if w.Processes != n || len(w.PIDs) != model.MaxListed || w.PIDs[0] != 1000 || w.PIDs[model.MaxListed-1] != 1000+model.MaxListed-1 {
		t.Fatalf("worker: %d processes, pids %v; want %d and the first %d", w.Processes, w.PIDs, n, model.MaxListed)
	}
	sizes := map[string][]int{}
	for _, r := range w.Users {
		sizes["users"] = append(sizes["users"], len(r.Name)+8)
	}
	for _, c := range w.Containers {
		sizes["containers"] = append(sizes["containers"], len(c.Runtime)+len(c.ID)+len(c.Name)+len(c.PodUID))
	}
	for name, l := range map[string][]string{"units": w.Units, "cgroups": w.Cgroups, "netns": w.NetNS} {
		for _, x := range l {
			sizes[name] = append(sizes[name], len(x))
		}
	}
	for name, sz := range sizes {
		sum := 0
		for _, n := range sz {
			sum += n
		}
		if len(sz) == 0 || len(sz) > model.MaxListed || (len(sz) > 1 && sum > model.MaxListedBytes) {
			t.Errorf("worker lists %d %s of %d bytes, want 1 to %d within %d bytes", len(sz), name, sum, model.MaxListed, model.MaxListedBytes)
		}
	}
	if !slices.IsSorted(w.Units) || w.Users[0].UID != 0 {
		t.Errorf("worker's lists are not the first in order: units %q users %v", w.Units, w.Users)
	}
	// The lists are the first of the names made clean, in order, as many
	// as fit the budget.
	var cgroups []string
	for i := range n {
		cgroups = append(cgroups, safename.Clean("/"+hostile[i%len(hostile)]+fmt.Sprintf("-%03d", i)))
	}
	slices.Sort(cgroups)
	cgroups = slices.Compact(cgroups) // the 4 KB names are cut to the same
	want, used := []string{}, 0
	for _, c := range cgroups[:model.MaxListed] {
		if used += len(c); used > model.MaxListedBytes && len(want) > 0 {
			break
		}
		want = append(want, c)
	}
	if !slices.Equal(w.Cgroups, want) {
		t.Errorf("cgroups %q, want %q", w.Cgroups, want)
	}
	// Plain names fill a list up to MaxListed.
	plain := []add{}
	for i := range 40 {
		plain = append(plain, add{procIn(7000+i, "/usr/bin/plain", &model.Identity{UID: i, Unit: fmt.Sprintf("u%02d.service", i)}), 1, 1})
	}
	b := New(Config{Grouper: Grouper{AutoGroup: true}}, []Monitor{&fakeMonitor{batches: [][]add{plain}}}, nil, nil, t0)
	if p := byName(b.Tick(t0.Add(time.Second)))["plain"]; len(p.Units) != model.MaxListed || len(p.Users) != model.MaxListed {
		t.Errorf("plain: %d units, %d users; want %d each", len(p.Units), len(p.Users), model.MaxListed)
	}
}

// FuzzGrouperApp: whatever a process calls itself, its app name is clean,
// bounded, and never the fold line's.
func FuzzGrouperApp(f *testing.F) {
	f.Add("/usr/bin/curl", "curl -o x http://a", true)
	f.Add("/tmp/x\xffy", "a\u009b31mb \u202e", false)
	f.Add("", model.OtherApp, false)
	f.Add("/tmp/"+model.OtherApp, "", true)
	f.Fuzz(func(t *testing.T, exe, cmdline string, auto bool) {
		g := Grouper{AutoGroup: auto}
		app, ok := g.App(proc(1, exe, cmdline))
		if !ok {
			t.Fatal("a process got no app")
		}
		if app == model.OtherApp || !utf8.ValidString(app) || len(app) > safename.MaxLen || safename.Clean(app) != app {
			t.Fatalf("App(%q, %q) = %q: not a clean app name", exe, cmdline, app)
		}
	})
}

// ConsumerFunc adapts a function to a Consumer.
type ConsumerFunc func(s *model.Snapshot)

// Consume calls f(s).
func (f ConsumerFunc) Consume(s *model.Snapshot) { f(s) }
