package state

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// craft writes a store file in dir as an older or damaged bwmon might
// have left it: f fills the buckets.
func craft(t *testing.T, dir string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initSchema(tx, time.Date(2025, 5, 1, 0, 0, 0, 0, utc), &repairs{}); err != nil {
			return err
		}
		return f(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, b *bolt.Bucket, key string, v []byte) {
	t.Helper()
	if err := b.Put([]byte(key), v); err != nil {
		t.Fatal(err)
	}
}

func val(in, out uint64) []byte { return encodeCounts(model.Totals{In: in, Out: out}) }

// badStore is a store with, in the totals and in a day: names an older
// bwmon saved raw (invalid UTF-8, an escape sequence, a bidi override, 300
// bytes), one of them colliding with a clean name once cleaned, records
// whose values are not 16 bytes, a key of no known kind, a nested bucket
// among the records, and in the days a key that is not a date and a value
// where a day's bucket belongs.
func badStore(t *testing.T, dir string) {
	long := strings.Repeat("L", 300)
	craft(t, dir, func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTotals)
		put(t, tb, "app/curl", val(100, 1))
		put(t, tb, "app/x\xffy", val(10, 1))
		put(t, tb, `app/x\xffy`, val(5, 0)) // what x\xffy cleans to
		put(t, tb, "app/evil\x1b[2J\u202e", val(7, 7))
		put(t, tb, "app/"+long, val(3, 3))
		put(t, tb, "app/short", []byte{1, 2, 3})
		put(t, tb, "junk", val(1, 1))
		put(t, tb, "unattributed/no_socket", val(9, 0))
		if _, err := tb.CreateBucket([]byte("app/nested")); err != nil {
			return err
		}
		daily := tx.Bucket(bucketDaily)
		d, err := daily.CreateBucket([]byte("2025-06-01"))
		if err != nil {
			return err
		}
		put(t, d, "app/curl", val(50, 1))
		put(t, d, "app/x\xffy", val(4, 0))
		put(t, d, "app/evil\x1b[2J\u202e", val(2, 2))
		put(t, d, "app/"+long, val(1, 1))
		put(t, d, "app/bad", []byte("not counts"))
		put(t, d, "forwarded/10.0.0.2", val(1, 1)) // no remote
		put(t, d, "forwarded/10.0.0.2/\u009b", val(6, 0))
		if _, err := daily.CreateBucket([]byte("x")); err != nil { // not a date
			return err
		}
		put(t, daily, "2025-06-02", val(1, 1)) // a value, not a day
		return nil
	})
}

func TestBadStoreRepairedOnOpen(t *testing.T) {
	dir := t.TempDir()
	badStore(t, dir)
	// A reader before the agent: it serves what it can and says so.
	h, err := ReadHistory(dir, time.Time{}, utc, time.Second)
	if err != nil {
		t.Fatalf("ReadHistory of a store with bad records: %v", err)
	}
	if h.Repaired != 7 || h.Dropped != 7 {
		t.Fatalf("reader: %d repaired, %d dropped; want 7 and 7", h.Repaired, h.Dropped)
	}

	var logs bytes.Buffer
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s := open(t, dir, &clock{t: now}, &logs)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "names_repaired=7 records_dropped=7") {
		t.Fatalf("want one warning with 7 names repaired, 7 records dropped; logs:\n%s", logs.String())
	}
	if !s.Since().Equal(time.Date(2025, 5, 1, 0, 0, 0, 0, utc)) {
		t.Fatalf("Since = %v: the store was replaced instead of repaired", s.Since())
	}
	apps, unatt := s.Totals()
	long := safename.Clean(strings.Repeat("L", 300))
	wantApps := map[string]model.Totals{
		"curl":              {In: 100, Out: 1},
		`x\xffy`:            {In: 15, Out: 1}, // the raw and the clean name, merged
		`evil\x1b[2J\u202e`: {In: 7, Out: 7},
		long:                {In: 3, Out: 3},
	}
	if len(apps) != len(wantApps) {
		t.Fatalf("Totals apps = %v, want %v", apps, wantApps)
	}
	for name, want := range wantApps {
		if apps[name] != want {
			t.Fatalf("Totals[%v] = %+v, want %+v (all: %v)", name, apps[name], want, apps)
		}
	}
	if unatt["no_socket"].BytesIn != 9 {
		t.Fatalf("unattributed = %v", unatt)
	}

	h, err = s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Days) != 1 || h.Days[0].Date != "2025-06-01" {
		t.Fatalf("days = %+v, want 2025-06-01 alone", h.Days)
	}
	wantDay := counts{
		"app/curl":                  {In: 50, Out: 1},
		`app/x\xffy`:                {In: 4},
		`app/evil\x1b[2J\u202e`:     {In: 2, Out: 2},
		"app/" + long:               {In: 1, Out: 1},
		`forwarded/10.0.0.2/\u009b`: {In: 6},
	}
	if got := h.Days[0].Counts; !equalCounts(got, wantDay) {
		t.Fatalf("day = %v, want %v", got, wantDay)
	}
	if h.Repaired+h.Dropped != 0 {
		t.Fatalf("after Open, History still finds %d repaired, %d dropped: the file was not rewritten", h.Repaired, h.Dropped)
	}
	u, err := h.Usage("day", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range u.Total.Apps {
		if a.App != safename.Clean(a.App) {
			t.Fatalf("usage serves the name %q, not clean", a.App)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The file itself is clean now: a second Open warns of nothing.
	logs.Reset()
	open(t, dir, &clock{t: now}, &logs)
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("second Open warned again:\n%s", logs.String())
	}
}

func equalCounts(a, b counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func TestOldStoreDaysFoldedOnOpen(t *testing.T) {
	// A day saved by a bwmon without the bound: 1,500 apps.
	dir := t.TempDir()
	var want model.Totals
	craft(t, dir, func(tx *bolt.Tx) error {
		d, err := tx.Bucket(bucketDaily).CreateBucket([]byte("2025-06-01"))
		if err != nil {
			return err
		}
		for i := range 1500 {
			put(t, d, "app/oneshot-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strconv.Itoa(i), val(uint64(i+1), 1))
			want.In += uint64(i + 1)
			want.Out++
		}
		return nil
	})
	var logs bytes.Buffer
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s, err := Open(Options{Dir: dir, Flush: time.Hour, DayApps: 50, Now: (&clock{t: t0}).now, Location: utc, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "apps_folded=1450") || strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("want an info line with 1450 apps folded, no warning:\n%s", logs.String())
	}
	h, err := ReadHistory(dir, t0, utc, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sum, named := daySum(dayCounts(h)["2025-06-01"])
	if named != 50 || sum != want {
		t.Fatalf("the file's day: %d apps summing to %+v, want 50 summing to %+v", named, sum, want)
	}
}
