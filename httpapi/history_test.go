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
	tick(map[string][2]float64{"a": {1, 0}, "b": {1, 0}, "c": {1, 0}})
	tick(map[string][2]float64{"a": {0, 0}, "b": {1, 0}, "c": {1, 0}})
	// d arrives with the table full: a, idle longest, makes room.
	tick(map[string][2]float64{"a": {0, 0}, "b": {1, 0}, "c": {1, 0}, "d": {1, 0}})
	if n, ev := h.Len(); n != 3 || ev != 1 {
		t.Fatalf("tracked %d, evicted %d; want 3, 1", n, ev)
	}
	if pts, _, ok := h.Query("a", time.Minute); !ok || len(pts) != 0 {
		t.Fatalf("a: ok %v, %d points; want known with no points", ok, len(pts))
	}
	// With every tracked app busy, a newcomer waits its turn.
	tick(map[string][2]float64{"b": {1, 0}, "c": {1, 0}, "d": {1, 0}, "e": {1, 0}})
	if _, _, ok := h.Query("e", time.Minute); !ok {
		t.Fatalf("e is in the snapshot but unknown")
	}
	if pts, _, _ := h.Query("e", time.Minute); len(pts) != 0 {
		t.Fatalf("e tracked while b, c and d were all busy")
	}
	if n, ev := h.Len(); n != 3 || ev != 1 {
		t.Fatalf("tracked %d, evicted %d; want 3, 1", n, ev)
	}
	// A day of silence forgets every app at the next minute.
	now = now.Add(CoarseWindow + time.Minute)
	tick(map[string][2]float64{"a": {0, 0}, "b": {0, 0}, "c": {0, 0}, "d": {0, 0}})
	if n, ev := h.Len(); n != 0 || ev != 4 { // a, then b, c, d
		t.Fatalf("after a day idle: tracked %d, evicted %d; want 0, 4", n, ev)
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
	// The rings alone take (fineLen + coarseLen) * 24 bytes per app.
	const limit = 19 << 20
	if held > limit {
		t.Fatalf("history holds %.1f MB for %d apps, want under %.0f MB", float64(held)/1e6, DefaultMaxApps, float64(limit)/1e6)
	}
	t.Logf("history of %d apps over a day: %.1f MB", DefaultMaxApps, float64(held)/1e6)
	runtime.KeepAlive(h)
}
