package state

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var utc = time.UTC

// open opens a store in dir on clk that never flushes by itself in a test's
// time, and closes it at cleanup.
func open(t *testing.T, dir string, clk *clock, logs *bytes.Buffer) *Store {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	s, err := Open(Options{Dir: dir, Flush: time.Hour, Logger: slog.New(h), Now: clk.now, Location: utc})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// snap is a Snapshot at time at with cumulative app totals (name, in, out,
// ...) and no_socket bytes u.
func snap(at time.Time, u uint64, apps ...any) *model.Snapshot {
	s := &model.Snapshot{Time: at, Unattributed: model.Unattributed{Reasons: map[model.Reason]model.UnattributedSum{}}}
	if u > 0 {
		s.Unattributed.Reasons[model.ReasonNoSocket] = model.UnattributedSum{BytesIn: u}
	}
	for i := 0; i < len(apps); i += 3 {
		s.Apps = append(s.Apps, model.AppUsage{App: apps[i].(string), BytesIn: uint64(apps[i+1].(int)), BytesOut: uint64(apps[i+2].(int))})
	}
	return s
}

func dayCounts(h *History) map[string]counts {
	out := map[string]counts{}
	for _, d := range h.Days {
		out[d.Date] = d.Counts
	}
	return out
}

func TestRecordFlushReopen(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 23, 59, 58, 0, utc)
	clk := &clock{t: t0}
	s := open(t, dir, clk, nil)
	if !s.Since().Equal(t0) {
		t.Fatalf("Since = %v, want the creation time %v", s.Since(), t0)
	}
	s.Consume(snap(t0, 5, "curl", 100, 10, "ssh", 1, 2))
	s.Consume(snap(t0.Add(time.Second), 5, "curl", 150, 10, "ssh", 1, 2))
	// Past midnight: the next delta goes to June 2.
	s.Consume(snap(t0.Add(3*time.Second), 9, "curl", 400, 20, "ssh", 1, 2))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Consume(snap(t0.Add(4*time.Second), 9, "curl", 401, 20, "ssh", 1, 2))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	clk.set(t0.Add(time.Hour))
	s = open(t, dir, clk, nil)
	if !s.Since().Equal(t0) {
		t.Fatalf("after reopening, Since = %v, want %v", s.Since(), t0)
	}
	apps, unatt := s.Totals()
	wantApps := map[string]model.Totals{"curl": {In: 401, Out: 20}, "ssh": {In: 1, Out: 2}}
	if len(apps) != 2 || apps["curl"] != wantApps["curl"] || apps["ssh"] != wantApps["ssh"] {
		t.Fatalf("Totals apps = %v, want %v", apps, wantApps)
	}
	if unatt[model.ReasonNoSocket] != (model.UnattributedSum{BytesIn: 9}) {
		t.Fatalf("Totals unattributed = %v, want no_socket 9 in", unatt)
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	days := dayCounts(h)
	tests := []struct {
		name, date, key string
		want            model.Totals
	}{
		{"first day curl", "2025-06-01", "app/curl", model.Totals{In: 150, Out: 10}},
		{"first day ssh", "2025-06-01", "app/ssh", model.Totals{In: 1, Out: 2}},
		{"first day unattributed", "2025-06-01", "unattributed/no_socket", model.Totals{In: 5}},
		{"second day curl, flushed by Close", "2025-06-02", "app/curl", model.Totals{In: 251, Out: 10}},
		{"second day unattributed", "2025-06-02", "unattributed/no_socket", model.Totals{In: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := days[tt.date][tt.key]; got != tt.want {
				t.Fatalf("%s %s = %+v, want %+v (all days: %v)", tt.date, tt.key, got, tt.want, days)
			}
		})
	}
	if _, ok := days["2025-06-02"]["app/ssh"]; ok {
		t.Fatalf("ssh moved nothing on June 2 but has a row: %v", days["2025-06-02"])
	}
}

func TestHistoryIncludesPending(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s := open(t, t.TempDir(), &clock{t: t0}, nil)
	s.Consume(snap(t0, 0, "curl", 100, 10))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Consume(snap(t0.Add(time.Second), 0, "curl", 130, 10))
	h, err := s.History(t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := dayCounts(h)["2025-06-01"]["app/curl"]; got != (model.Totals{In: 130, Out: 10}) {
		t.Fatalf("curl = %+v, want 130/10 (100 flushed + 30 pending)", got)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	h2, err := s.History(t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := dayCounts(h2)["2025-06-01"]["app/curl"]; got != (model.Totals{In: 130, Out: 10}) {
		t.Fatalf("after the flush curl = %+v, want the same 130/10", got)
	}
}

func TestKeepDays(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, utc)
	clk := &clock{t: t0}
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Flush: time.Hour, KeepDays: 3, Now: clk.now, Location: utc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		at := t0.AddDate(0, 0, i)
		clk.set(at)
		s.Consume(snap(at, 0, "curl", 100*(i+1), 0))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, d := range h.Days {
		dates = append(dates, d.Date)
	}
	if got, want := strings.Join(dates, " "), "2025-03-03 2025-03-04 2025-03-05"; got != want {
		t.Fatalf("days kept = %s, want %s", got, want)
	}
	if h.Totals["app/curl"].In != 500 {
		t.Fatalf("cumulative curl = %d, want 500 (totals outlive the days)", h.Totals["app/curl"].In)
	}
}

func TestCorruptStoreMovedAside(t *testing.T) {
	valid := func(t *testing.T) []byte {
		dir := t.TempDir()
		s := open(t, dir, &clock{t: time.Unix(1e9, 0)}, nil)
		s.Consume(snap(time.Unix(1e9, 0), 0, "curl", 1, 1))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		content func(t *testing.T) []byte
	}{
		{"not a bbolt file", func(*testing.T) []byte { return bytes.Repeat([]byte("bwmon"), 3000) }},
		{"both meta pages overwritten", func(t *testing.T) []byte {
			b := valid(t)
			for i := 0; i < 8192 && i < len(b); i++ {
				b[i] ^= 0x5a
			}
			return b
		}},
		{"truncated", func(t *testing.T) []byte { return valid(t)[:100] }},
		{"data pages overwritten", func(t *testing.T) []byte {
			b := valid(t)
			for i := 8192; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := tt.content(t)
			if err := os.WriteFile(filepath.Join(dir, FileName), bad, 0o600); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
			var logs bytes.Buffer
			s := open(t, dir, &clock{t: now}, &logs)
			if !s.Since().Equal(now) {
				t.Fatalf("Since = %v, want a new store's %v", s.Since(), now)
			}
			if apps, _ := s.Totals(); len(apps) != 0 {
				t.Fatalf("new store has totals %v", apps)
			}
			moved, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*"))
			if len(moved) != 1 {
				t.Fatalf("moved-aside files = %v, want one", moved)
			}
			if b, _ := os.ReadFile(moved[0]); !bytes.Equal(b, bad) {
				t.Fatalf("the moved-aside file is not the corrupt store")
			}
			if !strings.Contains(logs.String(), "level=ERROR msg=\"state store unreadable") || !strings.Contains(logs.String(), "moved_to="+moved[0]) {
				t.Fatalf("log does not say what happened:\n%s", logs.String())
			}
			// The new store works.
			s.Consume(snap(now, 0, "curl", 7, 0))
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOneAgentPerDirReadersWelcome(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s := open(t, dir, &clock{t: t0}, nil)
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another bwmon") {
		t.Fatalf("second Open on the same dir: %v, want an in-use error", err)
	}
	s.Consume(snap(t0, 0, "curl", 10, 20))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// `bwmon report` while the agent runs: read-only, no waiting.
	begin := time.Now()
	h, err := ReadHistory(dir, t0, utc, time.Second)
	if err != nil {
		t.Fatalf("ReadHistory while the store is open: %v", err)
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Fatalf("ReadHistory took %s: it waited for a lock", d)
	}
	if got := dayCounts(h)["2025-06-01"]["app/curl"]; got != (model.Totals{In: 10, Out: 20}) {
		t.Fatalf("read %+v, want 10/20", got)
	}
	// And the agent still writes afterwards.
	s.Consume(snap(t0.Add(time.Second), 0, "curl", 11, 20))
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush after a reader: %v", err)
	}
	if _, err := ReadHistory(t.TempDir(), t0, utc, time.Second); err == nil || !strings.Contains(err.Error(), "no state store") {
		t.Fatalf("ReadHistory of an empty dir: %v, want no state store", err)
	}
}

func TestPeriodicFlush(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now()
	s, err := Open(Options{Dir: dir, Flush: 20 * time.Millisecond, Location: utc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Consume(snap(t0, 0, "curl", 10, 20))
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, err := ReadHistory(dir, t0, utc, time.Second)
		if err == nil && h.Totals["app/curl"].In == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no flush within 5 s of a 20ms flush interval (last: %v, %v)", h, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHugeNameDoesNotStopPersistence(t *testing.T) {
	// A 200 KB command line: bbolt refuses keys over 32 KiB, and all apps
	// are written in one transaction, so such a key once stopped every
	// flush. The store cleans and cuts keys itself.
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	clk := &clock{t: t0}
	s := open(t, dir, clk, nil)
	huge := strings.Repeat("A", 200<<10)
	twin := huge + "B" // cleans to the same key: their counts add up
	s.Consume(snap(t0, 0, huge, 10, 1, twin, 5, 0, "curl", 7, 7))
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush with a 200 KB name: %v", err)
	}
	s.Consume(snap(t0.Add(time.Second), 0, huge, 20, 1, twin, 5, 0, "curl", 8, 7))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h, err := ReadHistory(dir, t0, utc, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	key := appKey(huge)
	if len(key) > len(appPrefix)+safename.MaxLen {
		t.Fatalf("key of %d bytes", len(key))
	}
	day := dayCounts(h)["2025-06-01"]
	if got := day[key]; got != (model.Totals{In: 25, Out: 1}) {
		t.Fatalf("the huge name's day = %+v, want 25/1 (both names cleaned to one)", got)
	}
	if got := day["app/curl"]; got != (model.Totals{In: 8, Out: 7}) {
		t.Fatalf("curl's day = %+v, want 8/7: the other apps were written too", got)
	}
}

func TestReadHistoryErrors(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"no directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, "no state store"},
		{"no store in it", func(t *testing.T) string { return t.TempDir() }, "no state store"},
		{"not a directory", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "opening the state directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHistory(tt.dir(t), time.Time{}, utc, time.Second)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadHistory: %v, want %q", err, tt.want)
			}
		})
	}
}
