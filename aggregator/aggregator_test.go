package aggregator

import (
	"regexp"
	"testing"
	"time"

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

	// Long after retention the entries are gone, the totals are not.
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
		map[string]Totals{"curl": {In: 1000, Out: 100}, "gone": {In: 3, Out: 4}},
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
