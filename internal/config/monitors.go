package config

import (
	"fmt"
	"regexp"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/pipe"
)

// monitors maps the [[monitor]] sections, with what [conntrack] sets for
// every conntrack monitor and the limits l. Without any section, one
// conntrack monitor watches bwmon's own network namespace.
func (p *parser) monitors(sections []monitorSection, ct conntrackSection, sk socketSection, l model.Limits) ([]monitor.ConntrackConfig, []pipe.Config, error) {
	shared := monitor.ConntrackConfig{
		IgnoreForwarded:      ct.Forwarded != nil && !*ct.Forwarded,
		MaxNamespaces:        l.Namespaces,
		ManageUserNamespaces: ct.ManageUserNS != nil && *ct.ManageUserNS,
		Socket:               monitor.SocketAuto,
		KeepConntrackEvents:  sk.QuietConntrack != nil && !*sk.QuietConntrack,
		MaxSockets:           monitor.DefaultMaxSockets,
	}
	if sk.Mode != nil {
		shared.Socket = monitor.SocketMode(*sk.Mode)
		if !shared.Socket.Valid() || *sk.Mode == "" {
			return nil, nil, p.errAt("socket.mode", "mode = %q: want \"auto\" (count at the socket where the kernel allows it, else with conntrack), \"on\" (at the socket or not at all) or \"off\" (conntrack alone)", *sk.Mode)
		}
	}
	if sk.MaxSockets != nil {
		n := *sk.MaxSockets
		if n < monitor.MinMaxSockets || n > monitor.MaxMaxSockets {
			return nil, nil, p.errAt("socket.max_sockets", "max_sockets = %d: want from %d to %d sockets counted at once (%d bytes of kernel memory each; the default is %d)", n, monitor.MinMaxSockets, monitor.MaxMaxSockets, monitor.SocketSlotBytes, monitor.DefaultMaxSockets)
		}
		shared.MaxSockets = n
	}
	if ct.Namespaces != nil {
		switch *ct.Namespaces {
		case "all":
			shared.AllNamespaces = true
		case "own":
		default:
			return nil, nil, p.errAt("conntrack.namespaces", "namespaces = %q: want \"own\" (the monitor's network namespace; containers behind NAT are followed) or \"all\" (every network namespace of the host)", *ct.Namespaces)
		}
	}
	if len(sections) == 0 {
		if err := shared.Validate(); err != nil {
			return nil, nil, p.invalid("conntrack", err)
		}
		return []monitor.ConntrackConfig{shared}, nil, nil
	}
	var conntracks []monitor.ConntrackConfig
	var pipes []pipe.Config
	for i, m := range sections {
		key := fmt.Sprintf("monitor.%d", i)
		switch m.Type {
		case "conntrack":
			c, err := p.conntrack(m, key, shared)
			if err != nil {
				return nil, nil, err
			}
			conntracks = append(conntracks, c)
		case "pipe":
			c, err := p.pipe(m, key, pipes)
			if err != nil {
				return nil, nil, err
			}
			pipes = append(pipes, c)
		case "":
			return nil, nil, p.errAt(key, "[[monitor]] needs a type (\"conntrack\" or \"pipe\")")
		default:
			return nil, nil, p.errAt(key+".type", "unknown monitor type %q (want \"conntrack\" or \"pipe\")", m.Type)
		}
	}
	return conntracks, pipes, nil
}

// conntrack maps the [[monitor]] type = "conntrack" section m, keyed key
// ("monitor.N"), onto shared.
func (p *parser) conntrack(m monitorSection, key string, shared monitor.ConntrackConfig) (monitor.ConntrackConfig, error) {
	c := shared
	if err := p.foreignKeys(key, pipeKeys, "pipe"); err != nil {
		return c, err
	}
	c.IgnoreLocal, c.NetNS = m.IgnoreLocal, m.NetNS
	var err error
	if c.Include, err = p.regexes(m.Include, key, "include"); err != nil {
		return c, err
	}
	if c.Exclude, err = p.regexes(m.Exclude, key, "exclude"); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, p.invalid(key, err)
	}
	return c, nil
}

func (p *parser) regexes(list []string, key, field string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, s := range list {
		re, err := compileRegex(s)
		if err != nil {
			return nil, p.errAt(key+"."+field, "%s: %v", field, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// pipe maps the [[monitor]] type = "pipe" section m, keyed key
// ("monitor.N"), and checks it against the pipes before it. In the file,
// 0 turns max_conns and idle_timeout off, and a negative is refused.
func (p *parser) pipe(m monitorSection, key string, before []pipe.Config) (pipe.Config, error) {
	c := pipe.Config{Name: m.Name, Listen: m.Listen, Target: m.Target, RateLimit: m.RateLimit, DrainTimeout: m.DrainTimeout.Duration}
	if err := p.foreignKeys(key, conntrackKeys, "conntrack"); err != nil {
		return c, err
	}
	// Left out, they keep pipe.Config's zero value: the package's default.
	if m.MaxConns != nil {
		if *m.MaxConns < 0 {
			return c, p.errAt(key+".max_conns", "max_conns = %d: use 0 (no limit) or more", *m.MaxConns)
		}
		c.MaxConns = pipe.OrNoLimit(*m.MaxConns)
	}
	if m.IdleTimeout != nil {
		if m.IdleTimeout.Duration < 0 {
			return c, p.errAt(key+".idle_timeout", "idle_timeout %s must not be negative: use \"0s\" to never close idle connections", m.IdleTimeout.Duration)
		}
		c.IdleTimeout = pipe.OrNoLimit(m.IdleTimeout.Duration)
	}
	if err := c.Validate(); err != nil {
		return c, p.invalid(key, err)
	}
	c.Listen, _ = pipe.CheckListen(c.Listen) // normalised: Validate checked it
	for _, q := range before {
		if q.Listen == c.Listen {
			return c, p.errAt(key+".listen", "listen %q is used by an earlier pipe: give each pipe its own address", m.Listen)
		}
	}
	if c.Name == "" {
		c.Name = pipe.DefaultName(c.Listen, c.Target)
	}
	return c, nil
}

// foreignKeys refuses, in the [[monitor]] section keyed key, the keys of
// another monitor type, which the decoder takes without complaint.
func (p *parser) foreignKeys(key string, keys []string, typ string) error {
	for _, k := range keys {
		if _, ok := p.lines[key+"."+k]; ok {
			return p.errAt(key+"."+k, "%s applies to type = %q only", k, typ)
		}
	}
	return nil
}
