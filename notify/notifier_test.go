package notify

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

func TestAlertLines(t *testing.T) {
	cfg := Config{Rules: []Rule{{
		App: regexp.MustCompile(`^backup$`), In: 500 << 10, Out: 10e6, Window: 2,
		Cooldown: time.Hour, Resolve: true,
	}}}
	r := newRig(t, cfg, Options{})
	r.feed(1, repeat(2, usage{"backup", 0, 12.4e6}, usage{"web", 0, 50e6})...)
	// Window 2: one idle tick halves the mean, below 90% of the limit.
	r.feed(3, repeat(2, usage{"backup", 0, 0}, usage{"web", 0, 50e6})...)
	r.n.Close()

	want := "2026-11-22 10:00:02: backup exceeding 'out' bandwidth limit 10.00 MB/s: 12.40 MB/s (124.0 %)\n" +
		"2026-11-22 10:00:03: backup back under 'out' bandwidth limit 10.00 MB/s: 6.20 MB/s (62.0 %)\n"
	if got := r.alerts.String(); got != want {
		t.Fatalf("alert lines:\n%s\nwant:\n%s", got, want)
	}
	if got, want := r.n.Stats(), (model.NotifyStats{Fired: 1, Resolved: 1}); got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
}

func TestConsume(t *testing.T) {
	rule := func(app string, in, out model.Rate) Rule {
		return Rule{App: regexp.MustCompile(app), In: in, Out: out, Window: 1, Cooldown: time.Hour, Resolve: true}
	}
	tests := []struct {
		name  string
		rules []Rule
		ticks [][]usage
		want  []string // alert lines without the time
	}{
		{
			name:  "each direction alone",
			rules: []Rule{rule(`^db$`, 1000, 2000)},
			ticks: [][]usage{{{"db", 1500, 100}}, {{"db", 1500, 2500}}, {{"db", 10, 2500}}},
			want: []string{"db exceeding 'in' bandwidth limit 1.00 kB/s: 1.50 kB/s (150.0 %)",
				"db exceeding 'out' bandwidth limit 2.00 kB/s: 2.50 kB/s (125.0 %)",
				"db back under 'in' bandwidth limit 1.00 kB/s: 10.00 B/s (1.0 %)"},
		},
		{
			name:  "two rules on one app alert apart; the regex searches",
			rules: []Rule{rule(`backup`, 0, 1000), rule(`^nightly-backup$`, 0, 5000)},
			ticks: [][]usage{{{"nightly-backup", 0, 6000}, {"other", 0, 1e9}}},
			want: []string{"nightly-backup exceeding 'out' bandwidth limit 1.00 kB/s: 6.00 kB/s (600.0 %)",
				"nightly-backup exceeding 'out' bandwidth limit 5.00 kB/s: 6.00 kB/s (120.0 %)"},
		},
		{
			name:  "an app missing from a tick counts as idle",
			rules: []Rule{rule(`^db$`, 0, 1000)},
			ticks: [][]usage{{{"db", 0, 5000}}, {}},
			want: []string{"db exceeding 'out' bandwidth limit 1.00 kB/s: 5.00 kB/s (500.0 %)",
				"db back under 'out' bandwidth limit 1.00 kB/s: 0.00 B/s (0.0 %)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, Config{Rules: tt.rules}, Options{})
			r.feed(1, tt.ticks...)
			r.n.Close()
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(r.alerts.String(), "\n"), "\n") {
				if l != "" {
					got = append(got, l[len("2026-11-22 10:00:01: "):])
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("alert lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestHandlersFollowActiveApps(t *testing.T) {
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1000, Window: 2, Cooldown: 3 * time.Second, Resolve: true}}}
	r := newRig(t, cfg, Options{})
	count := func() int {
		r.n.mu.Lock()
		defer r.n.mu.Unlock()
		return len(r.n.handlers)
	}
	steps := []struct {
		apps []usage
		want int
		why  string
	}{
		{[]usage{{"a", 0, 0}, {"b", 0, 0}}, 0, "apps listed idle (the aggregator lists every app seen) cost nothing"},
		{[]usage{{"a", 0, 9000}, {"b", 0, 10}}, 2, "both moved bytes; a fires"},
		{[]usage{{"a", 0, 0}, {"b", 0, 0}}, 2, "both windows still hold a sample"},
		{[]usage{{"a", 0, 0}, {"b", 0, 0}}, 1, "b is as new; a resolved but its cooldown runs to tick 5"},
		{[]usage{{"a", 0, 0}, {"b", 0, 0}}, 0, "a's cooldown is over"},
	}
	for i, s := range steps {
		r.feed(i+1, s.apps)
		r.drain(t) // a's firing goes out, and starts its cooldown, at tick 2
		if n := count(); n != s.want {
			t.Fatalf("tick %d: %d handlers, want %d: %s", i+1, n, s.want, s.why)
		}
	}
	if s := r.n.Stats(); s.Fired != 1 || s.Resolved != 1 {
		t.Fatalf("stats = %+v, want one firing and one resolved", s)
	}
}

func TestCloseTwiceAndConsumeAfterClose(t *testing.T) {
	cfg := Config{Rules: []Rule{{App: regexp.MustCompile(`.`), Out: 1, Window: 1, Cooldown: time.Hour}}}
	r := newRig(t, cfg, Options{})
	done := make(chan struct{})
	go func() {
		r.n.Close()
		r.n.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	r.feed(1, []usage{{"x", 0, 100}})
	if s := r.n.Stats(); s.Fired != 0 || r.alerts.String() != "" {
		t.Fatalf("after Close: stats %+v, alerts %q; want nothing", s, r.alerts.String())
	}
}

// TestNewRefusesBadRules: New refuses what Config.Validate refuses, once
// it has filled in the defaults of zero MaxRunning and CommandTimeout.
func TestNewRefusesBadRules(t *testing.T) {
	good := func() Rule {
		return Rule{App: regexp.MustCompile(`x`), Out: 1, Window: 1}
	}
	tests := []struct {
		name   string
		change func(r *Rule, c *Config)
		want   string // "" when New accepts it
	}{
		{"defaults filled in", func(r *Rule, c *Config) { r.Command = []string{"true"} }, ""},
		{"no threshold", func(r *Rule, c *Config) { r.Out = 0 }, `notify.1: [[notify]] for "x" checks nothing`},
		{"window 0", func(r *Rule, c *Config) { r.Window = 0 }, "notify.1.window: window = 0: use 1 to 3600"},
		{"no command timeout", func(r *Rule, c *Config) { r.Command = []string{"true"}; r.CommandTimeout = -time.Second }, "command_timeout -1s must be positive"},
		{"negative max_running", func(r *Rule, c *Config) { c.MaxRunning = -1 }, "max_running = -1: use 1 or more"},
		{"empty launcher", func(r *Rule, c *Config) { c.Launcher = []string{""} }, "command launcher has an empty program name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			c := Config{}
			tt.change(&r, &c)
			c.Rules = []Rule{good(), r}
			n, err := New(c, Options{})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				n.Close()
				return
			}
			if err == nil {
				n.Close()
				t.Fatalf("New accepted %+v", r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
