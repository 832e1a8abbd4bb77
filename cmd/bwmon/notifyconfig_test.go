package main

import (
	"errors"
	"fmt"
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
	if os.Geteuid() != 0 {
		// command_user = "nobody" asks for a switch only root can make.
		if err == nil || !strings.Contains(err.Error(), `command_user = "nobody": bwmon runs as`) {
			t.Fatalf("the notify example, uncommented, not as root: err = %v, want that it cannot switch users", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("the notify example, uncommented: %v\n%s", err, text.String())
	}
	if cfg.Notify.CommandUser != "nobody" || len(cfg.Notify.Launcher) < 2 || cfg.Notify.Launcher[1] != alertExecCommand {
		t.Fatalf("the notify example runs its command as %q through %q, want nobody through bwmon %s",
			cfg.Notify.CommandUser, cfg.Notify.Launcher, alertExecCommand)
	}
	want := []notifyRule{{"^backup$", notify.Rule{
		In: 500 << 10, Out: model.Rate(80e6 / 8), Window: 5, Command: []string{"/usr/local/bin/page", "--team", "net"},
		CommandTimeout: 30 * time.Second, Cooldown: 5 * time.Minute, Resolve: true, Webhook: "http://127.0.0.1:9093/hook",
	}}}
	if got := rulesOf(cfg.Notify); !reflect.DeepEqual(got, want) || cfg.Notify.MaxRunning != notify.DefaultMaxRunning {
		t.Fatalf("the notify example gives %+v (max_running %d), want %+v (max_running %d)", got, cfg.Notify.MaxRunning, want, notify.DefaultMaxRunning)
	}
}

// fakeUsers is a user database of root, alice (uid 1000, also in group
// 27), the unit's user bwmon (uid 990) and nobody.
var fakeUsers = userDB{
	lookup: func(name string) (*user.User, error) {
		for _, u := range fakeUserList {
			if u.Username == name {
				return u, nil
			}
		}
		return nil, user.UnknownUserError(name)
	},
	lookupID: func(uid string) (*user.User, error) {
		for _, u := range fakeUserList {
			if u.Uid == uid {
				return u, nil
			}
		}
		return nil, user.UnknownUserIdError(0)
	},
	groupIDs: func(u *user.User) ([]string, error) {
		if u.Username == "alice" {
			return []string{"1000", "27"}, nil
		}
		return []string{u.Gid}, nil
	},
}

var fakeUserList = []*user.User{
	{Uid: "0", Gid: "0", Username: "root", HomeDir: "/root"},
	{Uid: "1000", Gid: "1000", Username: "alice", HomeDir: "/home/alice"},
	{Uid: "990", Gid: "990", Username: "bwmon", HomeDir: "/var/lib/bwmon"},
	{Uid: "65534", Gid: "65534", Username: "nobody", HomeDir: "/nonexistent"},
}

func TestResolveCommandUser(t *testing.T) {
	str := func(s string) *string { return &s }
	noNobody := fakeUsers
	noNobody.lookup = func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	tests := []struct {
		name    string
		want    *string
		euid    int
		db      userDB
		wantRun runAs
		wantErr string
	}{
		{name: "root, unset: nobody", euid: 0,
			wantRun: runAs{name: "nobody", switchUser: true, uid: 65534, gid: 65534, groups: []int{65534}, home: "/nonexistent"}},
		{name: "root, a user with groups", want: str("alice"), euid: 0,
			wantRun: runAs{name: "alice", switchUser: true, uid: 1000, gid: 1000, groups: []int{1000, 27}, home: "/home/alice"}},
		{name: `root, "root": keeps root`, want: str("root"), euid: 0, wantRun: runAs{name: "root"}},
		{name: "service user, unset: keeps its user", euid: 990, wantRun: runAs{name: "bwmon"}},
		{name: "service user named: keeps it", want: str("bwmon"), euid: 990, wantRun: runAs{name: "bwmon"}},
		{name: `service user, "root": keeps its own user`, want: str("root"), euid: 990, wantRun: runAs{name: "bwmon"}},
		{name: "a user without a name keeps its uid", euid: 4242, wantRun: runAs{name: "uid 4242"}},
		{name: "service user cannot switch", want: str("nobody"), euid: 990,
			wantErr: `command_user = "nobody": bwmon runs as bwmon, not root, and cannot switch users: remove command_user`},
		{name: "unknown user", want: str("ghost"), euid: 0, wantErr: `command_user = "ghost": no such user`},
		{name: "unknown user, not root", want: str("ghost"), euid: 990, wantErr: `command_user = "ghost": no such user`},
		{name: "empty", want: str(""), euid: 0, wantErr: "command_user is empty"},
		{name: "root, unset, no nobody", euid: 0, db: noNobody, wantErr: `command_user = "nobody": no such user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.db
			if db.lookup == nil {
				db = fakeUsers
			}
			got, err := resolveCommandUser(tt.want, tt.euid, db)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.wantRun) {
				t.Fatalf("got %+v, want %+v", got, tt.wantRun)
			}
		})
	}
}

func TestParseConfigCommandUser(t *testing.T) {
	rule := notifyText(`app = "x"`, `out_threshold = "1kB/s"`, `command = ["/bin/page"]`)
	self, err := resolveCommandUser(nil, os.Geteuid(), systemUsers)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text   string
		wantLauncher bool
		wantUser     string
		wantErr      string
	}{
		{name: "a command runs through __alert-exec", text: rule, wantLauncher: true, wantUser: self.name},
		{name: "no command, no launcher", text: notifyText(`app = "x"`, `out_threshold = "1kB/s"`)},
		{name: "root keeps the user", text: "[notify_settings]\ncommand_user = \"root\"\n" + rule, wantLauncher: true,
			wantUser: map[bool]string{true: "root", false: self.name}[os.Geteuid() == 0]},
		{name: "unknown user", text: "[notify_settings]\ncommand_user = \"bwmon-no-such-user\"\n" + rule,
			wantErr: `c.toml:2: command_user = "bwmon-no-such-user": no such user`},
		{name: "unknown user without commands", text: "[notify_settings]\ncommand_user = \"bwmon-no-such-user\"\n",
			wantErr: `c.toml:2: command_user = "bwmon-no-such-user": no such user`},
		{name: "empty", text: "\n[notify_settings]\ncommand_user = \"\"\n", wantErr: `c.toml:3: command_user is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("c.toml", tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := cfg.Notify.Launcher
			if !tt.wantLauncher {
				if l != nil {
					t.Fatalf("launcher %q without a command", l)
				}
				return
			}
			exe, _ := os.Executable()
			if len(l) < 3 || l[0] != exe || l[1] != alertExecCommand || l[len(l)-1] != "--" || cfg.Notify.CommandUser != tt.wantUser {
				t.Fatalf("launcher %q, user %q; want %s %s ... -- and %q", l, cfg.Notify.CommandUser, exe, alertExecCommand, tt.wantUser)
			}
		})
	}
}

// FuzzParseNotify builds a [notify_settings] table and a [[notify]] rule
// from fuzzed values, encoded as TOML, decodes it as ParseConfig does and
// validates it (for an agent running as root or as the service's user,
// with fakeUsers): the parser never panics, and a configuration it accepts
// the notifier accepts too.
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
		var nf notifyFile
		if _, err := toml.Decode(text.String(), &nf); err != nil {
			return // refused while decoding: a bad rate, duration or command
		}
		euid := 990
		if asRoot {
			euid = 0
		}
		errAt := func(key, format string, args ...any) error {
			return &ConfigError{Path: "c.toml", Msg: key + ": " + fmt.Sprintf(format, args...)}
		}
		nc, err := parseNotifyAs(nf, errAt, euid, fakeUsers)
		if err != nil {
			return
		}
		n, err := notify.New(nc, notify.Options{})
		if err != nil {
			t.Fatalf("parseNotify accepted what notify.New refuses: %v\n%s", err, text.String())
		}
		n.Close()
	})
}
