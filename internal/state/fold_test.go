package state

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// daySum is the sum of the apps of a day's counts, and how many apps it
// holds by name (OtherApp aside).
func daySum(c counts) (sum model.Totals, named int) {
	for k, t := range c {
		if !isAppKey(k) {
			continue
		}
		sum.In += t.In
		sum.Out += t.Out
		if k != otherKey {
			named++
		}
	}
	return sum, named
}

func TestFoldIsNotBookedTwice(t *testing.T) {
	other := model.OtherApp
	tests := []struct {
		name  string
		ticks [][]any // apps of each Snapshot: name, in, out, ...
		want  map[string]model.Totals
		// totals: the apps Totals holds after the last tick
		totals []string
	}{
		{"fold into a new other row",
			[][]any{{"a", 100, 1, "b", 50, 2}, {"a", 100, 1, other, 50, 2}},
			map[string]model.Totals{"app/a": {In: 100, Out: 1}, "app/b": {In: 50, Out: 2}},
			[]string{other, "a"}},
		{"fold into other that grows too",
			[][]any{{"a", 100, 1, "b", 50, 2, other, 20, 0}, {"a", 100, 1, other, 77, 2}},
			map[string]model.Totals{"app/a": {In: 100, Out: 1}, "app/b": {In: 50, Out: 2}, "app/(other)": {In: 27}},
			[]string{other, "a"}},
		{"the folded app's last bytes go to other",
			[][]any{{"a", 100, 1, "b", 50, 2}, {"a", 100, 1, other, 60, 2}},
			map[string]model.Totals{"app/a": {In: 100, Out: 1}, "app/b": {In: 50, Out: 2}, "app/(other)": {In: 10}},
			[]string{other, "a"}},
		{"two apps folded at once",
			[][]any{{"a", 100, 1, "b", 50, 2, "c", 30, 3}, {"a", 100, 1, other, 80, 5}},
			map[string]model.Totals{"app/a": {In: 100, Out: 1}, "app/b": {In: 50, Out: 2}, "app/c": {In: 30, Out: 3}},
			[]string{other, "a"}},
		{"an app back after its fold starts from zero",
			[][]any{{"a", 100, 1, "b", 50, 2}, {"a", 100, 1, other, 50, 2}, {"a", 100, 1, other, 50, 2, "b", 5, 0}},
			map[string]model.Totals{"app/a": {In: 100, Out: 1}, "app/b": {In: 55, Out: 2}},
			[]string{other, "a", "b"}},
		{"group_by changed: old apps leave, new ones start at zero",
			[][]any{{"a", 1000, 10, "b", 500, 5, other, 300, 3}, {"root", 10, 1}, {"root", 20, 1, other, 5, 0}},
			map[string]model.Totals{"app/a": {In: 1000, Out: 10}, "app/b": {In: 500, Out: 5}, "app/(other)": {In: 305, Out: 3}, "app/root": {In: 20, Out: 1}},
			[]string{other, "root"}},
		{"group_by changed, other kept but smaller",
			[][]any{{"a", 1000, 10, other, 300, 3}, {"root", 10, 1, other, 50, 0}, {"root", 10, 1, other, 60, 0}},
			map[string]model.Totals{"app/a": {In: 1000, Out: 10}, "app/(other)": {In: 310, Out: 3}, "app/root": {In: 10, Out: 1}},
			[]string{other, "root"}},
		{"group_by changed, other kept and larger: no huge delta",
			[][]any{{"a", 1000, 10, other, 30, 3}, {"root", 10, 1, other, 500, 0}},
			map[string]model.Totals{"app/a": {In: 1000, Out: 10}, "app/(other)": {In: 30, Out: 3}, "app/root": {In: 10, Out: 1}},
			[]string{other, "root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
			clk := &clock{t: t0}
			s := open(t, dir, clk, nil)
			for i, apps := range tt.ticks {
				s.Consume(snap(t0.Add(time.Duration(i)*time.Second), 0, apps...))
				if i == 0 {
					// Half written, half pending: the answer is the same.
					if err := s.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			check := func(when string, h *History) {
				t.Helper()
				got := counts{}
				for k, v := range dayCounts(h)["2025-06-01"] {
					if isAppKey(k) {
						got[k] = v
					}
				}
				if !maps.Equal(got, tt.want) {
					t.Fatalf("%s: day = %v, want %v", when, got, tt.want)
				}
			}
			h, err := s.History(t0)
			if err != nil {
				t.Fatal(err)
			}
			check("pending", h)
			apps, _ := s.Totals()
			if got := slices.Sorted(maps.Keys(apps)); !slices.Equal(got, tt.totals) {
				t.Fatalf("Totals apps = %v, want %v", got, tt.totals)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			h, err = ReadHistory(dir, t0, utc, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			check("in the file", h)
			var inFile []string
			for k := range h.Totals {
				if name, ok := strings.CutPrefix(k, appPrefix); ok {
					inFile = append(inFile, name)
				}
			}
			if slices.Sort(inFile); !slices.Equal(inFile, tt.totals) {
				t.Fatalf("totals in the file = %v, want %v: the records of apps that left must go", inFile, tt.totals)
			}
			s = open(t, dir, clk, nil)
			if apps, _ := s.Totals(); !slices.Equal(slices.Sorted(maps.Keys(apps)), tt.totals) {
				t.Fatalf("after reopening, Totals = %v, want %v", apps, tt.totals)
			}
		})
	}
}

// fakeAgg keeps cumulative app totals as the aggregator does: at most
// limit apps by name, those that moved bytes least recently beyond it
// folded into OtherApp, their totals added to its own.
type fakeAgg struct {
	limit  int
	apps   map[string]model.Totals
	active map[string]int // the tick an app last moved bytes
	tick   int
}

func newFakeAgg(limit int) *fakeAgg {
	return &fakeAgg{limit: limit, apps: map[string]model.Totals{}, active: map[string]int{}}
}

func (f *fakeAgg) add(name string, in, out uint64) {
	t := f.apps[name]
	t.In += in
	t.Out += out
	f.apps[name] = t
	f.active[name] = f.tick
}

func (f *fakeAgg) snapshot(at time.Time) *model.Snapshot {
	var names []string
	for n := range f.apps {
		if n != model.OtherApp {
			names = append(names, n)
		}
	}
	if len(names) > f.limit {
		slices.SortFunc(names, func(a, b string) int {
			return cmp.Or(cmp.Compare(f.active[b], f.active[a]), strings.Compare(a, b))
		})
		for _, n := range names[f.limit:] {
			t := f.apps[n]
			f.add(model.OtherApp, t.In, t.Out)
			delete(f.apps, n)
			delete(f.active, n)
		}
	}
	f.tick++
	s := &model.Snapshot{Time: at}
	for n, t := range f.apps {
		s.Apps = append(s.Apps, model.AppUsage{App: n, BytesIn: t.In, BytesOut: t.Out})
	}
	return s
}

// flood runs a day of n one-shot apps (one a tick, each its own name of
// about 200 bytes) beside a bulk sender, flushing every 150 ticks, and
// returns the bytes moved.
func flood(t *testing.T, s *Store, agg *fakeAgg, clk *clock, day time.Time, n int) (all, bulk model.Totals) {
	t.Helper()
	pad := strings.Repeat("x", 190)
	for i := range n {
		at := day.Add(time.Duration(i) * 20 * time.Second)
		clk.set(at)
		name := fmt.Sprintf("oneshot-%s-%04d-%s", day.Format("0102"), i, pad)
		in, out := uint64(100+(i*7919)%5000), uint64(i%13)
		agg.add(name, in, out)
		agg.add("bulk", 1<<20, 1<<10)
		all.In += in + 1<<20
		all.Out += out + 1<<10
		bulk.In += 1 << 20
		bulk.Out += 1 << 10
		s.Consume(agg.snapshot(at))
		if i%150 == 149 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all, bulk
}

func TestDayAppsFlood(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, utc)
	clk := &clock{t: day}
	s := open(t, dir, clk, nil) // DayApps: the default
	agg := newFakeAgg(model.DefaultLimitApps)
	want, bulk := flood(t, s, agg, clk, day, 1500)

	check := func(when string, c counts) {
		t.Helper()
		sum, named := daySum(c)
		if named > model.DefaultLimitDayApps {
			t.Fatalf("%s: the day holds %d apps by name, want at most %d", when, named, model.DefaultLimitDayApps)
		}
		if sum != want {
			t.Fatalf("%s: the day's apps sum to %+v, want the %+v moved", when, sum, want)
		}
		if c["app/bulk"] != bulk {
			t.Fatalf("%s: bulk = %+v, want %+v: the flood must not take the busiest app's bytes", when, c["app/bulk"], bulk)
		}
	}
	// Pending alone is bounded too.
	s.mu.Lock()
	_, pendingNamed := daySum(s.pending["2025-06-01"])
	s.mu.Unlock()
	if pendingNamed > model.DefaultLimitDayApps {
		t.Fatalf("pending holds %d apps by name", pendingNamed)
	}
	h, err := s.History(day)
	if err != nil {
		t.Fatal(err)
	}
	check("History", dayCounts(h)["2025-06-01"])
	if apps, _ := s.Totals(); len(apps) > model.DefaultLimitApps+1 {
		t.Fatalf("Totals holds %d apps, want at most what the aggregator holds (%d)", len(apps), model.DefaultLimitApps+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h, err = ReadHistory(dir, day, utc, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	check("file", dayCounts(h)["2025-06-01"])
	u, err := h.Usage("day", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(u.Periods[0].Apps); n > model.DefaultLimitDayApps+1 {
		t.Fatalf("report of the day: %d apps", n)
	}
}

func TestFileBoundedOverDaysOfFloods(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, utc)
	clk := &clock{t: day}
	s := open(t, dir, clk, nil)
	agg := newFakeAgg(model.DefaultLimitApps)
	var sizes []int64
	for d := range 5 {
		flood(t, s, agg, clk, day.AddDate(0, 0, d), 1500)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	t.Logf("file size after each day of 1,500 one-shot apps: %v", sizes)
	// A day holds at most 201 records of about 230 bytes, some 120 KB of
	// pages a day with bbolt's overhead: the file, which bbolt grows by
	// doubling, stays within 2 MiB over 5 days. Unbounded, each day added
	// 1,500 records (870 KB of pages) and the file reached 8 MiB.
	if last := sizes[len(sizes)-1]; last > 2<<20 {
		t.Fatalf("after 5 days of floods the file is %d bytes, want at most 2 MiB (sizes %v)", last, sizes)
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range h.Days {
		if _, named := daySum(d.Counts); named > model.DefaultLimitDayApps {
			t.Fatalf("%s holds %d apps by name", d.Date, named)
		}
	}
}

func TestDayAppsPrefersNamesTheFileKeeps(t *testing.T) {
	// A day of 3 apps at most. sshd is in the file's day; then a burst of
	// newcomers, each larger than sshd's bytes since: sshd keeps its name.
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	clk := &clock{t: t0}
	s, err := Open(Options{Dir: t.TempDir(), Flush: time.Hour, DayApps: 3, Now: clk.now, Location: utc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Consume(snap(t0, 0, "sshd", 10, 0, "bulk", 1000, 0))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Consume(snap(t0.Add(time.Second), 0, "sshd", 11, 0, "bulk", 2000, 0, "n1", 50, 0, "n2", 60, 0, "n3", 70, 0))
	h, err := s.History(t0)
	if err != nil {
		t.Fatal(err)
	}
	day := dayCounts(h)["2025-06-01"]
	tests := []struct {
		name string
		key  string
		want model.Totals
	}{
		{"sshd keeps its name and bytes", "app/sshd", model.Totals{In: 11}},
		{"bulk", "app/bulk", model.Totals{In: 2000}},
		{"the largest newcomer", "app/n3", model.Totals{In: 70}},
		{"the rest folded", "app/(other)", model.Totals{In: 110}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := day[tt.key]; got != tt.want {
				t.Fatalf("%s = %+v, want %+v (day %v)", tt.key, got, tt.want, day)
			}
		})
	}
}

func TestFoldDay(t *testing.T) {
	tests := []struct {
		name   string
		in     counts
		keep   int
		want   counts
		folded int
	}{
		{"under the bound", counts{"app/a": {In: 1}, "unattributed/no_socket": {In: 9}}, 1,
			counts{"app/a": {In: 1}, "unattributed/no_socket": {In: 9}}, 0},
		{"smallest folded, other not counted", counts{"app/a": {In: 5}, "app/b": {In: 3, Out: 3}, "app/c": {In: 1}, "app/(other)": {In: 100}, "forwarded": {In: 7}}, 2,
			counts{"app/a": {In: 5}, "app/b": {In: 3, Out: 3}, "app/(other)": {In: 101}, "forwarded": {In: 7}}, 1},
		{"ties by name", counts{"app/b": {In: 1}, "app/a": {In: 1}}, 1,
			counts{"app/a": {In: 1}, "app/(other)": {In: 1}}, 1},
		{"saturating", counts{"app/a": {In: 1<<64 - 1}, "app/b": {In: 5}, "app/(other)": {In: 1<<64 - 2}}, 1,
			counts{"app/a": {In: 1<<64 - 1}, "app/(other)": {In: 1<<64 - 1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in.clone()
			if n := foldDay(c, tt.keep, nil); n != tt.folded || !maps.Equal(c, tt.want) {
				t.Fatalf("foldDay = %d, %v; want %d, %v", n, c, tt.folded, tt.want)
			}
		})
	}
}
