package state

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
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

func TestUsageHandler(t *testing.T) {
	t0 := time.Date(2025, 5, 31, 12, 0, 0, 0, utc)
	clk := &clock{t: t0}
	s := open(t, t.TempDir(), clk, nil)
	s.Consume(snap(t0, 3, "curl", 100, 10, "ssh", 5, 5))                  // May 31
	s.Consume(snap(t0.AddDate(0, 0, 1), 3, "curl", 150, 10, "ssh", 5, 5)) // June 1
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Consume(snap(t0.AddDate(0, 0, 2), 4, "curl", 150, 10, "ssh", 505, 5)) // June 2, pending
	clk.set(t0.AddDate(0, 0, 2))
	srv := httptest.NewServer(UsageHandler(s))
	defer srv.Close()

	type period struct {
		start          string
		in, out        uint64
		firstApp       string
		unattributedIn uint64
	}
	tests := []struct {
		name   string
		method string
		query  string
		code   int
		want   []period
	}{
		{"days by default", "GET", "", 200, []period{
			{"2025-05-31", 108, 15, "curl", 3}, {"2025-06-01", 50, 0, "curl", 0}, {"2025-06-02", 501, 0, "ssh", 1}}},
		{"months", "GET", "?period=month", 200, []period{
			{"2025-05", 108, 15, "curl", 3}, {"2025-06", 551, 0, "ssh", 1}}},
		{"since two days", "GET", "?period=day&since=2d", 200, []period{
			{"2025-06-01", 50, 0, "curl", 0}, {"2025-06-02", 501, 0, "ssh", 1}}},
		{"one app a period", "GET", "?apps=1", 200, []period{
			{"2025-05-31", 108, 15, "curl", 3}, {"2025-06-01", 50, 0, "curl", 0}, {"2025-06-02", 501, 0, "ssh", 1}}},
		{"bad period", "GET", "?period=week", 400, nil},
		{"bad apps", "GET", "?apps=-1", 400, nil},
		{"bad since", "GET", "?since=soon", 400, nil},
		{"post", "POST", "", 405, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+"/api/v1/usage"+tt.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d (%s), want %d with JSON: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.code, body)
			}
			if tt.code != 200 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Fatalf("error body %s, want {\"error\": ...}", body)
				}
				return
			}
			var u Usage
			if err := json.Unmarshal(body, &u); err != nil {
				t.Fatal(err)
			}
			if !u.Since.Equal(t0) {
				t.Fatalf("since = %v, want %v", u.Since, t0)
			}
			if tot := u.Total; tot.BytesIn != 659 || tot.BytesOut != 15 || tot.Apps[0].App != "ssh" || tot.Apps[0].BytesIn != 505 {
				t.Fatalf("total = %+v, want 659/15 with ssh's 505 first", tot)
			}
			if len(u.Periods) != len(tt.want) {
				t.Fatalf("periods = %s, want %d", body, len(tt.want))
			}
			for i, w := range tt.want {
				p := u.Periods[i]
				if strings.Contains(tt.query, "apps=1") && (len(p.Apps) > 2 || len(p.Apps) == 2 && p.Apps[1].App != "(other)") {
					t.Fatalf("period %d lists %+v, want one app and (other)", i, p.Apps)
				}
				if p.Start != w.start || p.BytesIn != w.in || p.BytesOut != w.out || p.Apps[0].App != w.firstApp || p.Unattributed.BytesIn != w.unattributedIn {
					t.Fatalf("period %d = %+v, want %+v", i, p, w)
				}
			}
		})
	}
	s.Close()
	resp, err := http.Get(srv.URL + "/api/v1/usage")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: status %d, want 503", resp.StatusCode)
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

func TestParseUsageQuery(t *testing.T) {
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, utc)
	tests := []struct {
		name, query string
		want        UsageQuery
		wantErr     string
	}{
		{"defaults", "", UsageQuery{Period: "day", Apps: DefaultUsageApps}, ""},
		{"all of it", "period=month&since=2d&apps=0", UsageQuery{Period: "month", From: now.AddDate(0, 0, -1), Apps: 0}, ""},
		{"apps", "apps=5", UsageQuery{Period: "day", Apps: 5}, ""},
		{"negative apps", "apps=-1", UsageQuery{}, "bad apps"},
		{"apps not a number", "apps=many", UsageQuery{}, "bad apps"},
		{"bad period", "period=year", UsageQuery{}, "bad period"},
		{"bad since", "since=soon", UsageQuery{}, "bad since"},
		{"long garbage is cut in the error", "period=" + strings.Repeat("x", 10000), UsageQuery{}, "bad period"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := ParseUsageQuery(q, now, utc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || len(err.Error()) > 300 {
					t.Fatalf("error %v, want a short one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Period != tt.want.Period || got.Apps != tt.want.Apps || !got.From.Equal(tt.want.From) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseUsageQuery(f *testing.F) {
	for _, s := range []string{"", "period=month&since=7d&apps=0", "since=36h", "since=2025-06-01", "apps=-1", "since=99999999999d", "since=%ff"} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, utc)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		uq, err := ParseUsageQuery(q, now, utc)
		if err != nil {
			return
		}
		if (uq.Period != "day" && uq.Period != "month") || uq.Apps < 0 {
			t.Fatalf("ParseUsageQuery(%q) = %+v", raw, uq)
		}
	})
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
