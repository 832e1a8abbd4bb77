package main

import (
	"time"

	"github.com/bwmon/bwmon/pipe"
)

// The keys of a [[monitor]] section that belong to one type.
var (
	pipeKeys      = []string{"listen", "target", "name", "rate_limit", "max_conns", "idle_timeout", "drain_timeout"}
	conntrackKeys = []string{"include", "exclude", "ignore_local", "netns"}
)

// errAtFunc makes a *ConfigError on the line of a key.
type errAtFunc func(key, format string, args ...any) error

// parsePipe validates the [[monitor]] type = "pipe" section m, keyed key
// ("monitor.N"), against the pipes before it.
func parsePipe(m monitorSection, key string, lines keyLines, before []pipe.Config, errAt errAtFunc) (pipe.Config, error) {
	var pc pipe.Config
	if err := foreignKeys(lines, key, conntrackKeys, "conntrack", errAt); err != nil {
		return pc, err
	}
	if m.Listen == "" {
		return pc, errAt(key, `pipe needs listen = ":PORT" (every address) or "HOST:PORT": where clients connect`)
	}
	listen, err := pipe.CheckListen(m.Listen)
	if err != nil {
		return pc, errAt(key+".listen", "listen: %v", err)
	}
	for _, q := range before {
		if q.Listen == listen {
			return pc, errAt(key+".listen", "listen %q is used by an earlier pipe: give each pipe its own address", m.Listen)
		}
	}
	if m.Target == "" {
		return pc, errAt(key, `pipe needs target = "HOST:PORT": where the pipe connects each client`)
	}
	if err := pipe.CheckTarget(m.Target); err != nil {
		return pc, errAt(key+".target", "target: %v", err)
	}
	switch {
	case m.RateLimit < 0:
		return pc, errAt(key+".rate_limit", "rate_limit must not be negative")
	case m.MaxConns != nil && *m.MaxConns < 0:
		return pc, errAt(key+".max_conns", "max_conns = %d: use 0 (no limit) or more", *m.MaxConns)
	case m.IdleTimeout != nil && m.IdleTimeout.Duration < 0:
		return pc, errAt(key+".idle_timeout", "idle_timeout %s must not be negative: use \"0s\" to never close idle connections", m.IdleTimeout.Duration)
	case m.DrainTimeout.Duration < 0:
		return pc, errAt(key+".drain_timeout", "drain_timeout %s must not be negative", m.DrainTimeout.Duration)
	}
	name := m.Name
	if name == "" {
		name = pipe.DefaultName(listen, m.Target)
	}
	pc = pipe.Config{
		Name: name, Listen: listen, Target: m.Target, RateLimit: m.RateLimit,
		DrainTimeout: m.DrainTimeout.Duration,
	}
	// Left out, they keep pipe.Config's zero value: the package's default.
	if m.MaxConns != nil {
		pc.MaxConns = orNoLimit(*m.MaxConns)
	}
	if m.IdleTimeout != nil {
		pc.IdleTimeout = orNoLimit(m.IdleTimeout.Duration)
	}
	return pc, nil
}

// orNoLimit maps a 0 the user wrote, "no limit" in bwmon's config and
// flags, to pipe.NoLimit: pipe.Config reads 0 as its default.
func orNoLimit[T int | time.Duration](v T) T {
	if v == 0 {
		return pipe.NoLimit
	}
	return v
}

// foreignKeys refuses, in the [[monitor]] section keyed key, the keys of
// another monitor type, which the decoder takes without complaint.
func foreignKeys(lines keyLines, key string, keys []string, typ string, errAt errAtFunc) error {
	for _, k := range keys {
		if _, ok := lines[key+"."+k]; ok {
			return errAt(key+"."+k, "%s applies to type = %q only", k, typ)
		}
	}
	return nil
}
