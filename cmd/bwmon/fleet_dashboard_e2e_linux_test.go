package main

// The fleet test's check of the shipped Grafana dashboard: every query of
// contrib/grafana/bwmon-fleet.json against the test's Prometheus.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// grafanaPanel is what the test reads of a dashboard panel.
type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// grafanaVar is what the test reads of a dashboard variable.
type grafanaVar struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Definition string `json:"definition"`
}

// labelValues is Grafana's label_values(SELECTOR, LABEL) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// checkDashboard runs every query of contrib/grafana/bwmon-fleet.json
// against prom, its variables substituted as Grafana would: each must
// parse and return data, and, over the whole run with every host, data
// other than 0 (the health panels of a healthy fleet excepted).
func checkDashboard(t *testing.T, prom *nettest.Prometheus, from time.Time) {
	b, err := os.ReadFile(filepath.Join(nettest.RepoRoot(t), "contrib/grafana/bwmon-fleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []grafanaVar `json:"list"`
		} `json:"templating"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("bwmon-fleet.json: %v", err)
	}
	span := time.Since(from)
	vars := func(instance string) *strings.Replacer {
		return strings.NewReplacer("$__rate_interval", "4s", "$__interval", "1d",
			"$__range", fmt.Sprintf("%ds", int(span.Seconds())), "$job", "bwmon", "$instance", instance, "$app", ".+")
	}
	all := vars(".+")

	// The variables: job, host (instance) and app list the fleet's.
	wantVars := map[string][]string{"job": {"bwmon"}, "instance": {"host1", "host2", "host3"}}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
			continue
		}
		q := fmt.Sprintf("group by (%s) (%s)", m[2], all.Replace(m[1]))
		got, err := promValues(prom, q, m[2])
		if err != nil || len(got) == 0 {
			t.Errorf("variable %s: %s: %v, %d values", v.Name, q, err, len(got))
			continue
		}
		for _, w := range wantVars[v.Name] {
			if _, ok := got[w]; !ok {
				t.Errorf("variable %s lists %v, want %s among them", v.Name, got, w)
			}
		}
	}
	if !slices.ContainsFunc(d.Templating.List, func(v grafanaVar) bool { return v.Name == "instance" }) {
		t.Error("the dashboard has no instance (host) variable")
	}

	// Health panels may be flat zero on a healthy fleet.
	zeroOK := map[string]bool{"Kernel events lost and reader errors": true}
	var walk func([]grafanaPanel)
	n := 0
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for i, tg := range p.Targets {
				n++
				name := fmt.Sprintf("%s/%c", p.Title, 'A'+i)
				q := all.Replace(tg.Expr)
				if strings.Contains(q, "$") {
					t.Errorf("%s: a variable the test does not know: %s", name, q)
					continue
				}
				res, err := prom.Query(q, time.Time{})
				if err != nil || len(res) == 0 {
					t.Errorf("%s: instant query %s: %v, %d series", name, q, err, len(res))
					continue
				}
				rng, err := prom.QueryRange(q, from, time.Now(), 2*time.Second)
				if err != nil {
					t.Errorf("%s: range query: %v", name, err)
					continue
				}
				nonzero := false
				for _, s := range rng {
					for _, pt := range s.Points {
						nonzero = nonzero || (pt.V != 0 && !math.IsNaN(pt.V))
					}
				}
				if !nonzero && !zeroOK[p.Title] {
					t.Errorf("%s: %s returned only zeros over the run", name, q)
				}
				// One host picked: the query still parses.
				if _, err := prom.Query(vars("host3").Replace(tg.Expr), time.Time{}); err != nil {
					t.Errorf("%s with instance=host3: %v", name, err)
				}
			}
		}
	}
	walk(d.Panels)
	if n < 10 {
		t.Errorf("the dashboard has %d queries, want the fleet view's (10 or more)", n)
	}
	t.Logf("grafana: %d panel queries ran against prometheus", n)
}
