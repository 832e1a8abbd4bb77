package nettest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's prometheus package) a
// test started on a free loopback port, with its storage in a temporary
// directory. It is killed by its PID at cleanup.
type Prometheus struct {
	// URL is where it serves, http://127.0.0.1:PORT.
	URL string
	// PID is its process id.
	PID  int
	cmd  *exec.Cmd
	logs SyncBuffer
}

// promClient asks the test's Prometheus: an answer that does not come
// within its timeout fails the call (and Eventually retries it) instead of
// hanging the test.
var promClient = &http.Client{Timeout: 10 * time.Second}

// LookPrometheus returns the path of the prometheus binary, or skips tb
// where it is not installed (a failure under CI, which installs it).
func LookPrometheus(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("prometheus")
	if err != nil {
		Missing(tb, "prometheus not found: apt-get install prometheus (.ci/run installs it)")
	}
	return path
}

// StartPrometheus runs prometheus with the configuration config (YAML;
// rule files given by absolute path) and waits until it is ready.
func StartPrometheus(tb testing.TB, config string) *Prometheus {
	tb.Helper()
	bin := LookPrometheus(tb)
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	p := &Prometheus{URL: "http://" + addr}
	p.cmd = exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=1d", "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("starting prometheus: %v", err)
	}
	p.PID = p.cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-done
		if tb.Failed() {
			tb.Logf("prometheus log:\n%s", p.logs.String())
		}
	})
	Eventually(tb, 30*time.Second, func() error {
		select {
		case <-done:
			return fmt.Errorf("prometheus exited:\n%s", p.logs.String())
		default:
		}
		resp, err := promClient.Get(p.URL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus not ready: %s", resp.Status)
		}
		return nil
	})
	return p
}

// Series is one series of a query's result: a vector's sample is a
// series of one point, a scalar a series without labels.
type Series struct {
	Metric map[string]string
	Points []Point
}

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// Last returns the series' last value.
func (s Series) Last() float64 { return s.Points[len(s.Points)-1].V }

// Query evaluates q at time at (now when zero) through /api/v1/query.
func (p *Prometheus) Query(q string, at time.Time) ([]Series, error) {
	v := url.Values{"query": {q}}
	if !at.IsZero() {
		v.Set("time", promTime(at))
	}
	return p.api("/api/v1/query", v)
}

// QueryRange evaluates q from start to end every step through
// /api/v1/query_range.
func (p *Prometheus) QueryRange(q string, start, end time.Time, step time.Duration) ([]Series, error) {
	return p.api("/api/v1/query_range", url.Values{"query": {q}, "start": {promTime(start)}, "end": {promTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
}

// promTime is t as the API takes it: Unix seconds, to the millisecond.
func promTime(t time.Time) string { return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1e3) }

// api runs a query and decodes its vector, matrix or scalar.
func (p *Prometheus) api(path string, v url.Values) ([]Series, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(path+"?"+v.Encode(), &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", v.Get("query"), err)
	}
	var out []Series
	switch data.ResultType {
	case "vector":
		var r []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &r); err != nil {
			return nil, err
		}
		for _, s := range r {
			pt, err := point(s.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, Series{Metric: s.Metric, Points: []Point{pt}})
		}
	case "matrix":
		var r []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		if err := json.Unmarshal(data.Result, &r); err != nil {
			return nil, err
		}
		for _, s := range r {
			se := Series{Metric: s.Metric}
			for _, v := range s.Values {
				pt, err := point(v)
				if err != nil {
					return nil, err
				}
				se.Points = append(se.Points, pt)
			}
			out = append(out, se)
		}
	case "scalar":
		var r [2]any
		if err := json.Unmarshal(data.Result, &r); err != nil {
			return nil, err
		}
		pt, err := point(r)
		if err != nil {
			return nil, err
		}
		out = []Series{{Metric: map[string]string{}, Points: []Point{pt}}}
	default:
		return nil, fmt.Errorf("query %q: result type %q", v.Get("query"), data.ResultType)
	}
	return out, nil
}

// point decodes [unix seconds, "value"].
func point(v [2]any) (Point, error) {
	ts, ok1 := v[0].(float64)
	s, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return Point{}, fmt.Errorf("bad sample %v", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Point{}, fmt.Errorf("bad sample value %q: %w", s, err)
	}
	return Point{T: time.UnixMilli(int64(ts * 1e3)), V: f}, nil
}

// Alert is one alert of /api/v1/alerts.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
	Value       string            `json:"value"`
}

// Alerts returns the pending and firing alerts.
func (p *Prometheus) Alerts() ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", &data)
	return data.Alerts, err
}

// RuleHealth returns each rule's name and health ("ok", "err" or
// "unknown" before its first evaluation) with its last error.
func (p *Prometheus) RuleHealth() (map[string]string, error) {
	var data struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", &data); err != nil {
		return nil, err
	}
	h := map[string]string{}
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			h[r.Name] = strings.TrimSpace(r.Health + " " + r.LastError)
		}
	}
	return h, nil
}

// get fetches an API path and decodes its "data".
func (p *Prometheus) get(path string, data any) error {
	resp, err := promClient.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// OwnMetric reads a metric without labels from Prometheus' own /metrics,
// such as prometheus_tsdb_head_series.
func (p *Prometheus) OwnMetric(name string) (float64, error) {
	resp, err := promClient.Get(p.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("no %s in prometheus' own metrics", name)
}

// RSS returns the server's resident set size in bytes (VmRSS).
func (p *Prometheus) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.PID)
}
