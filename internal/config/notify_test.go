package config

import (
	"errors"
	"os"
	"os/user"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

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
			maxRunning: notify.DefaultMaxRunning,
		},
		{
			name:       "no cooldown",
			text:       "[[notify]]\napp = \"x\"\nout_threshold = \"1kB/s\"\ncooldown = \"0s\"\n",
			want:       []notifyRule{{"x", notify.Rule{Out: 1000, Window: notify.DefaultWindow, CommandTimeout: notify.DefaultCommandTimeout}}},
			maxRunning: notify.DefaultMaxRunning,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
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
			_, err := Parse("c.toml", tt.text)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *Error", err)
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
	// command_user = "nobody" asks for a switch only root can make.
	if _, err := parse("example", text.String(), env{euid: 990, users: fakeUsers}); err == nil ||
		!strings.Contains(err.Error(), `command_user = "nobody": bwmon runs as`) {
		t.Fatalf("the notify example, uncommented, not as root: err = %v, want that it cannot switch users", err)
	}
	cfg, err := parse("example", text.String(), env{euid: 0, users: fakeUsers})
	if err != nil {
		t.Fatalf("the notify example, uncommented: %v\n%s", err, text.String())
	}
	if u := cfg.Notify.User; u.Name != "nobody" || !u.Switch {
		t.Fatalf("the notify example runs its command as %+v, want nobody", u)
	}
	want := []notifyRule{{"^backup$", notify.Rule{
		In: 500 << 10, Out: model.Rate(80e6 / 8), Window: 5, Command: []string{"/usr/local/bin/page", "--team", "net"},
		CommandTimeout: 30 * time.Second, Cooldown: 5 * time.Minute, Resolve: true, Webhook: "http://127.0.0.1:9093/hook", Class: "internet",
	}}}
	if got := rulesOf(cfg.Notify); !reflect.DeepEqual(got, want) || cfg.Notify.MaxRunning != notify.DefaultMaxRunning {
		t.Fatalf("the notify example gives %+v (max_running %d), want %+v (max_running %d)", got, cfg.Notify.MaxRunning, want, notify.DefaultMaxRunning)
	}
}

// fakeUsers is a user database of root, the unit's user bwmon (uid 990)
// and nobody.
var fakeUsers = notify.UserDB{
	Lookup: func(name string) (*user.User, error) {
		for _, u := range fakeUserList {
			if u.Username == name {
				return u, nil
			}
		}
		return nil, user.UnknownUserError(name)
	},
	LookupID: func(uid string) (*user.User, error) {
		for _, u := range fakeUserList {
			if u.Uid == uid {
				return u, nil
			}
		}
		return nil, user.UnknownUserIdError(0)
	},
	GroupIDs: func(u *user.User) ([]string, error) { return []string{u.Gid}, nil },
}

var fakeUserList = []*user.User{
	{Uid: "0", Gid: "0", Username: "root", HomeDir: "/root"},
	{Uid: "990", Gid: "990", Username: "bwmon", HomeDir: "/var/lib/bwmon"},
	{Uid: "65534", Gid: "65534", Username: "nobody", HomeDir: "/nonexistent"},
}

// TestParseConfigCommandUser: command_user is resolved when a rule has a
// command or when it is set, for the agent's user (fakeUsers here).
func TestParseConfigCommandUser(t *testing.T) {
	rule := notifyText(`app = "x"`, `out_threshold = "1kB/s"`, `command = ["/bin/page"]`)
	nobody := notify.User{Name: "nobody", Switch: true, UID: 65534, GID: 65534, Groups: []int{65534}, Home: "/nonexistent"}
	tests := []struct {
		name, text string
		euid       int
		wantUser   notify.User
		wantErr    string
	}{
		{name: "root: a command runs as nobody", text: rule, euid: 0, wantUser: nobody},
		{name: "the service's user: a command keeps it", text: rule, euid: 990, wantUser: notify.User{Name: "bwmon"}},
		{name: "no command, no user", text: notifyText(`app = "x"`, `out_threshold = "1kB/s"`), euid: 0},
		{name: "root keeps the user", text: "[notify_settings]\ncommand_user = \"root\"\n" + rule, euid: 0, wantUser: notify.User{Name: "root"}},
		{name: "unknown user", text: "[notify_settings]\ncommand_user = \"bwmon-no-such-user\"\n" + rule,
			wantErr: `c.toml:2: command_user = "bwmon-no-such-user": no such user`},
		{name: "unknown user without commands", text: "[notify_settings]\ncommand_user = \"bwmon-no-such-user\"\n",
			wantErr: `c.toml:2: command_user = "bwmon-no-such-user": no such user`},
		{name: "not root cannot switch", text: "[notify_settings]\ncommand_user = \"nobody\"\n" + rule, euid: 990,
			wantErr: `c.toml:2: command_user = "nobody": bwmon runs as bwmon, not root, and cannot switch users`},
		{name: "empty", text: "\n[notify_settings]\ncommand_user = \"\"\n", wantErr: `c.toml:3: command_user is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("c.toml", tt.text, env{euid: tt.euid, users: fakeUsers})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Notify.User, tt.wantUser) || cfg.Notify.Launcher != nil {
				t.Fatalf("user %+v, launcher %q; want %+v and no launcher (cmd/bwmon sets it)", cfg.Notify.User, cfg.Notify.Launcher, tt.wantUser)
			}
		})
	}
}

// FuzzParseNotify builds a [notify_settings] table and a [[notify]] rule
// from fuzzed values, encoded as TOML, and parses it as Parse does (for an
// agent running as root or as the service's user, with fakeUsers): the
// parser never panics, every error is an *Error, and a configuration it
// accepts the notifier accepts too.
func FuzzParseNotify(f *testing.F) {
	f.Add("^backup$", "500KiB/s", "80Mbit/s", int64(5), "/usr/local/bin/page\x00--team\x00net", "30s", "5m", true,
		"https://hooks.example/alert", int64(4), "", true)
	f.Add("", "", "", int64(0), "", "", "", false, "", int64(0), "nobody", false)
	f.Add("(x", "5 MiB/h", "-1kB/s", int64(-2), "\x00", "0s", "-1m", false, "ftp://h/x", int64(-1), "root", true)
	f.Add(".*", "1e3", "1", int64(3601), "x", "soon", "0s", true, "http:///hook", int64(1), "ghost", true)
	f.Add("\xff\u202e", "80Mb/s", "0", int64(1), " ", "1ns", "1h", false, "http://[::1]:9/x?token=y", int64(1<<40), "alice", false)
	f.Fuzz(func(t *testing.T, app, in, out string, window int64, command, timeout, cooldown string,
		resolve bool, webhook string, maxRunning int64, commandUser string, asRoot bool) {
		rule := map[string]any{"app": app, "in_threshold": in, "out_threshold": out, "window": window,
			"command_timeout": timeout, "cooldown": cooldown, "resolve": resolve, "webhook": webhook}
		if command != "" {
			rule["command"] = strings.Split(command, "\x00")
		}
		settings := map[string]any{"max_running": maxRunning}
		if commandUser != "" {
			settings["command_user"] = commandUser
		}
		var text strings.Builder
		if err := toml.NewEncoder(&text).Encode(map[string]any{"notify_settings": settings, "notify": []map[string]any{rule}}); err != nil {
			return // not TOML (invalid UTF-8, say), which no file holds either
		}
		euid := 990
		if asRoot {
			euid = 0
		}
		cfg, err := parse("c.toml", text.String(), env{euid: euid, users: fakeUsers})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("parse: %v (%T), want an *Error", err, err)
			}
			return
		}
		nc := cfg.Notify
		if len(nc.Rules) > 0 && len(nc.Rules[0].Command) > 0 {
			nc.Launcher = []string{"/bin/true", "--"} // what cmd/bwmon sets
		}
		n, err := notify.New(nc, notify.Options{})
		if err != nil {
			t.Fatalf("parse accepted what notify.New refuses: %v\n%s", err, text.String())
		}
		n.Close()
	})
}
