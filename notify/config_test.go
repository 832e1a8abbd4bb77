package notify

import (
	"errors"
	"os/user"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// TestValidate: each value Validate refuses is named by its key in the
// configuration file, with the message the file's author reads.
func TestValidate(t *testing.T) {
	good := func() Config {
		return Config{MaxRunning: 1, Rules: []Rule{{App: regexp.MustCompile("x"), Out: 1, Window: 1, CommandTimeout: time.Second}}}
	}
	tests := []struct {
		name      string
		change    func(c *Config, r *Rule)
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"valid", func(c *Config, r *Rule) {}, "", ""},
		{"every key", func(c *Config, r *Rule) {
			r.In, r.Window, r.Command, r.Cooldown, r.Resolve, r.Webhook = 5, MaxWindow, []string{"/bin/page"}, 0, true, "https://h.example/x"
		}, "", ""},
		{"max_running 0", func(c *Config, r *Rule) { c.MaxRunning = 0 }, "notify_settings.max_running", "max_running = 0: use 1 or more (default 4)"},
		{"no app", func(c *Config, r *Rule) { r.App = nil }, "notify.0", `[[notify]] needs app = "REGEX"`},
		{"empty app", func(c *Config, r *Rule) { r.App = regexp.MustCompile("") }, "notify.0", `[[notify]] needs app = "REGEX"`},
		{"negative in", func(c *Config, r *Rule) { r.In = -1 }, "notify.0.in_threshold", "in_threshold -1 must not be negative"},
		{"negative out", func(c *Config, r *Rule) { r.Out = -2 }, "notify.0.out_threshold", "out_threshold -2 must not be negative"},
		{"no threshold", func(c *Config, r *Rule) { r.Out = 0 }, "notify.0", `[[notify]] for "x" checks nothing: set in_threshold or out_threshold`},
		{"window 0", func(c *Config, r *Rule) { r.Window = 0 }, "notify.0.window", "window = 0: use 1 to 3600 ticks"},
		{"window too long", func(c *Config, r *Rule) { r.Window = MaxWindow + 1 }, "notify.0.window", "window = 3601: use 1 to 3600 ticks"},
		{"negative cooldown", func(c *Config, r *Rule) { r.Cooldown = -time.Minute }, "notify.0.cooldown", "cooldown -1m0s must not be negative"},
		{"zero command_timeout", func(c *Config, r *Rule) { r.CommandTimeout = 0 }, "notify.0.command_timeout", "command_timeout 0s must be positive"},
		{"empty command", func(c *Config, r *Rule) { r.Command = []string{} }, "notify.0.command", "command needs the program first"},
		{"blank program", func(c *Config, r *Rule) { r.Command = []string{" ", "x"} }, "notify.0.command", "command needs the program first"},
		{"webhook not http", func(c *Config, r *Rule) { r.Webhook = "ftp://h/x" }, "notify.0.webhook", `bad webhook URL "ftp://h/x": want an http:// or https:// URL`},
		{"webhook without host", func(c *Config, r *Rule) { r.Webhook = "http:///hook" }, "notify.0.webhook", "bad webhook URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c, &c.Rules[0])
			err := c.Validate()
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
	t.Run("the second rule is named by its index", func(t *testing.T) {
		c := good()
		bad := c.Rules[0]
		bad.Window = 0
		c.Rules = append(c.Rules, bad)
		var fe *model.FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "notify.1.window" {
			t.Fatalf("Validate = %v, want notify.1.window", err)
		}
	})
}

// fakeUsers is a user database of root, alice (uid 1000, also in group
// 27), the unit's user bwmon (uid 990) and nobody.
var fakeUsers = UserDB{
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
	GroupIDs: func(u *user.User) ([]string, error) {
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

func TestResolveUser(t *testing.T) {
	str := func(s string) *string { return &s }
	noNobody := fakeUsers
	noNobody.Lookup = func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	tests := []struct {
		name     string
		want     *string
		euid     int
		db       UserDB
		wantUser User
		wantErr  string
	}{
		{name: "root, unset: nobody", euid: 0,
			wantUser: User{Name: "nobody", Switch: true, UID: 65534, GID: 65534, Groups: []int{65534}, Home: "/nonexistent"}},
		{name: "root, a user with groups", want: str("alice"), euid: 0,
			wantUser: User{Name: "alice", Switch: true, UID: 1000, GID: 1000, Groups: []int{1000, 27}, Home: "/home/alice"}},
		{name: `root, "root": keeps root`, want: str("root"), euid: 0, wantUser: User{Name: "root"}},
		{name: "service user, unset: keeps its user", euid: 990, wantUser: User{Name: "bwmon"}},
		{name: "service user named: keeps it", want: str("bwmon"), euid: 990, wantUser: User{Name: "bwmon"}},
		{name: `service user, "root": keeps its own user`, want: str("root"), euid: 990, wantUser: User{Name: "bwmon"}},
		{name: "a user without a name keeps its uid", euid: 4242, wantUser: User{Name: "uid 4242"}},
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
			if db.Lookup == nil {
				db = fakeUsers
			}
			got, err := ResolveUser(tt.want, tt.euid, db)
			if tt.wantErr != "" {
				var fe *model.FieldError
				if !errors.As(err, &fe) || fe.Field != "notify_settings.command_user" || !strings.HasPrefix(fe.Err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want notify_settings.command_user: %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.wantUser) {
				t.Fatalf("got %+v, want %+v", got, tt.wantUser)
			}
		})
	}
}
