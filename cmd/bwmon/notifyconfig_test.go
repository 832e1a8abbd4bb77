package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/notify"
)

// notifyRule is a notify.Rule with its regex as text, for comparing.
type notifyRule struct {
	App  string
	Rule notify.Rule
}

func rulesOf(c notify.Config) []notifyRule {
	var out []notifyRule
	for _, r := range c.Rules {
		app := r.App.String()
		r.App = nil
		out = append(out, notifyRule{app, r})
	}
	return out
}

func TestParseConfigNotify(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		want       []notifyRule
		maxRunning int
	}{
		{
			name: "every key",
			text: `
[notify_settings]
max_running = 8
[[notify]]
app = "^backup$"
in_threshold = "500KiB/s"
out_threshold = "80Mbit/s"
window = 10
command = ["/usr/local/bin/page", "--team", "net"]
command_timeout = "10s"
cooldown = "1m"
resolve = true
webhook = "https://hooks.example/alert"
`,
			want: []notifyRule{{"^backup$", notify.Rule{
				In: 500 << 10, Out: 10e6, Window: 10, Command: []string{"/usr/local/bin/page", "--team", "net"},
				CommandTimeout: 10 * time.Second, Cooldown: time.Minute, Resolve: true, Webhook: "https://hooks.example/alert",
			}}},
			maxRunning: 8,
		},
		{
			name: "defaults; a bare integer is bytes/s",
			text: "[[notify]]\napp = \".\"\nout_threshold = 1000000\n[[notify]]\napp = \"db\"\nin_threshold = \"1MB/s\"\nout_threshold = 0\n",
			want: []notifyRule{
				{".", notify.Rule{Out: 1e6, Window: notify.DefaultWindow, CommandTimeout: notify.DefaultCommandTimeout, Cooldown: notify.DefaultCooldown}},
				{"db", notify.Rule{In: 1e6, Window: notify.DefaultWindow, CommandTimeout: notify.DefaultCommandTimeout, Cooldown: notify.DefaultCooldown}},
			},
		},
		{
			name: "no cooldown",
			text: "[[notify]]\napp = \"x\"\nout_threshold = \"1kB/s\"\ncooldown = \"0s\"\n",
			want: []notifyRule{{"x", notify.Rule{Out: 1000, Window: notify.DefaultWindow, CommandTimeout: notify.DefaultCommandTimeout}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := rulesOf(cfg.Notify); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("rules = %+v\nwant %+v", got, tt.want)
			}
			if cfg.Notify.MaxRunning != tt.maxRunning {
				t.Fatalf("max_running = %d, want %d", cfg.Notify.MaxRunning, tt.maxRunning)
			}
			// What the config accepts, the notifier accepts.
			n, err := notify.New(cfg.Notify, notify.Options{})
			if err != nil {
				t.Fatalf("notify.New refuses a parsed config: %v", err)
			}
			n.Close()
		})
	}
}

// notifyText returns a [[notify]] section with these lines, the first on
// line 2.
func notifyText(lines ...string) string {
	return "[[notify]]\n" + strings.Join(lines, "\n") + "\n"
}

func TestParseConfigNotifyErrors(t *testing.T) {
	app, out := `app = "backup"`, `out_threshold = "10MB/s"`
	tests := []struct {
		name, text, want string
	}{
		{"bad unit", notifyText(app, `in_threshold = "5 MiB/h"`), `c.toml:3: notify.in_threshold: bad rate "5 MiB/h": unknown unit "MiB/h"`},
		{"negative rate", notifyText(app, `out_threshold = "-5KiB/s"`), `c.toml:3: notify.out_threshold: bad rate "-5KiB/s": must not be negative`},
		{"negative integer", notifyText(app, `out_threshold = -5`), `c.toml:3: notify.out_threshold: bad rate -5: must not be negative`},
		{"bad regex", "# alerts\n" + notifyText(`app = "(backup"`, out), `c.toml:3: app: bad regex "(backup"`},
		{"empty regex", notifyText(`app = ""`, out), `c.toml:1: [[notify]] needs app = "REGEX"`},
		{"no app", notifyText(out), `c.toml:1: [[notify]] needs app`},
		{"no threshold", notifyText(app, `window = 3`), `c.toml:1: [[notify]] for "backup" checks nothing: set in_threshold or out_threshold`},
		{"window 0", notifyText(app, out, `window = 0`), `c.toml:4: window = 0: use 1 to 3600 ticks`},
		{"window negative", notifyText(app, out, `window = -2`), `c.toml:4: window = -2: use 1 to 3600 ticks`},
		{"negative cooldown", notifyText(app, out, `cooldown = "-1m"`), `c.toml:4: cooldown -1m0s must not be negative`},
		{"bad cooldown", notifyText(app, out, `cooldown = "soon"`), `c.toml:4: notify.cooldown: bad duration "soon"`},
		{"zero command_timeout", notifyText(app, out, `command = ["x"]`, `command_timeout = "0s"`), `c.toml:5: command_timeout 0s must be positive`},
		{"empty command", notifyText(app, out, `command = []`), `c.toml:4: command needs the program first`},
		{"empty program", notifyText(app, out, `command = ["", "--x"]`), `c.toml:4: command needs the program first`},
		{"command as a string", notifyText(app, out, `command = "/bin/page --team net"`), `c.toml:4: notify.command: command must be a list, e.g. ["/usr/local/bin/page", "--team", "net"]: it runs without a shell`},
		{"command with a number", notifyText(app, out, `command = ["/bin/page", 3]`), `c.toml:4: notify.command: command: 3 is not a string`},
		{"webhook not http", notifyText(app, out, `webhook = "ftp://h/x"`), `c.toml:4: bad webhook URL "ftp://h/...": want an http:// or https:// URL`},
		{"webhook relative", notifyText(app, out, `webhook = "/hook"`), `c.toml:4: bad webhook URL "(URL hidden)"`},
		{"second rule", notifyText(app, out) + "\n" + notifyText(`app = "db"`, out, `window = 0`), `c.toml:8: window = 0`},
		{"max_running 0", "[notify_settings]\nmax_running = 0\n", `c.toml:2: max_running = 0: use 1 or more`},
		{"unknown key", notifyText(app, out, `windw = 3`), `c.toml:4: unknown key "notify.windw"`},
		{"unknown settings key", "[notify_settings]\ncommand_timeout = \"1s\"\n", `c.toml:2: unknown key "notify_settings.command_timeout"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.toml", tt.text)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestExampleNotifySection(t *testing.T) {
	b, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "# [notify_settings]")
	if i < 0 {
		t.Fatal("config.example.toml has no commented [notify_settings] example")
	}
	var text strings.Builder
	for _, l := range strings.Split(string(b[i:]), "\n") {
		if l == "" {
			break // the end of the example
		}
		if rest, ok := strings.CutPrefix(l, "# "); ok && !strings.HasPrefix(rest, "#") {
			text.WriteString(rest + "\n")
		}
	}
	cfg, err := ParseConfig("example", text.String())
	if err != nil {
		t.Fatalf("the notify example, uncommented: %v\n%s", err, text.String())
	}
	want := []notifyRule{{"^backup$", notify.Rule{
		In: 500 << 10, Out: model.Rate(80e6 / 8), Window: 5, Command: []string{"/usr/local/bin/page", "--team", "net"},
		CommandTimeout: 30 * time.Second, Cooldown: 5 * time.Minute, Resolve: true, Webhook: "http://127.0.0.1:9093/hook",
	}}}
	if got := rulesOf(cfg.Notify); !reflect.DeepEqual(got, want) || cfg.Notify.MaxRunning != notify.DefaultMaxRunning {
		t.Fatalf("the notify example gives %+v (max_running %d), want %+v (max_running %d)", got, cfg.Notify.MaxRunning, want, notify.DefaultMaxRunning)
	}
}
