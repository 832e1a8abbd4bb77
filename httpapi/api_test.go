package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestApps(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	resp, body := get(t, ts.URL+"/api/v1/apps")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("before the first tick: %d %s, want 503 with a JSON error", resp.StatusCode, body)
	}

	sn := richSnap(t0)
	s.Consume(sn)
	resp, body = get(t, ts.URL+"/api/v1/apps")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The very object `bwmon -output json` prints (json.Encoder without
	// HTML escapes, one line).
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sn); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(body, '\n'), line.Bytes()) {
		t.Fatalf("body\n%s\nwant the -output json line\n%s", body, line.Bytes())
	}
	var back model.Snapshot
	if err := json.Unmarshal(body, &back); err != nil || len(back.Apps) != 2 || back.Apps[1].App != sn.Apps[1].App {
		t.Fatalf("body does not decode back to the snapshot: %v %+v", err, back)
	}
}

func TestHistoryEndpoint(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	for i := 1; i <= 120; i++ {
		s.Consume(snap(t0.Add(time.Duration(i)*time.Second), map[string][2]float64{"curl": {float64(i), 0}, "my app/2": {5, 5}}))
	}
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantPoints int
		wantRes    float64
		wantError  string
	}{
		{"default since", "app=curl", 200, 120, 1, ""},
		{"since 30s", "app=curl&since=30s", 200, 30, 1, ""},
		{"since 1d", "app=curl&since=1d", 200, 3, 60, ""}, // 12:00, 12:01, and the tick at 12:02:00
		{"escaped name", "app=my+app%2F2&since=1m", 200, 60, 1, ""},
		{"unknown app", "app=nobody", 404, 0, 0, `unknown app "nobody"`},
		{"no app", "since=1m", 400, 0, 0, "missing app"},
		{"bad since", "app=curl&since=yesterday", 400, 0, 0, `bad since "yesterday"`},
		{"since too long", "app=curl&since=48h", 400, 0, 0, "at most 24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+"/api/v1/history?"+tt.query)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				var e errorReply
				if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tt.wantError) {
					t.Fatalf("body %s, want a JSON error containing %q", body, tt.wantError)
				}
				return
			}
			var h historyReply
			if err := json.Unmarshal(body, &h); err != nil {
				t.Fatal(err)
			}
			if len(h.Points) != tt.wantPoints || h.ResolutionS != tt.wantRes {
				t.Fatalf("%d points at %v s, want %d at %v s", len(h.Points), h.ResolutionS, tt.wantPoints, tt.wantRes)
			}
		})
	}
}

// TestHistoriesEndpoint: GET /api/v1/histories answers for several apps
// at once, each as /api/v1/history would, in the order asked, lists the
// apps it does not know apart, and refuses more than MaxHistoryApps.
func TestHistoriesEndpoint(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	for i := 1; i <= 120; i++ {
		s.Consume(snap(t0.Add(time.Duration(i)*time.Second), map[string][2]float64{"curl": {float64(i), 0}, "my app/2": {5, 5}, "idle": {0, 0}}))
	}
	// others is n apps besides curl, as a query.
	others := func(n int) string {
		q := ""
		for i := range n {
			q += fmt.Sprintf("&app=a%d", i)
		}
		return q
	}
	type app struct {
		name   string
		points int
	}
	tests := []struct {
		name        string
		query       string
		wantStatus  int
		wantApps    []app
		wantUnknown []string
		wantRes     float64
		wantError   string
	}{
		{"two apps", "app=curl&app=my+app%2F2&since=30s", 200, []app{{"curl", 30}, {"my app/2", 30}}, []string{}, 1, ""},
		{"order kept", "app=my+app%2F2&app=curl&since=30s", 200, []app{{"my app/2", 30}, {"curl", 30}}, []string{}, 1, ""},
		{"one app, default since", "app=curl", 200, []app{{"curl", 120}}, []string{}, 1, ""},
		{"minutes", "app=curl&app=my+app%2F2&since=1d", 200, []app{{"curl", 3}, {"my app/2", 3}}, []string{}, 60, ""},
		{"repeated app once", "app=curl&app=curl&since=10s", 200, []app{{"curl", 10}}, []string{}, 1, ""},
		{"idle app has no points", "app=idle&app=curl&since=10s", 200, []app{{"idle", 0}, {"curl", 10}}, []string{}, 1, ""},
		{"unknown apart", "app=gone&app=curl&since=10s", 200, []app{{"curl", 10}}, []string{"gone"}, 1, ""},
		{"sixteen, repeats aside", "app=curl" + strings.Repeat("&app=curl", 40) + others(MaxHistoryApps-1), 200, nil, nil, 1, ""},
		{"too many", "app=curl" + others(MaxHistoryApps), 400, nil, nil, 0, "too many apps: at most 16"},
		{"no app", "since=1m", 400, nil, nil, 0, "missing app"},
		{"empty app", "app=curl&app=", 400, nil, nil, 0, "empty app"},
		{"name too long", "app=" + strings.Repeat("x", 300), 400, nil, nil, 0, "no app has a name longer than 256 bytes"},
		{"bad since", "app=curl&since=yesterday", 400, nil, nil, 0, `bad since "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+"/api/v1/histories?"+tt.query)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%.300s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				var e errorReply
				if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tt.wantError) {
					t.Fatalf("body %s, want a JSON error containing %q", body, tt.wantError)
				}
				return
			}
			var h historiesReply
			if err := json.Unmarshal(body, &h); err != nil {
				t.Fatal(err)
			}
			if tt.wantApps == nil { // only the count matters
				if n := len(h.Apps) + len(h.Unknown); n != MaxHistoryApps {
					t.Fatalf("%d apps answered, want %d", n, MaxHistoryApps)
				}
				return
			}
			var got []app
			for _, a := range h.Apps {
				got = append(got, app{a.App, len(a.Points)})
			}
			if !reflect.DeepEqual(got, tt.wantApps) || !reflect.DeepEqual(h.Unknown, tt.wantUnknown) || h.ResolutionS != tt.wantRes {
				t.Fatalf("apps %v, unknown %q at %v s; want %v, %q at %v s", got, h.Unknown, h.ResolutionS, tt.wantApps, tt.wantUnknown, tt.wantRes)
			}
		})
	}
	// Each app's points are those of /api/v1/history.
	_, one := get(t, ts.URL+"/api/v1/history?app=curl&since=1m")
	_, both := get(t, ts.URL+"/api/v1/histories?app=my+app%2F2&app=curl&since=1m")
	var h1 historyReply
	var h2 historiesReply
	if err := json.Unmarshal(one, &h1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(both, &h2); err != nil {
		t.Fatal(err)
	}
	if len(h2.Apps) != 2 || !reflect.DeepEqual(h2.Apps[1].Points, h1.Points) || h2.SinceS != h1.SinceS {
		t.Fatalf("curl's points differ between /history and /histories:\n%s\n%s", one, both)
	}
}

// TestTokenEveryEndpoint: with a token, every data endpoint refuses a
// request without it or with a wrong one (401 and nothing else), and the
// page's files refuse a wrong one.
func TestTokenEveryEndpoint(t *testing.T) {
	const token = "s3cret-Token"
	s, ts := newTestServer(t, Options{Token: token})
	s.Consume(richSnap(t0))
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	tests := []struct {
		name   string
		path   string
		header []string
		want   int
	}{
		{"apps without", "/api/v1/apps", nil, 401},
		{"apps wrong", "/api/v1/apps", bearer("s3cret-Toke"), 401},
		{"apps wrong scheme", "/api/v1/apps", []string{"Authorization", "Basic " + token}, 401},
		{"apps right", "/api/v1/apps", bearer(token), 200},
		{"history without", "/api/v1/history?app=curl", nil, 401},
		{"history wrong", "/api/v1/history?app=curl", bearer("x"), 401},
		{"history right", "/api/v1/history?app=curl", bearer(token), 200},
		{"histories without", "/api/v1/histories?app=curl&app=x", nil, 401},
		{"histories wrong", "/api/v1/histories?app=curl", bearer("x"), 401},
		{"histories right", "/api/v1/histories?app=curl", bearer(token), 200},
		{"unknown api path without", "/api/v2/apps", nil, 401},
		{"live without", "/api/v1/live", nil, 401},
		{"live wrong", "/api/v1/live", bearer("nope"), 401},
		{"live wrong subprotocol", "/api/v1/live", []string{"Sec-WebSocket-Protocol", "bwmon, bearer.bm9wZQ"}, 401},
		{"stats without", "/api/v1/stats", nil, 401},
		{"stats wrong", "/api/v1/stats", bearer("x"), 401},
		{"stats right", "/api/v1/stats", bearer(token), 200},
		{"metrics without", "/metrics", nil, 401},
		{"metrics wrong", "/metrics", bearer(token + "x"), 401},
		{"metrics right", "/metrics", bearer(token), 200},
		{"page without", "/", nil, 200},
		{"page wrong", "/", bearer("nope"), 401},
		{"script without", "/static/app.js", nil, 200},
		{"script wrong", "/static/app.js", bearer("nope"), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+tt.path, tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body %.200s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 401 {
				if strings.Contains(string(body), "curl") || resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("401 leaks data or lacks WWW-Authenticate: %s", body)
				}
			}
		})
	}
}

func TestHostCheck(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		host    string
		want    int
		wantErr string
	}{
		{"loopback ip", Options{}, "127.0.0.1:8000", 200, ""},
		{"localhost", Options{}, "localhost:8000", 200, ""},
		{"ipv6 loopback", Options{}, "[::1]:8000", 200, ""},
		{"ipv6 loopback without port", Options{}, "[::1]", 200, ""},
		{"half a bracket", Options{}, "::1]", 403, "is not this agent"},
		{"rebound domain", Options{}, "evil.example:8000", 403, "is not this agent"},
		{"allowed origin's host", Options{AllowedOrigins: []string{"https://dash.example"}}, "dash.example", 200, ""},
		{"any host when serving every interface", Options{Listen: ":8000"}, "bwmon.lan:8000", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, tt.opts)
			s.Consume(richSnap(t0))
			resp, body := get(t, ts.URL+"/api/v1/apps", "Host", tt.host)
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.wantErr) {
				t.Fatalf("status %d %.200s, want %d %q", resp.StatusCode, body, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPage(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tests := []struct {
		path, wantType, wantBody string
		wantStatus               int
	}{
		{"/", "text/html", "<title>bwmon</title>", 200},
		{"/static/app.js", "javascript", "textContent", 200},
		{"/static/style.css", "text/css", ".banner", 200},
		{"/static/vendor/uPlot.iife.min.js", "javascript", "uPlot", 200},
		{"/static/vendor/uPlot.min.css", "text/css", ".uplot", 200},
		{"/nothing", "application/json", "no such page", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, ts.URL+tt.path)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(resp.Header.Get("Content-Type"), tt.wantType) || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("%d %q %.100s; want %d %q containing %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.wantStatus, tt.wantType, tt.wantBody)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); tt.wantStatus == 200 && !strings.Contains(csp, "script-src 'self'") {
				t.Fatalf("Content-Security-Policy %q", csp)
			}
		})
	}
	// The page loads its scripts from the agent only, and they use
	// textContent only: no HTML built from strings.
	_, html := get(t, ts.URL+"/")
	srcs := regexp.MustCompile(`<(?:script|link)[^>]+(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(html), -1)
	scripts := 0
	for _, m := range srcs {
		src := m[1]
		if src == "data:," { // the empty favicon
			continue
		}
		if !strings.HasPrefix(src, "/static/") {
			t.Errorf("the page loads %s, not from /static/", src)
			continue
		}
		if !strings.HasSuffix(src, ".js") || strings.Contains(src, "/vendor/") {
			continue
		}
		scripts++
		resp, js := get(t, ts.URL+src)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", src, resp.StatusCode)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(string(js), bad) {
				t.Errorf("%s uses %s: app names are untrusted", src, bad)
			}
		}
	}
	if scripts < 2 {
		t.Errorf("found %d scripts of the page's own in %s", scripts, html)
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"as browsers send it", "https://dash.example:3000", "https://dash.example:3000"},
		{"lower-cased", "HTTPS://Dash.Example", "https://dash.example"},
		{"trailing slash", "http://dash.example/", "http://dash.example"},
		{"ipv6", "http://[::1]:8000", "http://[::1]:8000"},
		{"no scheme", "dash.example", ""},
		{"other scheme", "ftp://dash.example", ""},
		{"path", "https://dash.example/path", ""},
		{"query", "https://dash.example?x=1", ""},
		{"user", "https://me@dash.example", ""},
		{"no host", "https://", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeOrigin(tt.in)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "bad origin") {
					t.Fatalf("NormalizeOrigin(%q) = %q, %v; want a bad origin error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadOrigin(t *testing.T) {
	for _, o := range []string{"dash.example", "ftp://dash.example", "https://dash.example/path", "https://"} {
		if _, err := New(Options{AllowedOrigins: []string{o}}); err == nil || !strings.Contains(err.Error(), "bad origin") {
			t.Errorf("origin %q: err %v, want bad origin", o, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 15 * time.Minute, false},
		{"90s", 90 * time.Second, false},
		{"15m", 15 * time.Minute, false},
		{"6h", 6 * time.Hour, false},
		{"1d", 24 * time.Hour, false},
		{"24h", 24 * time.Hour, false},
		{"25h", 0, true},
		{"2d", 0, true},
		{"0s", 0, true},
		{"-5m", 0, true},
		{"soon", 0, true},
		{"15", 0, true},
		{"d", 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := ParseSince(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseSince(%q) = %s, %v; want %s, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s, ts := newTestServer(t, Options{MaxApps: 7, MaxClients: 3})
	var before statsReply
	resp, body := get(t, ts.URL+"/api/v1/stats")
	if resp.StatusCode != 200 || json.Unmarshal(body, &before) != nil {
		t.Fatalf("before the first tick: %d %s", resp.StatusCode, body)
	}
	if before.Time != nil || before.Limits.Apps != model.DefaultLimitApps || before.Limits.HistoryApps != 7 ||
		before.Limits.WebSocketClients != 3 || before.Limits.ActiveWindowS != model.DefaultLimitActiveWindow.Seconds() {
		t.Fatalf("before the first tick: %s", body)
	}

	sn := richSnap(t0)
	sn.Agent.FoldedApps = 1412
	sn.Agent.Limits = model.Limits{Apps: 50, TopApps: 5, DayApps: 300}
	sn.Agent.Monitors["pipe-\u202e"] = model.MonitorStats{Flows: 1, ReadErrors: 4}
	s.Consume(sn)
	s.Consume(snap(t0.Add(time.Second), map[string][2]float64{"a": {1, 0}})) // no Agent: the defaults
	s.Consume(sn)
	resp, body = get(t, ts.URL+"/api/v1/stats")
	var got statsReply
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"time", got.Time != nil && got.Time.Equal(t0), true},
		{"apps", got.Limits.Apps, 50},
		{"top apps", got.Limits.TopApps, 5},
		{"day apps", got.Limits.DayApps, 300},
		{"active window default", got.Limits.ActiveWindowS, model.DefaultLimitActiveWindow.Seconds()},
		{"history apps: the server's", got.Limits.HistoryApps, 7},
		{"websocket clients: the server's", got.Limits.WebSocketClients, 3},
		{"namespaces default", got.Limits.Namespaces, model.DefaultLimitNamespaces},
		{"folded", got.FoldedApps, uint64(1412)},
		{"entries", got.Entries, 7},
		{"history", got.History.Apps, 2}, // curl and a
		{"monitor", got.Monitors["conntrack"], monitorReply{Flows: 12, Processes: 34, EventsLost: 5, ReadErrors: 2, NamespacesRead: 3, NamespacesSkipped: 4}},
		{"hostile monitor name cleaned", got.Monitors[`pipe-\u202e`], monitorReply{Flows: 1, ReadErrors: 4}},
		{"websocket", got.WebSocket.Clients, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("got %v, want %v (body %s)", tt.got, tt.want, body)
			}
		})
	}
	if strings.Contains(string(body), "\u202e") {
		t.Error("the stats carry a raw bidi override")
	}
}

func TestProcesses(t *testing.T) {
	procs := []model.ProcessUsage{{PID: 42, Name: "curl", Cmdline: `curl \x1b[2J`, User: model.UserRef{UID: 0, Name: "root"}, RateIn: 10}}
	s, ts := newTestServer(t, Options{Processes: func(app string) []model.ProcessUsage {
		if app == "curl" {
			return procs
		}
		return nil
	}})
	s.Consume(richSnap(t0))
	tests := []struct {
		name, query string
		status      int
		want        string
	}{
		{"an app", "app=curl", 200, `"pid":42`},
		{"unknown app", "app=nosuch", 404, `unknown app \"nosuch\"`},
		{"no app", "", 400, "missing app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+"/api/v1/processes?"+tt.query)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want %d with %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	var rep struct {
		App       string               `json:"app"`
		Time      time.Time            `json:"time"`
		Processes []model.ProcessUsage `json:"processes"`
	}
	_, body := get(t, ts.URL+"/api/v1/processes?app=curl")
	if err := json.Unmarshal(body, &rep); err != nil || rep.App != "curl" || !rep.Time.Equal(t0) || len(rep.Processes) != 1 || rep.Processes[0].Cmdline != procs[0].Cmdline {
		t.Fatalf("reply %s (%v), want curl's process at the tick's time", body, err)
	}
	_, ts2 := newTestServer(t, Options{})
	if resp, _ := get(t, ts2.URL+"/api/v1/processes?app=curl"); resp.StatusCode != 404 {
		t.Fatalf("without Processes: %d, want 404", resp.StatusCode)
	}
}
