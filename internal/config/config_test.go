package config

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/pipe"
)

func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := Load("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Path = "../../config.example.toml"
	cfg.lines = nil // where the keys stand, for ErrorAt
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.example.toml decodes to\n%+v\nwant the built-in defaults\n%+v", cfg, want)
	}
}

func TestParse(t *testing.T) {
	cfg, err := Parse("c.toml", `
interval = "2s"
auto_group = false
[conntrack]
manage = false
[[app]]
name = "web"
match = ["nginx", "^/usr/bin/python3 .*gunicorn"]
[[app]]
name = "db"
match = [
  "postgres",
]
[[monitor]]
type = "conntrack"
exclude = ["sshd"]
ignore_local = true
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Aggregator.Interval != 2*time.Second || cfg.Aggregator.Grouper.AutoGroup || cfg.Manage {
		t.Fatalf("top-level keys not applied: %+v", cfg)
	}
	if r := cfg.Aggregator.Grouper.Rules; len(r) != 2 || r[0].Name != "web" || len(r[0].Match) != 2 || r[1].Name != "db" {
		t.Fatalf("rules = %+v", r)
	}
	if m := cfg.Conntrack; len(m) != 1 || !m[0].IgnoreLocal || len(m[0].Exclude) != 1 {
		t.Fatalf("monitors = %+v", m)
	}
}

func TestParseConfigLimits(t *testing.T) {
	cfg, err := Parse("c.toml", "[limits]\napps = 30\ntop_apps = 5\nactive_window = \"2m\"\nhistory_apps = 7\nday_apps = 9\nwebsocket_clients = 3\nnamespaces = 4\n")
	if err != nil {
		t.Fatal(err)
	}
	want := model.Limits{Apps: 30, TopApps: 5, ActiveWindow: 2 * time.Minute, HistoryApps: 7, DayApps: 9, WebSocketClients: 3, Namespaces: 4}
	if cfg.Limits != want || cfg.Aggregator.Limits != want {
		t.Fatalf("limits = %+v, aggregator's %+v; want %+v", cfg.Limits, cfg.Aggregator.Limits, want)
	}
	if cfg.Conntrack[0].MaxNamespaces != 4 {
		t.Fatalf("conntrack MaxNamespaces = %d, want 4", cfg.Conntrack[0].MaxNamespaces)
	}
}

func TestParseConfigNamespaces(t *testing.T) {
	tests := []struct {
		name, text         string
		wantAll, wantNoFwd bool
	}{
		{"defaults", "", false, false},
		{"all, default monitor", "[conntrack]\nnamespaces = \"all\"\n", true, false},
		{"own, forwarded off", "[conntrack]\nnamespaces = \"own\"\nforwarded = false\n", false, true},
		{"all, explicit monitor", "[conntrack]\nnamespaces = \"all\"\nforwarded = true\n[[monitor]]\ntype = \"conntrack\"\nexclude = [\"sshd\"]\n", true, false},
		{"all, user namespaces managed", "[conntrack]\nnamespaces = \"all\"\nmanage_user_namespaces = true\n", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Conntrack) != 1 {
				t.Fatalf("conntrack monitors: %d, want 1", len(cfg.Conntrack))
			}
			if m := cfg.Conntrack[0]; m.AllNamespaces != tt.wantAll || m.IgnoreForwarded != tt.wantNoFwd {
				t.Errorf("AllNamespaces %v IgnoreForwarded %v, want %v %v", m.AllNamespaces, m.IgnoreForwarded, tt.wantAll, tt.wantNoFwd)
			}
			if want := strings.Contains(tt.text, "manage_user_namespaces = true"); cfg.Conntrack[0].ManageUserNamespaces != want {
				t.Errorf("ManageUserNamespaces %v, want %v", cfg.Conntrack[0].ManageUserNamespaces, want)
			}
		})
	}
}

func TestParseConfigSocketMode(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       monitor.SocketMode
	}{
		{"default", "", monitor.SocketAuto},
		{"on", "[socket]\nmode = \"on\"\n", monitor.SocketOn},
		{"off, every monitor", "[socket]\nmode = \"off\"\n[[monitor]]\ntype = \"conntrack\"\n[[monitor]]\ntype = \"conntrack\"\nnetns = \"web\"\n", monitor.SocketOff},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range cfg.Conntrack {
				if m.Socket != tt.want {
					t.Errorf("monitor %d: socket mode %q, want %q", i, m.Socket, tt.want)
				}
			}
		})
	}
}

func TestParseConfigMaxSockets(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       int
	}{
		{"default", "", monitor.DefaultMaxSockets},
		{"set, every monitor", "[socket]\nmax_sockets = 500000\n[[monitor]]\ntype = \"conntrack\"\n[[monitor]]\ntype = \"conntrack\"\nnetns = \"web\"\n", 500000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range cfg.Conntrack {
				if m.MaxSockets != tt.want {
					t.Errorf("monitor %d: max sockets %d, want %d", i, m.MaxSockets, tt.want)
				}
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", "interval = \"1s\"\n[conntrack]\nmange = true\n", "c.toml:3: unknown key \"conntrack.mange\""},
		{"unknown key in array table", "[[app]]\nname = \"a\"\nmatch = [\"x\"]\n\n[[app]]\nname = \"b\"\nmatc = [\"y\"]\n", "c.toml:7: unknown key \"app.matc\""},
		{"bad regex", "[[app]]\nname = \"web\"\nmatch = [\n  \"ok\",\n]\n[[app]]\nname = \"x\"\nmatch = [\"(unclosed\"]\n", "c.toml:8: app \"x\": bad regex \"(unclosed\""},
		{"empty regex", "[[monitor]]\ntype = \"conntrack\"\nexclude = [\"\"]\n", "c.toml:3: exclude: empty regex matches everything"},
		{"bad duration", "# comment\ninterval = \"fast\"\n", "c.toml:2:"},
		{"duration too short", "interval = \"1ms\"\n", "c.toml:1: interval 1ms is too short"},
		{"syntax", "interval = \"1s\"\nauto_group = \n", "c.toml:2:"},
		{"type mismatch", "auto_group = \"yes\"\n", "c.toml:1:"},
		{"unknown monitor type", "[[monitor]]\ntype = \"ebpf\"\n", "c.toml:2: unknown monitor type \"ebpf\""},
		{"app without name", "[[app]]\nmatch = [\"x\"]\n", "c.toml:1: [[app]] needs a name"},
		{"pipe without listen", "[[monitor]]\ntype = \"pipe\"\ntarget = \"h:80\"\n", "c.toml:1: pipe needs listen"},
		{"pipe with bad listen", pipeSection(`listen = "localhost"`, `target = "h:80"`), "c.toml:3: listen: bad listen address \"localhost\""},
		{"pipe without target", "[[monitor]]\ntype = \"pipe\"\nlisten = \":8080\"\n", "c.toml:1: pipe needs target"},
		{"pipe target without port", pipeSection(`listen = ":8080"`, `target = "backend"`), "c.toml:4: target: bad target \"backend\": write \"HOST:PORT\""},
		{"pipe target port out of range", pipeSection(`listen = ":8080"`, `target = "h:99999"`), "c.toml:4: target: bad target \"h:99999\": port"},
		{"pipe negative max_conns", pipeSection(`listen = ":8080"`, `target = "h:80"`, `max_conns = -1`), "c.toml:5: max_conns = -1: use 0"},
		{"pipe negative idle_timeout", pipeSection(`listen = ":8080"`, `target = "h:80"`, `idle_timeout = "-1s"`), "c.toml:5: idle_timeout -1s must not be negative"},
		{"pipe bad rate_limit", pipeSection(`listen = ":8080"`, `target = "h:80"`, `rate_limit = "10 furlongs/s"`), "c.toml:5: monitor.rate_limit: bad rate"},
		{"pipe bad idle_timeout", pipeSection(`listen = ":8080"`, `target = "h:80"`, `idle_timeout = "soon"`), "c.toml:5: monitor.idle_timeout: bad duration"},
		{"pipe with a conntrack key", pipeSection(`listen = ":8080"`, `target = "h:80"`, `exclude = ["x"]`), "c.toml:5: exclude applies to type = \"conntrack\" only"},
		{"conntrack with a pipe key", "[[monitor]]\ntype = \"conntrack\"\ntarget = \"h:80\"\n", "c.toml:3: target applies to type = \"pipe\" only"},
		{"bad namespaces", "[conntrack]\nmanage = true\nnamespaces = \"every\"\n", "c.toml:3: namespaces = \"every\": want \"own\""},
		{"bad socket mode", "[socket]\n\nmode = \"ebpf\"\n", "c.toml:3: mode = \"ebpf\": want \"auto\""},
		{"empty socket mode", "[socket]\nmode = \"\"\n", "c.toml:2: mode = \"\": want \"auto\""},
		{"too few sockets", "[socket]\nmode = \"on\"\nmax_sockets = 10\n", "c.toml:3: max_sockets = 10: want from 64 to 4194304"},
		{"too many sockets", "[socket]\nmax_sockets = 100000000\n", "c.toml:2: max_sockets = 100000000: want from 64"},
		{"limits apps zero", "[limits]\napps = 0\n", "c.toml:2: apps = 0: use 1 to 100000"},
		{"limits top over apps", "[limits]\napps = 10\ntop_apps = 20\n", "c.toml:3: top_apps = 20 is more than apps = 10"},
		{"limits short window", "[limits]\nactive_window = \"1s\"\n", "c.toml:2: active_window 1s is too short"},
		{"limits unknown key", "[limits]\nprocesses = 5\n", "c.toml:2: unknown key \"limits.processes\""},
		{"namespaces all beside a netns monitor", "[conntrack]\nnamespaces = \"all\"\n[[monitor]]\ntype = \"conntrack\"\n\n[[monitor]]\ntype = \"conntrack\"\nnetns = \"web\"\n", "c.toml:8: [conntrack] namespaces = \"all\" already watches network namespace \"web\""},
		{"two pipes on one address", pipeSection(`listen = ":8080"`, `target = "h:80"`) + pipeSection(`listen = "8080"`, `target = "h:81"`), "c.toml:7: listen \"8080\" is used by an earlier pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", tt.text)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.toml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want it to wrap os.ErrNotExist", err)
	}
}

// pipeSection returns a [[monitor]] type = "pipe" section with these lines
// (the first on the section's line 3).
func pipeSection(lines ...string) string {
	return "[[monitor]]\ntype = \"pipe\"\n" + strings.Join(lines, "\n") + "\n"
}

func TestParseConfigPipe(t *testing.T) {
	tests := []struct {
		name          string
		text          string
		want          []pipe.Config
		wantConntrack int
	}{
		{
			name: "only a pipe runs only the pipe",
			text: pipeSection(`listen = ":8080"`, `target = "backend:80"`),
			want: []pipe.Config{{Name: "pipe-8080:backend:80", Listen: ":8080", Target: "backend:80"}},
		},
		{
			name: "every key",
			text: pipeSection(`listen = "127.0.0.1:9000"`, `target = "[::1]:22"`, `name = "ssh"`,
				`rate_limit = "10MiB/s"`, `max_conns = 100`, `idle_timeout = "5m"`, `drain_timeout = "2s"`),
			want: []pipe.Config{{Name: "ssh", Listen: "127.0.0.1:9000", Target: "[::1]:22", RateLimit: 10 << 20,
				MaxConns: 100, IdleTimeout: 5 * time.Minute, DrainTimeout: 2 * time.Second}},
		},
		{
			name: "bare port, rate in bytes",
			text: pipeSection(`listen = "8080"`, `target = "h:80"`, `rate_limit = 1000`),
			want: []pipe.Config{{Name: "pipe-8080:h:80", Listen: ":8080", Target: "h:80", RateLimit: 1000}},
		},
		{
			name: "next to conntrack",
			text: "[[monitor]]\ntype = \"conntrack\"\n" + pipeSection(`listen = ":1"`, `target = "h:2"`, `name = "a"`) +
				pipeSection(`listen = ":3"`, `target = "h:4"`, `name = "a"`),
			want: []pipe.Config{
				{Name: "a", Listen: ":1", Target: "h:2"},
				{Name: "a", Listen: ":3", Target: "h:4"},
			},
			wantConntrack: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Pipes, tt.want) || len(cfg.Conntrack) != tt.wantConntrack {
				t.Fatalf("pipes = %+v and %d conntrack monitors, want %+v and %d", cfg.Pipes, len(cfg.Conntrack), tt.want, tt.wantConntrack)
			}
		})
	}
}

func TestParsePipeLimits(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		maxConns int
		idle     time.Duration
	}{
		{name: "left out: the defaults", maxConns: 0, idle: 0},
		{name: "zero: no limit", lines: []string{`max_conns = 0`, `idle_timeout = "0s"`}, maxConns: pipe.NoLimit, idle: pipe.NoLimit},
		{name: "set", lines: []string{`max_conns = 9`, `idle_timeout = "1h"`}, maxConns: 9, idle: time.Hour},
		{name: "only one set", lines: []string{`idle_timeout = "0s"`}, maxConns: 0, idle: pipe.NoLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", pipeSection(append([]string{`listen = ":8080"`, `target = "h:80"`}, tt.lines...)...))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Pipes) != 1 || cfg.Pipes[0].MaxConns != tt.maxConns || cfg.Pipes[0].IdleTimeout != tt.idle {
				t.Fatalf("pipes = %+v, want max_conns %d and idle timeout %s", cfg.Pipes, tt.maxConns, tt.idle)
			}
		})
	}
}

func TestExamplePipeSection(t *testing.T) {
	b, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "# [[monitor]]\n# type = \"pipe\"")
	if i < 0 {
		t.Fatal("config.example.toml has no commented pipe example")
	}
	var text strings.Builder
	for _, l := range strings.Split(string(b[i:]), "\n") {
		if rest, ok := strings.CutPrefix(l, "# "); ok && !strings.HasPrefix(rest, "#") {
			text.WriteString(rest + "\n")
		}
	}
	cfg, err := Parse("example", text.String())
	if err != nil {
		t.Fatalf("the pipe example, uncommented: %v\n%s", err, text.String())
	}
	want := []pipe.Config{{Name: "web", Listen: ":8080", Target: "backend.example:80", RateLimit: 10 << 20,
		MaxConns: pipe.DefaultMaxConns, IdleTimeout: pipe.DefaultIdleTimeout, DrainTimeout: pipe.DefaultDrainTimeout}}
	if !reflect.DeepEqual(cfg.Pipes, want) || len(cfg.Conntrack) != 0 {
		t.Fatalf("the pipe example gives pipes %+v and %d conntrack monitors, want %+v and none", cfg.Pipes, len(cfg.Conntrack), want)
	}
}

// validate runs every part's Validate on c.
func (c *Config) validate() error {
	errs := []error{c.Aggregator.Validate(), c.Limits.Validate(), c.Notify.Validate(), c.State.Validate(), c.HTTP.Validate()}
	for i := range c.Conntrack {
		errs = append(errs, c.Conntrack[i].Validate())
	}
	for _, p := range c.Pipes {
		errs = append(errs, p.Validate())
	}
	return errors.Join(errs...)
}

// TestConntrackConfigValidate checks monitor.ConntrackConfig.Validate,
// whose messages this package shows (monitor/ has its own restructuring
// under way; the test lives with the messages' user).
func TestConntrackConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       monitor.ConntrackConfig
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"zero", monitor.ConntrackConfig{}, "", ""},
		{"filters and a namespace", monitor.ConntrackConfig{Include: []*regexp.Regexp{regexp.MustCompile("x")}, NetNS: "web"}, "", ""},
		{"empty include", monitor.ConntrackConfig{Include: []*regexp.Regexp{regexp.MustCompile("")}}, "include", "include: empty regex matches everything"},
		{"missing exclude", monitor.ConntrackConfig{Exclude: []*regexp.Regexp{nil}}, "exclude", "exclude: a regex is missing"},
		{"netns beside all", monitor.ConntrackConfig{AllNamespaces: true, NetNS: "web"}, "netns", `[conntrack] namespaces = "all" already watches network namespace "web"`},
		{"negative namespaces", monitor.ConntrackConfig{MaxNamespaces: -1}, "max_namespaces", "max_namespaces = -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.HasPrefix(fe.Err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want field %q and a message starting %q", err, tt.wantField, tt.want)
			}
		})
	}
}

// TestErrorAt: an error found while wiring a loaded configuration is
// shown on the line of the key it is about, credentials hidden.
func TestErrorAt(t *testing.T) {
	cfg, err := Parse("c.toml", "interval = \"1s\"\n\n[notify_settings]\nmax_running = 2\n")
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.ErrorAt("notify_settings.max_running", errors.New("cannot post to https://u:s3cret@h.example/x"))
	var ce *Error
	if !errors.As(got, &ce) || got.Error() != "c.toml:4: cannot post to https://h.example/..." {
		t.Fatalf("ErrorAt = %v, want c.toml:4 and the URL redacted", got)
	}
	if got := Defaults().ErrorAt("interval", errors.New("x")); got.Error() != "x" {
		t.Fatalf("ErrorAt on the defaults = %q", got)
	}
}
