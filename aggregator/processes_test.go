package aggregator

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// TestProcesses: an app's live processes, busiest first, with their rates
// over the last tick, bytes since first seen, where they run, and clean
// strings; the processes of folded apps under model.OtherApp; nil for an
// app that is not listed.
func TestProcesses(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	web1 := procIn(100, "/usr/sbin/nginx", webID)
	web1.Process.Cmdline = "nginx: worker \x1b[2J"
	web2 := procIn(101, "/usr/sbin/nginx", webID)
	mon := &fakeMonitor{batches: [][]add{
		{{web1, 1000, 100}, {web2, 10, 10}, {proc(200, "/usr/bin/curl", "curl x"), 5, 5}},
		{{web1, 500, 0}, {web2, 4000, 0}},
	}}
	a := New(Config{Grouper: Grouper{AutoGroup: true}, Limits: model.Limits{Apps: 1, TopApps: 1}},
		[]Monitor{mon}, nil, nil, t0)
	a.Tick(t0.Add(time.Second))
	a.Tick(t0.Add(3 * time.Second)) // a 2 s tick

	got := a.Processes("nginx")
	if len(got) != 2 {
		t.Fatalf("nginx: %d processes, want 2: %+v", len(got), got)
	}
	if got[0].PID != 101 || got[0].RateIn != 2000 || got[0].BytesIn != 4010 {
		t.Errorf("busiest %+v, want pid 101 at 2000 B/s in, 4010 B in all", got[0])
	}
	if got[1].PID != 100 || got[1].RateIn != 250 || got[1].BytesIn != 1500 || got[1].BytesOut != 100 {
		t.Errorf("second %+v, want pid 100 at 250 B/s, 1500/100 B", got[1])
	}
	if p := got[1]; p.User.Name != "www-data" || p.Container != "web" || p.Name != "nginx" || strings.ContainsRune(p.Cmdline, 0x1b) {
		t.Errorf("pid 100 %+v: want its user, container, name and a clean command line", p)
	}
	// curl was folded (Apps = 1): its process is (other)'s.
	if o := a.Processes(model.OtherApp); len(o) != 1 || o[0].PID != 200 || o[0].RateIn != 0 {
		t.Errorf("(other): %+v, want curl's pid 200, idle", o)
	}
	if a.Processes("curl") != nil || a.Processes("nosuch") != nil {
		t.Errorf("an app not listed has processes")
	}
}
