package main

// The Prometheus side of the fleet test (fleet_e2e_linux_test.go): the
// shipped rules on a compressed clock, queries and alerts.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// fleetScale is how much shorter the rules' durations are in the test
// than as shipped: they assume scrapes every 15 s, the test scrapes every
// second.
const fleetScale = 15

var ruleDuration = regexp.MustCompile(`(\[|for: )(\d+)([smh])\b`)

// compressRules returns the shipped rules with every range and `for`
// divided by fleetScale; expressions, thresholds and labels stay as
// shipped.
func compressRules(t *testing.T, rules string) string {
	t.Helper()
	return ruleDuration.ReplaceAllStringFunc(rules, func(m string) string {
		p := ruleDuration.FindStringSubmatch(m)
		n, _ := strconv.Atoi(p[2])
		d := time.Duration(n) * map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[p[3]]
		if d%(fleetScale*time.Second) != 0 {
			t.Fatalf("rule duration %s is not a multiple of %d s: the test cannot scale it", m, fleetScale)
		}
		return fmt.Sprintf("%s%ds", p[1], int(d/time.Second)/fleetScale)
	})
}

// fleetPrometheus writes the compressed rules and starts Prometheus
// scraping hosts every second as job "bwmon", with instance = host name.
func fleetPrometheus(t *testing.T, hosts []*fleetHost) (*nettest.Prometheus, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(nettest.RepoRoot(t), "contrib/prometheus/bwmon.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "bwmon.rules.yml")
	if err := os.WriteFile(rules, []byte(compressRules(t, string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"+
		"rule_files: [%q]\nscrape_configs:\n  - job_name: bwmon\n    static_configs:\n", rules)
	for _, h := range hosts {
		fmt.Fprintf(&cfg, "      - targets: [%q]\n        labels: {instance: %q}\n", h.addr, h.name)
	}
	n := strings.Count(string(b), "- record:") + strings.Count(string(b), "- alert:")
	return nettest.StartPrometheus(t, cfg.String()), n
}

// promValues runs q and returns its series' values keyed by the label
// key, failing on a query error or a key seen twice.
func promValues(p *nettest.Prometheus, q, key string) (map[string]float64, error) {
	res, err := p.Query(q, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range res {
		k := s.Metric[key]
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: %s=%q twice", q, key, k)
		}
		out[k] = s.Last()
	}
	return out, nil
}

// near reports whether got is within tol (relative) of want.
func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

// checkNear compares Prometheus' answer with the reference, key by key:
// the same keys, each within 2 %.
func checkNear(what string, got map[string]float64, want map[string]uint64) error {
	var bad []string
	for k, w := range want {
		if g, ok := got[k]; !ok || !near(g, float64(w), 0.02) {
			bad = append(bad, fmt.Sprintf("%s: %.0f, want %d (±2%%)", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, fmt.Sprintf("%s: %.0f, not expected", k, g))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%s:\n  %s", what, strings.Join(bad, "\n  "))
	}
	return nil
}

// alert finds a pending or firing alert by name and labels.
func alert(p *nettest.Prometheus, name string, labels map[string]string) (nettest.Alert, bool, error) {
	alerts, err := p.Alerts()
	if err != nil {
		return nettest.Alert{}, false, err
	}
next:
	for _, a := range alerts {
		if a.Labels["alertname"] != name {
			continue
		}
		for k, v := range labels {
			if a.Labels[k] != v {
				continue next
			}
		}
		return a, true, nil
	}
	return nettest.Alert{}, false, nil
}

// waitAlert waits until the alert fires (firing) or is gone (!firing).
func waitAlert(t *testing.T, p *nettest.Prometheus, timeout time.Duration, firing bool, name string, labels map[string]string) time.Time {
	t.Helper()
	nettest.Eventually(t, timeout, func() error {
		a, ok, err := alert(p, name, labels)
		switch {
		case err != nil:
			return err
		case firing && (!ok || a.State != "firing"):
			return fmt.Errorf("alert %s%v not firing yet (%v %s)", name, labels, ok, a.State)
		case !firing && ok:
			return fmt.Errorf("alert %s%v still %s", name, labels, a.State)
		}
		return nil
	})
	return time.Now()
}
