// Package config reads bwmon's TOML configuration file: it maps each key
// to a field of the Config of the part that uses it (aggregator.Config,
// monitor.ConntrackConfig, pipe.Config, notify.Config, state.Config,
// httpapi.Config, model.Limits), fills in the defaults, and has each part's
// Validate check its own. Load and Parse return the result, or one *Error
// that says FILE:LINE: what is wrong and how to fix it, whichever key it
// is about: the decoder's syntax and type errors, an unknown key, a key of
// another monitor type, or a field a part's Validate names
// (model.FieldError), found on its line by a locator of its own
// (locate.go: BurntSushi/toml gives lines for syntax errors only).
// config.example.toml documents every key; Defaults is what it decodes to.
//
// The rules are the parts': this package holds only those of the file
// itself (how a key is written, "0 means no limit" for a pipe's
// max_conns and idle_timeout, [conntrack] namespaces = "own" | "all", two
// pipes on one address). An error never shows a webhook's credentials
// (internal/redact).
//
// It reads one file and, for [notify_settings] command_user, the user
// database; it needs no privileges. Command-line flags are cmd/bwmon's.
package config
