package main

import (
	"fmt"
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
	MaxRunning *int `toml:"max_running"`
}

// parseNotify validates the [[notify]] sections and [notify_settings],
// filling in the defaults. Negative rates and unknown units are refused by
// model.Rate while decoding, with their line.
func parseNotify(nf notifyFile, errAt errAtFunc) (notify.Config, error) {
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
	return nc, nil
}
