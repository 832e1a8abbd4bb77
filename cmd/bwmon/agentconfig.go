package main

import (
	"slices"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/notify"
)

// setLauncher sets what runs each alert command of cfg: this executable's
// hidden __alert-exec subcommand, which runs it as cfg.Notify.User without
// the agent's privileges (alertexec_linux.go). Without a command it sets
// nothing; where commands cannot be run so, the error names command_user.
func setLauncher(cfg *config.Config) error {
	if !slices.ContainsFunc(cfg.Notify.Rules, func(r notify.Rule) bool { return len(r.Command) > 0 }) {
		return nil
	}
	l, err := alertExecLauncher(cfg.Notify.User)
	if err != nil {
		return cfg.ErrorAt("notify_settings.command_user", err)
	}
	cfg.Notify.Launcher = l
	return nil
}
