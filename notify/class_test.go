package notify

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// TestClassRule checks that a rule with a class watches only the app's
// bytes of that class, and says so in its event.
func TestClassRule(t *testing.T) {
	cfg := Config{Rules: []Rule{
		{App: regexp.MustCompile(`^sync$`), Class: "internet", Out: 1000, Window: 1, Cooldown: time.Hour, Resolve: true},
	}}
	r := newRig(t, cfg, Options{})
	app := func(internet, lab float64) model.AppUsage {
		return model.AppUsage{App: "sync", RateOut: internet + lab, Classes: map[string]model.AppClass{
			"internet": {RateOut: internet}, "lab": {RateOut: lab}}}
	}
	for i, a := range []model.AppUsage{app(10, 5000), app(2000, 5000), app(0, 9000)} {
		r.n.Consume(&model.Snapshot{Time: tickAt(1 + i), IntervalS: 1, Apps: []model.AppUsage{a}})
	}
	r.n.Close()
	got := r.alerts.String()
	for _, want := range []string{
		"sync exceeding 'out internet' bandwidth limit 1.00 kB/s: 2.00 kB/s (200.0 %)",
		"sync back under 'out internet' bandwidth limit 1.00 kB/s: 0.00 B/s (0.0 %)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("alerts:\n%s\nwant a line %q", got, want)
		}
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("%d alert lines, want 2:\n%s", n, got)
	}
	ev := Event{App: "sync", Class: "internet", Direction: Out}
	if !strings.Contains(string(ev.JSON()), `"class":"internet"`) || !strings.Contains(strings.Join(ev.Env(), " "), "BWMON_CLASS=internet") {
		t.Errorf("event JSON %s, env %q: want the class", ev.JSON(), ev.Env())
	}
}

func TestClassRuleValidate(t *testing.T) {
	c := Config{MaxRunning: 1, ClassNames: []string{"", "local", "private", "internet"}, Rules: []Rule{
		{App: regexp.MustCompile(`.`), Class: "lab", Out: 1, Window: 1, CommandTimeout: time.Second},
	}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `notify.0.class: class "lab" is not a destination class`) {
		t.Fatalf("err = %v", err)
	}
	c.Rules[0].Class = "internet"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
