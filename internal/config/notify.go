package config

import (
	"fmt"
	"slices"

	"github.com/bwmon/bwmon/notify"
)

// notify maps the [[notify]] rules and [notify_settings], filling in the
// defaults, and resolves command_user as e finds it when a rule has a
// command or command_user is set.
func (p *parser) notify(rules []notifySection, settings notifySettings, e env, classes []string) (notify.Config, error) {
	c := notify.Config{MaxRunning: notify.DefaultMaxRunning, ClassNames: classes}
	if settings.MaxRunning != nil {
		c.MaxRunning = *settings.MaxRunning
	}
	for i, s := range rules {
		r := notify.Rule{
			In: s.InThreshold, Out: s.OutThreshold, Window: notify.DefaultWindow,
			Command: s.Command, CommandTimeout: notify.DefaultCommandTimeout,
			Cooldown: notify.DefaultCooldown, Resolve: s.Resolve, Webhook: s.Webhook,
			Class: s.Class,
		}
		if s.App != "" { // "" leaves no regex: Validate asks for one
			re, err := compileRegex(s.App)
			if err != nil {
				return c, p.errAt(fmt.Sprintf("notify.%d.app", i), "app: %v", err)
			}
			r.App = re
		}
		if s.Window != nil {
			r.Window = *s.Window
		}
		if s.Cooldown != nil {
			r.Cooldown = s.Cooldown.Duration
		}
		if s.CommandTimeout != nil {
			r.CommandTimeout = s.CommandTimeout.Duration
		}
		c.Rules = append(c.Rules, r)
	}
	if err := c.Validate(); err != nil {
		return c, p.invalid("", err)
	}
	hasCommand := slices.ContainsFunc(c.Rules, func(r notify.Rule) bool { return len(r.Command) > 0 })
	if settings.CommandUser == nil && !hasCommand {
		return c, nil
	}
	u, err := notify.ResolveUser(settings.CommandUser, e.euid, e.users)
	if err != nil {
		return c, p.invalid("", err)
	}
	if hasCommand {
		c.User = u
	}
	return c, nil
}
