package aggregator

import (
	"reflect"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// classMonitor adds, on each Collect, the next batch of classified
// additions.
type classMonitor struct {
	fakeMonitor
	batches [][]classAdd
}

type classAdd struct {
	info    model.Info
	in, out uint64
	class   model.Class
}

func (f *classMonitor) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	if f.n < len(f.batches) {
		for _, a := range f.batches[f.n] {
			c.AddClass(model.KeyProcess(a.info.Process), a.info, a.class, a.in, a.out, now)
		}
	}
	f.n++
	return nil
}

// TestClasses checks that each app's line splits its bytes by class, with
// rates, names from Config.ClassNames, and that a folded app's classes
// join OtherApp's.
func TestClasses(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	curl := proc(10, "/usr/bin/curl", "curl a")
	curl2 := proc(11, "/usr/bin/curl", "curl b")
	ssh := proc(12, "/usr/bin/ssh", "ssh host")
	m := &classMonitor{batches: [][]classAdd{
		{{curl, 1000, 100, 1}, {curl, 10, 1, 3}, {curl2, 5, 5, 1}, {ssh, 7, 7, 0}},
		{{curl, 500, 50, 1}},
		{{ssh, 1, 1, 2}},
	}}
	names := []string{"", "lab", "local", "internet"}
	a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, ClassNames: names,
		Limits: model.Limits{Apps: 1, TopApps: 1}}, []Monitor{m}, nil, nil, t0)

	s := a.Tick(t0.Add(2 * time.Second))
	want := map[string]model.AppClass{
		"lab":      {BytesIn: 1005, BytesOut: 105, RateIn: 502.5, RateOut: 52.5},
		"internet": {BytesIn: 10, BytesOut: 1, RateIn: 5, RateOut: 0.5},
	}
	if got := s.Apps[0]; got.App != "curl" || !reflect.DeepEqual(got.Classes, want) {
		t.Fatalf("first tick: %s %+v, want curl %+v", got.App, got.Classes, want)
	}
	if got := s.Apps[1]; got.App != model.OtherApp || got.Classes != nil {
		t.Fatalf("ssh folded with bytes of no class: %+v", got)
	}
	s = a.Tick(t0.Add(3 * time.Second))
	want = map[string]model.AppClass{
		"lab":      {BytesIn: 1505, BytesOut: 155, RateIn: 500, RateOut: 50},
		"internet": {BytesIn: 10, BytesOut: 1},
	}
	if got := s.Apps[0]; !reflect.DeepEqual(got.Classes, want) {
		t.Fatalf("second tick: %+v, want %+v", got.Classes, want)
	}
	// ssh comes back and is folded again: its class joins OtherApp's.
	s = a.Tick(t0.Add(4 * time.Second))
	o := s.Apps[len(s.Apps)-1]
	if o.App != model.OtherApp || !reflect.DeepEqual(o.Classes, map[string]model.AppClass{"local": {BytesIn: 1, BytesOut: 1, RateIn: 1, RateOut: 1}}) {
		t.Fatalf("other: %+v", o)
	}
}

func TestRestoreClasses(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	curl := proc(10, "/usr/bin/curl", "curl a")
	m := &classMonitor{batches: [][]classAdd{{{curl, 10, 1, 1}}}}
	a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, ClassNames: []string{"", "lab", "internet"}}, []Monitor{m}, nil, nil, t0)
	a.Restore(map[string]model.Totals{"curl": {In: 1000, Out: 100}, model.OtherApp: {In: 5, Out: 5}}, nil, t0)
	a.RestoreClasses(map[string]map[string]model.Totals{
		"curl":         {"lab": {In: 600, Out: 60}, "gone": {In: 1, Out: 1}},
		model.OtherApp: {"internet": {In: 5, Out: 5}},
		"nobody":       {"lab": {In: 9, Out: 9}},
	})
	s := a.Tick(t0.Add(time.Second))
	if got := s.Apps[0].Classes; !reflect.DeepEqual(got, map[string]model.AppClass{"lab": {BytesIn: 610, BytesOut: 61, RateIn: 10, RateOut: 1}}) {
		t.Fatalf("curl classes %+v", got)
	}
	if got := s.Apps[1]; got.App != model.OtherApp || got.Classes["internet"].BytesIn != 5 {
		t.Fatalf("other %+v", got)
	}
}
