package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/notify"
)

// notifyFile holds the alerting sections of the file; fileConfig embeds it.
type notifyFile struct {
	Notify         []notifySection `toml:"notify"`
	NotifySettings notifySettings  `toml:"notify_settings"`
}

// notifySection is one [[notify]] rule as written.
type notifySection struct {
	App            string     `toml:"app"`
	InThreshold    model.Rate `toml:"in_threshold"`
	OutThreshold   model.Rate `toml:"out_threshold"`
	Window         *int       `toml:"window"`
	Command        argv       `toml:"command"`
	CommandTimeout *duration  `toml:"command_timeout"`
	Cooldown       *duration  `toml:"cooldown"`
	Resolve        bool       `toml:"resolve"`
	Webhook        string     `toml:"webhook"`
}

// argv is a command as a TOML list of strings. A single string is refused
// rather than split: splitting is a shell's job, and bwmon runs none.
type argv []string

func (a *argv) UnmarshalTOML(v any) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf(`command must be a list, e.g. ["/usr/local/bin/page", "--team", "net"]: it runs without a shell, so bwmon splits nothing`)
	}
	*a = make(argv, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("command: %v is not a string: quote every argument", x)
		}
		*a = append(*a, s)
	}
	return nil
}

// notifySettings is [notify_settings]: what all rules share.
type notifySettings struct {
	MaxRunning  *int    `toml:"max_running"`
	CommandUser *string `toml:"command_user"`
}

// parseNotify validates the [[notify]] sections and [notify_settings],
// filling in the defaults. Negative rates and unknown units are refused by
// model.Rate while decoding, with their line.
func parseNotify(nf notifyFile, errAt errAtFunc) (notify.Config, error) {
	return parseNotifyAs(nf, errAt, os.Geteuid(), systemUsers)
}

// parseNotifyAs is parseNotify for an agent running with effective uid
// euid, its command_user looked up in db.
func parseNotifyAs(nf notifyFile, errAt errAtFunc, euid int, db userDB) (notify.Config, error) {
	var nc notify.Config
	if m := nf.NotifySettings.MaxRunning; m != nil {
		if *m < 1 {
			return nc, errAt("notify_settings.max_running", "max_running = %d: use 1 or more (default %d)", *m, notify.DefaultMaxRunning)
		}
		nc.MaxRunning = *m
	}
	for i, s := range nf.Notify {
		key := fmt.Sprintf("notify.%d", i)
		r := notify.Rule{
			In: s.InThreshold, Out: s.OutThreshold, Window: notify.DefaultWindow,
			Command: s.Command, CommandTimeout: notify.DefaultCommandTimeout,
			Cooldown: notify.DefaultCooldown, Resolve: s.Resolve, Webhook: s.Webhook,
		}
		if s.App == "" {
			return nc, errAt(key, `[[notify]] needs app = "REGEX": the apps it watches (".*" for all)`)
		}
		re, err := compileRegex(s.App)
		if err != nil {
			return nc, errAt(key+".app", "app: %v", err)
		}
		r.App = re
		if r.In == 0 && r.Out == 0 {
			return nc, errAt(key, `[[notify]] for %q checks nothing: set in_threshold or out_threshold (e.g. "10MB/s")`, s.App)
		}
		if s.Window != nil {
			if *s.Window < 1 || *s.Window > notify.MaxWindow {
				return nc, errAt(key+".window", "window = %d: use 1 to %d ticks", *s.Window, notify.MaxWindow)
			}
			r.Window = *s.Window
		}
		if s.Cooldown != nil {
			if s.Cooldown.Duration < 0 {
				return nc, errAt(key+".cooldown", `cooldown %s must not be negative: use "0s" for an alert each tick`, s.Cooldown.Duration)
			}
			r.Cooldown = s.Cooldown.Duration
		}
		if s.CommandTimeout != nil {
			if s.CommandTimeout.Duration <= 0 {
				return nc, errAt(key+".command_timeout", "command_timeout %s must be positive", s.CommandTimeout.Duration)
			}
			r.CommandTimeout = s.CommandTimeout.Duration
		}
		if s.Command != nil && (len(s.Command) == 0 || strings.TrimSpace(s.Command[0]) == "") {
			return nc, errAt(key+".command", `command needs the program first: command = ["/path/to/program", "arg", ...]; remove it for none`)
		}
		if s.Webhook != "" {
			if err := notify.CheckWebhook(s.Webhook); err != nil {
				return nc, errAt(key+".webhook", "%v", err)
			}
		}
		nc.Rules = append(nc.Rules, r)
	}
	hasCommand := slices.ContainsFunc(nc.Rules, func(r notify.Rule) bool { return len(r.Command) > 0 })
	if nf.NotifySettings.CommandUser == nil && !hasCommand {
		return nc, nil
	}
	ru, err := resolveCommandUser(nf.NotifySettings.CommandUser, euid, db)
	if err != nil {
		return nc, errAt("notify_settings.command_user", "%v", err)
	}
	if hasCommand {
		if nc.Launcher, err = alertExecLauncher(ru); err != nil {
			return nc, errAt("notify_settings.command_user", "%v", err)
		}
		nc.CommandUser = ru.name
	}
	return nc, nil
}

// runAs is who the alert commands run as ([notify_settings] command_user).
// Whoever it is, a command gets no capabilities from the agent, cannot gain
// privileges and runs at nice 0 (alertexec_linux.go).
type runAs struct {
	// name is the user's name, or "uid N" when it has none; for the log.
	name string
	// switchUser: the agent runs as root and the commands as the user
	// below. False: they keep the agent's user.
	switchUser bool
	uid, gid   int
	// groups are the user's groups, its primary one included.
	groups []int
	home   string
}

// defaultCommandUser is whom the commands run as when bwmon runs as root
// and command_user is not set.
const defaultCommandUser = "nobody"

// userDB looks users up: the system's (os/user) or a test's.
type userDB struct {
	lookup   func(name string) (*user.User, error)
	lookupID func(uid string) (*user.User, error)
	groupIDs func(*user.User) ([]string, error)
}

var systemUsers = userDB{lookup: user.Lookup, lookupID: user.LookupId, groupIDs: (*user.User).GroupIds}

// resolveCommandUser decides whom the alert commands run as, for an agent
// running with effective uid euid and command_user set to *want (nil: not
// set). As root: the user named (default "nobody"), which must exist;
// "root" keeps root. Not root: bwmon cannot switch users, so the commands
// keep its own user, which command_user may name (or "root", meaning: the
// agent's user); another user is an error.
func resolveCommandUser(want *string, euid int, db userDB) (runAs, error) {
	self := runAs{name: "uid " + strconv.Itoa(euid)}
	if u, err := db.lookupID(strconv.Itoa(euid)); err == nil {
		self.name = u.Username
	}
	name := defaultCommandUser
	switch {
	case want != nil && *want == "":
		return runAs{}, fmt.Errorf(`command_user is empty: name the user the alert commands run as (default %q when bwmon runs as root)`, defaultCommandUser)
	case want != nil:
		name = *want
	case euid != 0:
		return self, nil
	}
	if name == "root" {
		return self, nil
	}
	u, err := db.lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return runAs{}, fmt.Errorf("command_user = %q: no such user: create it, or set command_user to an existing unprivileged user", name)
		}
		return runAs{}, fmt.Errorf("command_user = %q: looking the user up: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return runAs{}, fmt.Errorf("command_user = %q: uid %q, gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == euid {
		return self, nil
	}
	if euid != 0 {
		return runAs{}, fmt.Errorf("command_user = %q: bwmon runs as %s, not root, and cannot switch users: remove command_user (the commands then run as %s, without its capabilities) or run bwmon as root", name, self.name, self.name)
	}
	ru := runAs{name: u.Username, switchUser: true, uid: uid, gid: gid, home: u.HomeDir, groups: []int{gid}}
	ids, err := db.groupIDs(u)
	if err != nil {
		return runAs{}, fmt.Errorf("command_user = %q: listing the user's groups: %w", name, err)
	}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return runAs{}, fmt.Errorf("command_user = %q: group id %q is not a number", name, s)
		}
		if !slices.Contains(ru.groups, g) {
			ru.groups = append(ru.groups, g)
		}
	}
	return ru, nil
}
