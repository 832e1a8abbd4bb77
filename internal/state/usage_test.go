package state

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
		{"bad period", "GET", "?period=week", 400, nil},
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
