package state

import (
	"math"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/model"
)

// withFwd adds a forwarded section of rows (inside, remote, in, out, ...)
// to s, its totals their sum.
func withFwd(s *model.Snapshot, rows ...any) *model.Snapshot {
	s.Forwarded = model.Forwarded{Hosts: []model.ForwardedHosts{}}
	for i := 0; i < len(rows); i += 4 {
		h := model.ForwardedHosts{Inside: rows[i].(string), Remote: rows[i+1].(string), BytesIn: uint64(rows[i+2].(int)), BytesOut: uint64(rows[i+3].(int))}
		s.Forwarded.Hosts = append(s.Forwarded.Hosts, h)
		s.Forwarded.BytesIn += h.BytesIn
		s.Forwarded.BytesOut += h.BytesOut
	}
	return s
}

// TestForwardedSumSaturates: a store without the section's total (an
// older one, or damaged) sums its pairs, saturating as every other count
// of the store does, never wrapping around to a small number.
func TestForwardedSumSaturates(t *testing.T) {
	c := counts{
		fwdKey("10.0.0.2", "192.0.2.7"): {In: math.MaxUint64 - 1, Out: 1},
		fwdKey("10.0.0.3", "192.0.2.8"): {In: 5, Out: 2},
	}
	f := c.forwarded()
	if f.BytesIn != math.MaxUint64 || f.BytesOut != 3 {
		t.Fatalf("forwarded sum = %d in, %d out; want %d (saturated) and 3", f.BytesIn, f.BytesOut, uint64(math.MaxUint64))
	}
	if len(f.Hosts) != 2 || f.Hosts[0].Inside != "10.0.0.2" {
		t.Fatalf("hosts = %+v, want the larger pair first", f.Hosts)
	}
}

func TestForwardedFlushReopen(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 23, 59, 58, 0, utc)
	clk := &clock{t: t0}
	s := open(t, dir, clk, nil)
	s.Consume(withFwd(snap(t0, 0, "curl", 100, 10), "10.0.0.2", "192.0.2.7", 1000, 50))
	s.Consume(withFwd(snap(t0.Add(time.Second), 0, "curl", 100, 10), "10.0.0.2", "192.0.2.7", 1500, 60, "10.0.0.3", "*", 7, 8))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// June 2, pending at Close.
	s.Consume(withFwd(snap(t0.Add(3*time.Second), 0, "curl", 100, 10), "10.0.0.2", "192.0.2.7", 1600, 60, "10.0.0.3", "*", 7, 108))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, clk, nil)
	got := s.Forwarded()
	want := []model.ForwardedHosts{
		{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 1600, BytesOut: 60},
		{Inside: "10.0.0.3", Remote: "*", BytesIn: 7, BytesOut: 108},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Forwarded() = %+v, want %+v", got, want)
	}
	if apps, _ := s.Totals(); len(apps) != 1 || apps["curl"] != (model.Totals{In: 100, Out: 10}) {
		t.Fatalf("Totals apps = %v, want curl alone: forwarded bytes are no app", apps)
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.Usage("day", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Periods) != 2 {
		t.Fatalf("%d periods, want 2: %+v", len(u.Periods), u.Periods)
	}
	tests := []struct {
		name string
		got  PeriodUsage
		want ForwardedBytes
		in   uint64 // the period's own bytes in: curl's alone
	}{
		{"June 1", u.Periods[0], ForwardedBytes{BytesIn: 1507, BytesOut: 68, Hosts: []ForwardedHostBytes{
			{"10.0.0.2", "192.0.2.7", 1500, 60}, {"10.0.0.3", "*", 7, 8}}}, 100},
		{"June 2", u.Periods[1], ForwardedBytes{BytesIn: 100, BytesOut: 100, Hosts: []ForwardedHostBytes{
			{"10.0.0.2", "192.0.2.7", 100, 0}, {"10.0.0.3", "*", 0, 100}}}, 0},
		{"total", u.Total, ForwardedBytes{BytesIn: 1607, BytesOut: 168, Hosts: []ForwardedHostBytes{
			{"10.0.0.2", "192.0.2.7", 1600, 60}, {"10.0.0.3", "*", 7, 108}}}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got.Forwarded, tt.want) {
				t.Errorf("forwarded %+v, want %+v", tt.got.Forwarded, tt.want)
			}
			if tt.got.BytesIn != tt.in || len(tt.got.Apps) > 1 {
				t.Errorf("bytes in %d apps %+v, want %d and no forwarded app", tt.got.BytesIn, tt.got.Apps, tt.in)
			}
		})
	}
}

// TestForwardedSectionTotalsKept: the section's totals are stored apart
// from the pairs, so they stay what the agent reported.
func TestForwardedSectionTotalsKept(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s := open(t, t.TempDir(), &clock{t: t0}, nil)
	sn := withFwd(snap(t0, 0), "10.0.0.2", "192.0.2.7", 10, 20)
	sn.Forwarded.BytesIn, sn.Forwarded.BytesOut = 1000, 2000 // more than the listed pairs
	s.Consume(sn)
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := h.Usage("month", 0)
	if f := u.Total.Forwarded; f.BytesIn != 1000 || f.BytesOut != 2000 || len(f.Hosts) != 1 {
		t.Fatalf("total forwarded %+v, want the section's 1000/2000 and one pair", f)
	}
}

// TestStoreBeforeForwarded opens a store as bwmon wrote it before the
// forwarded section existed (schema 1, app and unattributed keys only).
func TestStoreBeforeForwarded(t *testing.T) {
	dir := t.TempDir()
	created := time.Date(2025, 5, 30, 9, 0, 0, 0, utc)
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		meta.Put(keyVersion, []byte("1"))
		meta.Put(keyCreated, []byte(created.Format(time.RFC3339Nano)))
		tot, _ := tx.CreateBucket(bucketTotals)
		tot.Put([]byte("app/curl"), encodeCounts(model.Totals{In: 500, Out: 5}))
		tot.Put([]byte("unattributed/no_socket"), encodeCounts(model.Totals{In: 3}))
		daily, _ := tx.CreateBucket(bucketDaily)
		day, _ := daily.CreateBucket([]byte("2025-05-30"))
		return day.Put([]byte("app/curl"), encodeCounts(model.Totals{In: 500, Out: 5}))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	t1 := created.Add(time.Hour)
	clk := &clock{t: t1}
	s := open(t, dir, clk, nil)
	if apps, _ := s.Totals(); apps["curl"] != (model.Totals{In: 500, Out: 5}) || !s.Since().Equal(created) {
		t.Fatalf("old store: apps %v since %v, want curl 500/5 since %v", apps, s.Since(), created)
	}
	if f := s.Forwarded(); f == nil || len(f) != 0 {
		t.Fatalf("old store: Forwarded() = %#v, want empty, not nil", f)
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := h.Usage("day", 0)
	if f := u.Total.Forwarded; f.Hosts == nil || f.BytesIn != 0 || u.Total.BytesIn != 503 {
		t.Fatalf("old store: total %+v", u.Total)
	}
	// It takes forwarded bytes from now on.
	s.Consume(withFwd(snap(t1, 3, "curl", 500, 5), "fd00::2", "2001:db8::9", 40, 2))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, clk, nil)
	if f := s.Forwarded(); len(f) != 1 || f[0].Inside != "fd00::2" || f[0].Remote != "2001:db8::9" || f[0].BytesIn != 40 {
		t.Fatalf("after adding forwarded bytes to an old store: %+v", f)
	}
}

// TestForwardedRestoreAcrossReopen runs the aggregator into the store,
// closes both, and restores a new aggregator from the reopened store: the
// forwarded totals continue where they were.
func TestForwardedRestoreAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	clk := &clock{t: t0}
	pair := func(inside, remote string) model.HostPair {
		return model.HostPair{Inside: netip.MustParseAddr(inside), Remote: netip.MustParseAddr(remote)}
	}
	a1, a2 := pair("10.0.0.2", "192.0.2.7"), pair("10.0.0.3", "192.0.2.8")
	run := func(s *Store, restore bool, adds func(c *model.MonitorEntryCollection, now time.Time)) *model.Snapshot {
		m := monitorFunc(adds)
		a := aggregator.New(aggregator.Config{ForwardedPairs: 1}, []aggregator.Monitor{m}, []aggregator.Consumer{s}, nil, t0)
		if restore {
			apps, unatt := s.Totals()
			a.Restore(apps, unatt, s.Since())
			a.RestoreForwarded(s.Forwarded())
		}
		return a.Tick(t0.Add(time.Second))
	}
	s := open(t, dir, clk, nil)
	run(s, false, func(c *model.MonitorEntryCollection, now time.Time) {
		c.Add(model.KeyForwarded(a1), model.Info{Forwarded: &a1}, 1000, 10, now)
		c.Add(model.KeyForwarded(a2), model.Info{Forwarded: &a2}, 200, 20, now) // past the bound of 1
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, clk, nil)
	snap := run(s, true, func(c *model.MonitorEntryCollection, now time.Time) {
		c.Add(model.KeyForwarded(a1), model.Info{Forwarded: &a1}, 1, 1, now)
		c.Add(model.KeyForwarded(a2), model.Info{Forwarded: &a2}, 2, 2, now)
	})
	f := snap.Forwarded
	want := []model.ForwardedHosts{
		{Inside: "10.0.0.3", Remote: "*", BytesIn: 202, BytesOut: 22, RateIn: 2, RateOut: 2},
		{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 1001, BytesOut: 11, RateIn: 1, RateOut: 1},
	}
	if f.BytesIn != 1203 || f.BytesOut != 33 || !reflect.DeepEqual(f.Hosts, want) {
		t.Fatalf("after restoring: %d/%d %+v\nwant 1203/33 %+v", f.BytesIn, f.BytesOut, f.Hosts, want)
	}
}

// monitorFunc is an aggregator.Monitor whose Collect calls f.
type monitorFunc func(c *model.MonitorEntryCollection, now time.Time)

func (f monitorFunc) Name() string              { return "func" }
func (f monitorFunc) Stats() model.MonitorStats { return model.MonitorStats{} }
func (f monitorFunc) Close() error              { return nil }
func (f monitorFunc) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	f(c, now)
	return nil
}
