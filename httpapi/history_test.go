package httpapi

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestHistoryFine(t *testing.T) {
	h := NewHistory(0)
	for i := 1; i <= 1000; i++ {
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), map[string][2]float64{"a": {float64(i), float64(2 * i)}}))
	}
	tests := []struct {
		name      string
		since     time.Duration
		wantN     int
		wantFirst float64 // In of the first point
	}{
		{"last minute", time.Minute, 60, 941},
		{"15 minutes", 15 * time.Minute, 900, 101},
		{"ten seconds", 10 * time.Second, 10, 991},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, res, ok := h.Query("a", tt.since)
			if !ok || res != time.Second {
				t.Fatalf("ok %v, resolution %s; want true, 1s", ok, res)
			}
			if len(pts) != tt.wantN {
				t.Fatalf("%d points, want %d", len(pts), tt.wantN)
			}
			if pts[0].In != tt.wantFirst || pts[0].Out != 2*tt.wantFirst || pts[0].DurationS != 1 {
				t.Fatalf("first point %+v, want in %v out %v over 1 s", pts[0], tt.wantFirst, 2*tt.wantFirst)
			}
			last := pts[len(pts)-1]
			if want := float64(t0.Add(1000 * time.Second).Unix()); last.T != want || last.In != 1000 {
				t.Fatalf("last point %+v, want t %v in 1000", last, want)
			}
			if last.PeakIn != nil {
				t.Fatalf("fine point carries a peak: %+v", last)
			}
		})
	}
}

func TestHistorySubSecondTicksMerge(t *testing.T) {
	h := NewHistory(0)
	// Four 250 ms ticks: 100, 200, 300, 400 bytes/s -> 1 s at 250 bytes/s.
	for i := 1; i <= 4; i++ {
		s := snap(t0.Add(time.Duration(i)*250*time.Millisecond), map[string][2]float64{"a": {float64(100 * i), 0}})
		s.IntervalS = 0.25
		h.Add(s)
	}
	pts, _, _ := h.Query("a", time.Minute)
	if len(pts) != 1 || pts[0].In != 250 || pts[0].DurationS != 1 {
		t.Fatalf("points %+v, want one 1 s point at 250 B/s", pts)
	}
}

func TestHistoryMinutes(t *testing.T) {
	h := NewHistory(0)
	// Three minutes at 60 B/s in, with one 1-second burst of 6000 B/s in
	// the second minute, and the first 30 s of a fourth.
	for i := 1; i <= 210; i++ {
		in := 60.0
		if i == 90 {
			in = 6000
		}
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), map[string][2]float64{"a": {in, 1}}))
	}
	pts, res, ok := h.Query("a", 24*time.Hour)
	if !ok || res != time.Minute {
		t.Fatalf("ok %v, resolution %s; want true, 1m", ok, res)
	}
	// The tick ending at 12:01:00 belongs to the minute 12:01.
	wantIn := []float64{60, (59*60 + 6000) / 60.0, 60, 60}
	wantPeak := []float64{60, 6000, 60, 60}
	if len(pts) != len(wantIn) {
		t.Fatalf("%d minute points %+v, want %d", len(pts), pts, len(wantIn))
	}
	for i, p := range pts {
		if p.In != round(wantIn[i]) || p.PeakIn == nil || *p.PeakIn != wantPeak[i] || *p.PeakOut != 1 || p.DurationS != 60 {
			t.Errorf("minute %d: in %v peak %v; want in %v peak %v", i, p.In, p.PeakIn, wantIn[i], wantPeak[i])
		}
	}
	if want := float64(t0.Add(4 * time.Minute).Unix()); pts[3].T != want {
		t.Errorf("the minute in progress ends at %v, want %v", pts[3].T, want)
	}
	// 16 minutes asks for minute points too, and gets only the recent ones.
	recent, _, _ := h.Query("a", 16*time.Minute)
	if len(recent) != 4 {
		t.Errorf("since 16m: %d points, want 4", len(recent))
	}
}

func TestHistoryCoarseRingWraps(t *testing.T) {
	h := NewHistory(0)
	for m := 0; m < coarseLen+100; m++ {
		h.Add(snap(t0.Add(time.Duration(m)*time.Minute+time.Second), map[string][2]float64{"a": {float64(m), 0}}))
	}
	pts, _, _ := h.Query("a", 24*time.Hour)
	// A day of complete minutes, the oldest reaching into the window by
	// its last 59 s, and the minute in progress.
	if len(pts) != coarseLen+1 {
		t.Fatalf("%d minute points, want %d (a day and the minute in progress)", len(pts), coarseLen+1)
	}
	if first := pts[0].In; first != 99 {
		t.Fatalf("oldest minute has in %v, want 99 (the first 99 minutes fell off)", first)
	}
}

func TestHistoryUnknownAndIdle(t *testing.T) {
	h := NewHistory(0)
	h.Add(snap(t0, map[string][2]float64{"busy": {10, 0}, "idle": {0, 0}}))
	tests := []struct {
		name   string
		app    string
		wantOK bool
		wantN  int
	}{
		{"tracked", "busy", true, 1},
		{"known but idle", "idle", true, 0},
		{"unknown", "nobody", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, _, ok := h.Query(tt.app, time.Minute)
			if ok != tt.wantOK || len(pts) != tt.wantN || pts == nil {
				t.Fatalf("ok %v, %d points (nil %v); want %v, %d", ok, len(pts), pts == nil, tt.wantOK, tt.wantN)
			}
		})
	}
}

func TestHistoryBounded(t *testing.T) {
	h := NewHistory(3)
	now := t0
	tick := func(rates map[string][2]float64) {
		now = now.Add(time.Second)
		h.Add(snap(now, rates))
	}
	tracked := func(app string) bool {
		pts, _, _ := h.Query(app, time.Minute)
		return len(pts) > 0
	}
	// Room for three: the first three active apps are kept.
	tick(map[string][2]float64{"a": {10, 0}, "b": {5, 0}, "c": {1, 0}})
	// d moves as much as c: it waits (1 B is not more than c's 1 B).
	tick(map[string][2]float64{"a": {10, 0}, "b": {5, 0}, "c": {0, 0}, "d": {1, 0}})
	if tracked("d") || !tracked("c") {
		t.Fatalf("d (1 B) kept in place of c (1 B): d %v, c %v", tracked("d"), tracked("c"))
	}
	if _, _, ok := h.Query("d", time.Minute); !ok {
		t.Fatal("d is in the snapshot but unknown")
	}
	// Its second byte makes it bigger than c: it takes c's place, not
	// a bigger one's.
	tick(map[string][2]float64{"a": {10, 0}, "b": {5, 0}, "d": {1, 0}})
	if !tracked("d") || tracked("c") || !tracked("a") || !tracked("b") {
		t.Fatalf("after d outweighed c: a %v b %v c %v d %v; want a, b, d", tracked("a"), tracked("b"), tracked("c"), tracked("d"))
	}
	if n, ev := h.Len(); n != 3 || ev != 1 {
		t.Fatalf("tracked %d, evicted %d; want 3, 1", n, ev)
	}
	// d keeps what it moved while waiting: e, as big in its first tick
	// as d in all, does not replace it.
	tick(map[string][2]float64{"a": {10, 0}, "b": {5, 0}, "e": {2, 0}})
	if tracked("e") || !tracked("d") {
		t.Fatalf("e (2 B) replaced d (2 B)")
	}
	// A burst bigger than b's total takes the smallest's place at once.
	tick(map[string][2]float64{"a": {10, 0}, "b": {5, 0}, "f": {0, 1000}})
	if !tracked("f") || tracked("d") || !tracked("b") {
		t.Fatalf("f's burst: b %v d %v f %v; want b and f kept, d out", tracked("b"), tracked("d"), tracked("f"))
	}
	if n, ev := h.Len(); n != 3 || ev != 2 {
		t.Fatalf("tracked %d, evicted %d; want 3, 2", n, ev)
	}
	// A day of silence forgets every app at the next minute.
	now = now.Add(CoarseWindow + time.Minute)
	tick(map[string][2]float64{"a": {0, 0}, "b": {0, 0}, "f": {0, 0}})
	if n, ev := h.Len(); n != 0 || ev != 5 {
		t.Fatalf("after a day idle: tracked %d, evicted %d; want 0, 5", n, ev)
	}
	h.mu.Lock()
	waiting := len(h.waiting)
	h.mu.Unlock()
	if waiting != 0 {
		t.Fatalf("%d apps still wait after a day idle", waiting)
	}
}

// TestHistoryVolumeWindow: what an app moved more than a day ago no longer
// counts for its volume, so a steady newcomer can take the place of an app
// that was big yesterday.
func TestHistoryVolumeWindow(t *testing.T) {
	h := NewHistory(1)
	now := t0
	tick := func(rates map[string][2]float64) {
		now = now.Add(time.Second)
		h.Add(snap(now, rates))
	}
	for range 60 { // a minute at 1 MB/s
		tick(map[string][2]float64{"old": {1e6, 0}})
	}
	now = now.Add(CoarseWindow - 10*time.Minute)
	for range 30 * 60 { // old trickles on; new sends 100 B/s
		tick(map[string][2]float64{"old": {1, 0}, "new": {100, 0}})
	}
	if pts, _, _ := h.Query("new", time.Minute); len(pts) == 0 {
		t.Fatal("new (180 kB in the last 30 minutes) is not kept in place of old (60 MB a day ago, 1.8 kB since)")
	}
	if pts, _, _ := h.Query("old", time.Minute); len(pts) != 0 {
		t.Fatal("old is still kept")
	}
}

// TestHistoryFloodKeepsBulk: 1,500 one-shot apps after a bulk app, with
// room for 100, leave the bulk app's 15-minute and 24-hour history whole.
// They come while it pauses between two transfers, which made it the app
// idle longest, the one to go, when the oldest idle made room.
func TestHistoryFloodKeepsBulk(t *testing.T) {
	const keep = 100
	h := NewHistory(keep)
	now := t0
	tick := func(rates map[string][2]float64) {
		now = now.Add(time.Second)
		h.Add(snap(now, rates))
	}
	// bulk's rate in at tick i: distinct values, to tell each point, and
	// a pause of 20 s after half an hour.
	const pause = 30 * 60
	bulk := func(i int) float64 {
		if i >= pause && i < pause+20 {
			return 0
		}
		return float64(1e6 + i)
	}
	shot := 0
	i := 0
	for ; i < pause+5*60; i++ {
		rates := map[string][2]float64{"bulk": {bulk(i), 0}}
		// In the pause, 1,500 uniquely named one-shot apps, 100 a tick
		// (a snapshot lists about 100 apps), each moving up to 64 KB in
		// its only tick.
		for n := 0; i >= pause && shot < 1500 && n < 100; n++ {
			rates[fmt.Sprintf("oneshot-%04d", shot)] = [2]float64{float64(shot % 64 * 1024), 100}
			shot++
		}
		tick(rates)
	}
	if n, _ := h.Len(); n > keep {
		t.Fatalf("%d apps kept, want at most %d", n, keep)
	}
	fine, res, ok := h.Query("bulk", FineWindow)
	if !ok || res != time.Second || len(fine) != 900 {
		t.Fatalf("bulk's 15 minutes: ok %v, %d points at %s; want 900 at 1s", ok, len(fine), res)
	}
	for j, p := range fine {
		if want := bulk(i - 900 + j); p.In != want {
			t.Fatalf("bulk's fine point %d: in %v, want %v", j, p.In, want)
		}
	}
	coarse, _, _ := h.Query("bulk", CoarseWindow)
	// One point per minute since t0, the one in progress included.
	if want := int(now.Sub(t0)/time.Minute) + 1; len(coarse) != want {
		t.Fatalf("bulk's 24 hours: %d minute points, want %d", len(coarse), want)
	}
	if first := coarse[0].In; first < bulk(0) || first > bulk(60) {
		t.Fatalf("bulk's first minute averages %v, want its first minute (%v to %v)", first, bulk(0), bulk(60))
	}
	h.mu.Lock()
	waiting := len(h.waiting)
	h.mu.Unlock()
	if waiting > keep {
		t.Fatalf("%d apps wait, want at most %d", waiting, keep)
	}
}

// BenchmarkHistoryAdd measures a tick of 200 active apps.
func BenchmarkHistoryAdd(b *testing.B) {
	h := NewHistory(0)
	rates := map[string][2]float64{}
	for i := 0; i < 200; i++ {
		rates[fmt.Sprintf("app%d", i)] = [2]float64{float64(i), 1}
	}
	s := snap(t0, rates)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Time = t0.Add(time.Duration(i) * time.Second)
		h.Add(s)
	}
}

// TestHistoryMemoryBounded fills the history to the brim, a day of ticks
// for DefaultMaxApps apps and a few more, and checks the heap it holds.
func TestHistoryMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("adds a day of ticks")
	}
	h := NewHistory(0)
	rates := map[string][2]float64{}
	for i := 0; i < DefaultMaxApps+20; i++ {
		rates[fmt.Sprintf("app-%03d", i)] = [2]float64{1, 1}
	}
	s := snap(t0, rates)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 24*3600+120; i++ {
		s.Time = t0.Add(time.Duration(i) * time.Second)
		h.Add(s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if n, _ := h.Len(); n != DefaultMaxApps {
		t.Fatalf("%d apps tracked, want %d", n, DefaultMaxApps)
	}
	// The rings alone take (fineLen + coarseLen) * 24 bytes per app, about
	// 60 KB; with the rest of the series, about 68 KB.
	const limit = DefaultMaxApps * 76 << 10
	if held > limit {
		t.Fatalf("history holds %.1f MB for %d apps, want under %.0f MB", float64(held)/1e6, DefaultMaxApps, float64(limit)/1e6)
	}
	t.Logf("history of %d apps over a day: %.1f MB", DefaultMaxApps, float64(held)/1e6)
	runtime.KeepAlive(h)
}
