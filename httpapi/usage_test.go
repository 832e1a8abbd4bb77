package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

// usageStore opens a state store (closed at cleanup) holding three days
// from t0: May 31 and June 1 written, June 2 counted but not written yet.
// Its clock reads June 2.
func usageStore(t *testing.T, t0 time.Time) *state.Store {
	t.Helper()
	var now atomic.Int64
	now.Store(t0.UnixNano())
	s, err := state.Open(state.Options{Dir: t.TempDir(), Flush: time.Hour, Location: time.UTC,
		Now: func() time.Time { return time.Unix(0, now.Load()).UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tick := func(at time.Time, noSocket uint64, curlIn, curlOut, sshIn, sshOut uint64) *model.Snapshot {
		return &model.Snapshot{Time: at,
			Apps:         []model.AppUsage{{App: "curl", BytesIn: curlIn, BytesOut: curlOut}, {App: "ssh", BytesIn: sshIn, BytesOut: sshOut}},
			Unattributed: model.Unattributed{Reasons: map[model.Reason]model.UnattributedSum{model.ReasonNoSocket: {BytesIn: noSocket}}}}
	}
	s.Consume(tick(t0, 3, 100, 10, 5, 5))                  // May 31
	s.Consume(tick(t0.AddDate(0, 0, 1), 3, 150, 10, 5, 5)) // June 1
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Consume(tick(t0.AddDate(0, 0, 2), 4, 150, 10, 505, 5)) // June 2, pending
	now.Store(t0.AddDate(0, 0, 2).UnixNano())
	return s
}

func TestUsageHandler(t *testing.T) {
	t0 := time.Date(2025, 5, 31, 12, 0, 0, 0, time.UTC)
	s := usageStore(t, t0)
	srv := httptest.NewServer(usageHandler(s))
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
			var u state.Usage
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

func TestParseUsageQuery(t *testing.T) {
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name, query string
		want        UsageQuery
		wantErr     string
	}{
		{"defaults", "", UsageQuery{Period: "day", Apps: state.DefaultUsageApps}, ""},
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
			got, err := ParseUsageQuery(q, now, time.UTC)
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
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		uq, err := ParseUsageQuery(q, now, time.UTC)
		if err != nil {
			return
		}
		if (uq.Period != "day" && uq.Period != "month") || uq.Apps < 0 {
			t.Fatalf("ParseUsageQuery(%q) = %+v", raw, uq)
		}
	})
}

// TestUsageThroughServer: the server serves the store's usage behind its
// token, and not at all without a store.
func TestUsageThroughServer(t *testing.T) {
	const token = "s3cret"
	_, ts := newTestServer(t, Options{Token: token, Usage: usageStore(t, time.Date(2025, 5, 31, 12, 0, 0, 0, time.UTC))})
	if resp, _ := get(t, ts.URL+"/api/v1/usage"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: status %d, want 401", resp.StatusCode)
	}
	resp, body := get(t, ts.URL+"/api/v1/usage?period=month", "Authorization", "Bearer "+token)
	var u state.Usage
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &u) != nil || u.Period != "month" || len(u.Periods) != 2 {
		t.Fatalf("with the token: status %d, body %.300s; want two months", resp.StatusCode, body)
	}
	_, none := newTestServer(t, Options{})
	if resp, _ := get(t, none.URL+"/api/v1/usage"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("without a store: status %d, want 404", resp.StatusCode)
	}
}
