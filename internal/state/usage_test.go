package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, utc)
	tests := []struct {
		name, in string
		want     time.Time
		wantErr  bool
	}{
		{"days count today", "7d", time.Date(2025, 6, 4, 15, 0, 0, 0, utc), false},
		{"one day is today", "1d", now, false},
		{"duration", "36h", time.Date(2025, 6, 9, 3, 0, 0, 0, utc), false},
		{"date", "2025-05-01", time.Date(2025, 5, 1, 0, 0, 0, 0, utc), false},
		{"zero days", "0d", time.Time{}, true},
		{"negative", "-3d", time.Time{}, true},
		{"garbage", "last week", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSince(tt.in, now, utc)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("ParseSince(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestUsageAppsBound(t *testing.T) {
	h := &History{
		Since:  time.Date(2025, 6, 1, 0, 0, 0, 0, utc),
		Totals: counts{"app/a": {In: 100}, "app/b": {In: 50}, "app/(other)": {In: 5}, "unattributed/no_socket": {In: 1}},
		Days: []Day{
			{Date: "2025-06-01", Counts: counts{"app/a": {In: 60}, "app/b": {In: 30, Out: 1}, "app/c": {In: 20}, "app/d": {In: 10}, "unattributed/no_socket": {In: 1}}},
			{Date: "2025-06-02", Counts: counts{"app/a": {In: 40}, "app/(other)": {In: 5}, "app/b": {In: 20}}},
			{Date: "bad", Counts: counts{"app/z": {In: 1}}}, // skipped, not a panic
		},
	}
	type line struct {
		app    string
		in     uint64
		folded int
	}
	tests := []struct {
		name   string
		period string
		apps   int
		want   [][]line // each period's apps
		total  []line
	}{
		{"two a day", "day", 2,
			[][]line{{{"a", 60, 0}, {"b", 30, 0}, {"(other)", 30, 2}}, {{"a", 40, 0}, {"b", 20, 0}, {"(other)", 5, 0}}},
			[]line{{"a", 100, 0}, {"b", 50, 0}, {"(other)", 5, 0}}},
		{"one a month: the store's other and the rest in one line", "month", 1,
			[][]line{{{"a", 100, 0}, {"(other)", 85, 3}}},
			[]line{{"a", 100, 0}, {"(other)", 55, 1}}},
		{"all", "day", 0,
			[][]line{{{"a", 60, 0}, {"b", 30, 0}, {"c", 20, 0}, {"d", 10, 0}}, {{"a", 40, 0}, {"b", 20, 0}, {"(other)", 5, 0}}},
			[]line{{"a", 100, 0}, {"b", 50, 0}, {"(other)", 5, 0}}},
	}
	lines := func(p PeriodUsage) []line {
		var out []line
		for _, a := range p.Apps {
			out = append(out, line{a.App, a.BytesIn, a.Folded})
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := h.Usage(tt.period, tt.apps)
			if err != nil {
				t.Fatal(err)
			}
			if len(u.Periods) != len(tt.want) {
				t.Fatalf("%d periods, want %d", len(u.Periods), len(tt.want))
			}
			for i, p := range u.Periods {
				if got := lines(p); !slices.Equal(got, tt.want[i]) {
					t.Fatalf("period %s: %v, want %v", p.Start, got, tt.want[i])
				}
				// Folding keeps the period's sums.
				var in uint64
				for _, a := range p.Apps {
					in += a.BytesIn
				}
				if in+p.Unattributed.BytesIn != p.BytesIn {
					t.Fatalf("period %s: apps sum to %d in, the period says %d", p.Start, in, p.BytesIn)
				}
			}
			if got := lines(u.Total); !slices.Equal(got, tt.total) {
				t.Fatalf("total: %v, want %v", got, tt.total)
			}
		})
	}
	if _, err := h.Usage("day", -1); err == nil {
		t.Fatal("Usage with -1 apps: no error")
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"7d", "1d", "0d", "36h", "-1h", "2025-06-01", "2025-02-30", "9223372036854775807d", "d", ""} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, utc)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSince(s, now, utc)
		if err != nil {
			if got != (time.Time{}) || len(err.Error()) > 1000 {
				t.Fatalf("ParseSince(%q) = %v, %v", s, got, err)
			}
			return
		}
		_ = dateOf(got, utc)
	})
}

// TestUsageFoldsForwardedPairs: a period lists at most as many forwarding
// pairs as apps, the rest in one ("*", "*") row, so a gateway's usage stays
// bounded; the sums hold.
func TestUsageFoldsForwardedPairs(t *testing.T) {
	c := make(counts)
	for i := range 50 {
		c.add(fwdKey("10.0.0.2", fmt.Sprintf("192.0.2.%d", i)), uint64(100+i), 1)
	}
	p := periodUsage("2026-12-01", c, 10)
	f := p.Forwarded
	if len(f.Hosts) != 11 || f.Folded != 40 {
		t.Fatalf("%d pairs listed, %d folded; want 10 and a row of the other 40", len(f.Hosts), f.Folded)
	}
	var in, out uint64
	for _, h := range f.Hosts {
		in += h.BytesIn
		out += h.BytesOut
	}
	if last := f.Hosts[10]; last.Inside != "*" || last.Remote != "*" || in != f.BytesIn || out != f.BytesOut || out != 50 {
		t.Fatalf("rows sum to %d/%d, section %d/%d, last %+v", in, out, f.BytesIn, f.BytesOut, f.Hosts[10])
	}
	if all := periodUsage("2026-12-01", c, 0).Forwarded; len(all.Hosts) != 50 || all.Folded != 0 {
		t.Fatalf("apps = 0 lists %d pairs, folded %d; want all 50", len(all.Hosts), all.Folded)
	}
}
