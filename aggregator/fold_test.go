package aggregator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// monitorFunc is a Monitor whose Collect is the function.
type monitorFunc func(c *model.MonitorEntryCollection, now time.Time)

func (f monitorFunc) Name() string              { return "func" }
func (f monitorFunc) Stats() model.MonitorStats { return model.MonitorStats{} }
func (f monitorFunc) Close() error              { return nil }
func (f monitorFunc) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	f(c, now)
	return nil
}

// ledger is what a test's monitor attributed: every byte, and this tick's.
type ledger struct {
	in, out         uint64
	tickIn, tickOut uint64
}

// add counts bytes of a process in c and in the ledger.
func (l *ledger) add(c *model.MonitorEntryCollection, info model.Info, in, out uint64, now time.Time) {
	c.Add(model.KeyProcess(info.Process), info, in, out, now)
	l.in += in
	l.out += out
	l.tickIn += in
	l.tickOut += out
}

// checkAddsUp fails unless the apps of s hold every byte of l, and their
// rates this tick's bytes of l; it resets l's tick.
func checkAddsUp(t *testing.T, s *model.Snapshot, l *ledger) {
	t.Helper()
	var in, out uint64
	var rin, rout float64
	for _, u := range s.Apps {
		in += u.BytesIn
		out += u.BytesOut
		rin += u.RateIn
		rout += u.RateOut
	}
	if in != l.in || out != l.out {
		t.Fatalf("at %v: apps hold %d/%d bytes, want every byte attributed: %d/%d", s.Time, in, out, l.in, l.out)
	}
	if math.Abs(rin*s.IntervalS-float64(l.tickIn)) > 1e-3 || math.Abs(rout*s.IntervalS-float64(l.tickOut)) > 1e-3 {
		t.Fatalf("at %v: rates %v/%v over %vs, want this tick's %d/%d bytes", s.Time, rin, rout, s.IntervalS, l.tickIn, l.tickOut)
	}
	l.tickIn, l.tickOut = 0, 0
}

// byName returns the apps of s by name.
func byName(s *model.Snapshot) map[string]model.AppUsage {
	m := make(map[string]model.AppUsage, len(s.Apps))
	for _, u := range s.Apps {
		m[u.App] = u
	}
	return m
}

// named returns the names of s's apps but OtherApp, sorted.
func named(s *model.Snapshot) []string {
	var out []string
	for _, u := range s.Apps {
		if u.App != model.OtherApp {
			out = append(out, u.App)
		}
	}
	slices.Sort(out)
	return out
}

// TestFoldFlood runs 1,500 uniquely named one-shot processes, ten a second,
// beside a steady bulk sender, then a quiet time past the active window.
// Every fiftieth one-shot moves 64 MiB, more than the bulk app's total in
// its first minute, so that the top apps hold idle ones.
func TestFoldFlood(t *testing.T) {
	tests := []struct {
		name   string
		limits model.Limits
	}{
		{"small limits", model.Limits{Apps: 40, TopApps: 5, ActiveWindow: 30 * time.Second}},
		{"defaults", model.Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const oneShots, perTick = 1500, 10
			lim := tt.limits.WithDefaults()
			t0 := time.Unix(1_000_000, 0)
			bulk := proc(1, "/usr/bin/bulk", "bulk --send")
			var l ledger
			var bulkIn, bulkOut uint64
			started := 0
			quiet := false
			big := map[string]uint64{} // the large one-shots' totals
			mon := monitorFunc(func(c *model.MonitorEntryCollection, now time.Time) {
				l.add(c, bulk, 1<<20, 1<<10, now)
				bulkIn += 1 << 20
				bulkOut += 1 << 10
				for range perTick {
					if quiet || started == oneShots {
						return
					}
					i := started
					started++
					in := uint64(100 + i%7*1000)
					name := fmt.Sprintf("job-%04d", i)
					if i%50 == 0 {
						in = 64<<20 + uint64(i)
						big[name] = in + 1
					}
					l.add(c, proc(1000+i, "/tmp/"+name, "/tmp/"+name+" --once"), in, 1, now)
				}
			})
			a := New(Config{Interval: time.Second, Grouper: Grouper{AutoGroup: true}, Retention: 5 * time.Second, Limits: tt.limits},
				[]Monitor{mon}, nil, nil, t0)

			floodTicks := oneShots / perTick
			ticks := floodTicks + int(lim.ActiveWindow/time.Second) + 2
			var s *model.Snapshot
			for i := 1; i <= ticks; i++ {
				quiet = i > floodTicks
				s = a.Tick(t0.Add(time.Duration(i) * time.Second))
				if len(s.Apps) > lim.Apps+1 {
					t.Fatalf("tick %d: %d lines, want at most apps+1 = %d", i, len(s.Apps), lim.Apps+1)
				}
				checkAddsUp(t, s, &l)
				apps := byName(s)
				if b := apps["bulk"]; b.BytesIn != bulkIn || b.BytesOut != bulkOut || b.RateIn != 1<<20 {
					t.Fatalf("tick %d: bulk = %+v, want %d/%d bytes at 1 MiB/s", i, b, bulkIn, bulkOut)
				}
				n := len(named(s))
				if want := uint64(1 + started - n); s.Agent.FoldedApps != want {
					t.Fatalf("tick %d: FoldedApps = %d, want %d (%d apps seen, %d listed)", i, s.Agent.FoldedApps, want, 1+started, n)
				}
				if o, ok := apps[model.OtherApp]; ok {
					if last := s.Apps[len(s.Apps)-1]; last.App != model.OtherApp || o.Folded != s.Agent.FoldedApps {
						t.Fatalf("tick %d: last line %q with folded %d, want %q with %d", i, last.App, o.Folded, model.OtherApp, s.Agent.FoldedApps)
					}
				} else if s.Agent.FoldedApps > 0 {
					t.Fatalf("tick %d: %d apps folded, no %q line", i, s.Agent.FoldedApps, model.OtherApp)
				}
			}
			// Past the active window, the top apps by total stay: the bulk
			// app and the largest one-shots.
			want := []string{"bulk"}
			for name := range big {
				want = append(want, name)
			}
			slices.SortFunc(want, func(x, y string) int { return int(big[y]) - int(big[x]) }) // bulk (0) last
			want = append(want[len(want)-1:], want[:min(lim.TopApps-1, len(want)-1)]...)
			slices.Sort(want)
			if got := named(s); !slices.Equal(got, want) {
				t.Fatalf("after the flood, listed %v, want the top apps %v", got, want)
			}
			if s.Agent.Limits != lim {
				t.Fatalf("Agent.Limits = %+v, want %+v", s.Agent.Limits, lim)
			}
		})
	}
}

// TestFoldRules checks which apps fold, with apps whose totals and last
// activity are set by hand.
func TestFoldRules(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type act struct {
		at   int // second
		name string
		in   uint64
	}
	tests := []struct {
		name   string
		limits model.Limits
		acts   []act
		at     int      // the tick checked
		want   []string // listed by name then
		folded uint64
	}{
		{"idle within the window stay", model.Limits{Apps: 10, TopApps: 1, ActiveWindow: 30 * time.Second},
			[]act{{1, "big", 900}, {1, "small", 10}, {2, "tiny", 1}}, 31, []string{"big", "small", "tiny"}, 0},
		{"idle past the window fold but the top", model.Limits{Apps: 10, TopApps: 1, ActiveWindow: 30 * time.Second},
			[]act{{1, "big", 900}, {1, "small", 10}, {2, "tiny", 1}}, 32, []string{"big", "tiny"}, 1},
		{"top apps are by total, not rate", model.Limits{Apps: 10, TopApps: 2, ActiveWindow: 30 * time.Second},
			[]act{{1, "big", 900}, {1, "mid", 500}, {1, "small", 10}, {40, "new", 1}}, 40, []string{"big", "mid", "new"}, 1},
		{"over apps: the longest idle first", model.Limits{Apps: 3, TopApps: 1, ActiveWindow: time.Hour},
			[]act{{1, "first", 10}, {2, "second", 1}, {3, "top", 50}, {4, "a", 3}, {4, "b", 4}}, 4, []string{"a", "b", "top"}, 2},
		{"over apps: then the smallest active", model.Limits{Apps: 2, TopApps: 1, ActiveWindow: time.Hour},
			[]act{{1, "first", 10}, {2, "second", 1}, {3, "top", 50}, {4, "a", 3}, {4, "b", 4}}, 4, []string{"b", "top"}, 3},
		{"over apps: the top apps never", model.Limits{Apps: 2, TopApps: 2, ActiveWindow: time.Hour},
			[]act{{1, "old", 60}, {3, "top", 50}, {4, "a", 3}, {4, "b", 4}}, 4, []string{"old", "top"}, 2},
		{"top apps above apps are cut to apps", model.Limits{Apps: 1, TopApps: 5, ActiveWindow: time.Hour},
			[]act{{1, "old", 60}, {3, "next", 50}}, 3, []string{"old"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pids := map[string]int{}
			mon := monitorFunc(func(c *model.MonitorEntryCollection, now time.Time) {
				for _, x := range tt.acts {
					if t0.Add(time.Duration(x.at) * time.Second).Equal(now) {
						pid, ok := pids[x.name]
						if !ok {
							pid = len(pids) + 1
							pids[x.name] = pid
						}
						info := proc(pid, "/bin/"+x.name, x.name)
						c.Add(model.KeyProcess(info.Process), info, x.in, 0, now)
					}
				}
			})
			a := New(Config{Grouper: Grouper{AutoGroup: true}, Limits: tt.limits}, []Monitor{mon}, nil, nil, t0)
			var s *model.Snapshot
			var all uint64
			for i := 1; i <= tt.at; i++ {
				s = a.Tick(t0.Add(time.Duration(i) * time.Second))
			}
			for _, x := range tt.acts {
				if x.at <= tt.at {
					all += x.in
				}
			}
			if got := named(s); !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
			if s.Agent.FoldedApps != tt.folded {
				t.Fatalf("FoldedApps = %d, want %d", s.Agent.FoldedApps, tt.folded)
			}
			var in uint64
			for _, u := range s.Apps {
				in += u.BytesIn
			}
			if in != all {
				t.Fatalf("apps hold %d bytes, want all %d", in, all)
			}
		})
	}
}

// TestFoldedAppReturnsFromZero: an app folded for being idle that moves
// bytes again is listed anew with only its new bytes; its older ones stay
// in OtherApp.
func TestFoldedAppReturnsFromZero(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	lim := model.Limits{Apps: 10, TopApps: 1, ActiveWindow: 10 * time.Second}
	big, cron := proc(1, "/usr/bin/big", "big"), proc(2, "/usr/bin/cron-job", "cron-job")
	var l ledger
	mon := monitorFunc(func(c *model.MonitorEntryCollection, now time.Time) {
		switch now.Sub(t0) {
		case time.Second:
			l.add(c, big, 1000, 0, now)
			l.add(c, cron, 300, 30, now)
		case 20 * time.Second:
			l.add(c, cron, 5, 1, now)
		}
	})
	a := New(Config{Grouper: Grouper{AutoGroup: true}, Limits: lim, Retention: 5 * time.Second}, []Monitor{mon}, nil, nil, t0)
	var s *model.Snapshot
	for i := 1; i <= 20; i++ {
		s = a.Tick(t0.Add(time.Duration(i) * time.Second))
		checkAddsUp(t, s, &l)
		if i == 12 {
			if _, ok := byName(s)["cron-job"]; ok {
				t.Fatalf("tick 12: cron-job still listed, idle for 11 s with a 10 s window")
			}
		}
	}
	apps := byName(s)
	if c := apps["cron-job"]; c.BytesIn != 5 || c.BytesOut != 1 || c.RateIn != 5 {
		t.Fatalf("returned cron-job = %+v, want 5/1 bytes from zero at 5 B/s", c)
	}
	if o := apps[model.OtherApp]; o.BytesIn != 300 || o.BytesOut != 30 || o.Folded != 1 || o.RateIn != 0 {
		t.Fatalf("%s = %+v, want the older 300/30 bytes of one app, idle", model.OtherApp, o)
	}
	if last := s.Apps[len(s.Apps)-1]; last.App != model.OtherApp {
		t.Fatalf("last line %q, want %q whatever its rate", last.App, model.OtherApp)
	}
}

// TestFoldCountsTheTick: an app folded in the tick it moved bytes hands
// those bytes to OtherApp's rate, so the rates add up.
func TestFoldCountsTheTick(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var l ledger
	mon := monitorFunc(func(c *model.MonitorEntryCollection, now time.Time) {
		for i := range 5 {
			l.add(c, proc(10+i, fmt.Sprintf("/bin/p%d", i), "p"), uint64(100*(i+1)), uint64(i), now)
		}
	})
	a := New(Config{Grouper: Grouper{AutoGroup: true}, Limits: model.Limits{Apps: 2, TopApps: 1}}, []Monitor{mon}, nil, nil, t0)
	s := a.Tick(t0.Add(2 * time.Second))
	checkAddsUp(t, s, &l)
	if got := named(s); !slices.Equal(got, []string{"p3", "p4"}) {
		t.Fatalf("listed %v, want the two largest p3, p4", got)
	}
	if o := s.Apps[2]; o.App != model.OtherApp || o.RateIn != 300 || o.BytesIn != 600 || o.Folded != 3 {
		t.Fatalf("third line %+v, want %s with 600 bytes in at 300 B/s, 3 folded", o, model.OtherApp)
	}
}

func TestReconfigureLimits(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	mon := monitorFunc(func(c *model.MonitorEntryCollection, now time.Time) {
		for i := range 5 {
			info := proc(10+i, fmt.Sprintf("/bin/p%d", i), "p")
			c.Add(model.KeyProcess(info.Process), info, uint64(100*(i+1)), 0, now)
		}
	})
	cfg := Config{Grouper: Grouper{AutoGroup: true}}
	a := New(cfg, []Monitor{mon}, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	if len(s.Apps) != 5 || s.Agent.Limits != (model.Limits{}).WithDefaults() {
		t.Fatalf("default limits: %d lines, limits %+v; want 5 and the defaults", len(s.Apps), s.Agent.Limits)
	}
	cfg.Limits = model.Limits{Apps: 3, TopApps: 7}
	a.Reconfigure(cfg, []Monitor{mon}, nil)
	s = a.Tick(t0.Add(2 * time.Second))
	want := model.Limits{Apps: 3, TopApps: 3}.WithDefaults()
	if got := named(s); len(got) != 3 || s.Agent.FoldedApps != 2 || s.Agent.Limits != want {
		t.Fatalf("after Reconfigure: listed %v, folded %d, limits %+v; want 3 listed, 2 folded, %+v", got, s.Agent.FoldedApps, s.Agent.Limits, want)
	}
}

func TestRestoreOther(t *testing.T) {
	t0 := time.Unix(2_000_000, 0)
	m := &fakeMonitor{batches: [][]add{{{proc(10, "/usr/bin/curl", "curl a"), 5, 0}}}}
	a := New(Config{Grouper: Grouper{AutoGroup: true}, Limits: model.Limits{Apps: 3, TopApps: 1}}, []Monitor{m}, nil, nil, t0)
	a.Restore(map[string]model.Totals{
		model.OtherApp: {In: 7000, Out: 700},
		"curl":         {In: 100, Out: 10},
		"big":          {In: 9000},
		"x\xffy":       {In: 1},  // a name from an older version, not clean
		`x\xffy`:       {In: 2},  // … that is the same as this one once clean
		"small":        {In: 3},  // folded past apps = 3
		OtherLookalike: {In: 40}, // a process that named itself "(other)"
	}, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	apps := byName(s)
	if got := named(s); !slices.Equal(got, []string{OtherLookalike, "big", "curl"}) {
		t.Fatalf("listed %v, want big, curl, and %s", got, OtherLookalike)
	}
	if o := apps[model.OtherApp]; o.BytesIn != 7000+3+3 || o.BytesOut != 700 || o.Folded != 2 {
		t.Fatalf("%s = %+v, want the restored 7000/700 plus the folded small and x\\xffy (3 in)", model.OtherApp, o)
	}
	if c := apps["curl"]; c.BytesIn != 105 || c.RateIn != 5 {
		t.Fatalf("curl = %+v, want 105 bytes in at 5 B/s", c)
	}
}

// TestSelectFirst compares selectFirst with a sort, on random totals with
// many ties (broken by name) and every k.
func TestSelectFirst(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 10, 101} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			apps := make([]*appState, n)
			for i := range apps {
				apps[i] = &appState{name: fmt.Sprintf("app-%03d", (i*37)%max(n, 1)), in: uint64(rand.IntN(5))}
			}
			sorted := slices.Clone(apps)
			slices.SortFunc(sorted, largerTotal)
			for k := 0; k <= n; k++ {
				s := slices.Clone(apps)
				selectFirst(s, k, largerTotal)
				first := slices.Clone(s[:k])
				slices.SortFunc(first, largerTotal)
				if !slices.Equal(first, sorted[:k]) {
					t.Fatalf("k=%d: first %v, want %v", k, names(first), names(sorted[:k]))
				}
			}
		})
	}
}

func names(s []*appState) []string {
	out := make([]string, len(s))
	for i, a := range s {
		out[i] = a.name
	}
	return out
}
