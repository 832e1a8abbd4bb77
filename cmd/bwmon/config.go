package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/notify"
	"github.com/bwmon/bwmon/pipe"
)

// fileConfig is the TOML file as written; config.example.toml documents
// every key. Pointers tell "absent" from "false".
type fileConfig struct {
	Interval  *duration        `toml:"interval"`
	AutoGroup *bool            `toml:"auto_group"`
	GroupBy   *string          `toml:"group_by"`
	Conntrack conntrackSection `toml:"conntrack"`
	Apps      []appSection     `toml:"app"`
	Monitors  []monitorSection `toml:"monitor"`
	State     stateSection     `toml:"state"`
	Limits    limitsSection    `toml:"limits"` // limitsconfig.go
	HTTP      httpSection      `toml:"http"`   // httpconfig.go

	notifyFile // [[notify]] and [notify_settings] (notifyconfig.go)
}

type conntrackSection struct {
	Manage       *bool   `toml:"manage"`
	Forwarded    *bool   `toml:"forwarded"`
	Namespaces   *string `toml:"namespaces"`
	ManageUserNS *bool   `toml:"manage_user_namespaces"`
}

type appSection struct {
	Name  string   `toml:"name"`
	Match []string `toml:"match"`
}

type monitorSection struct {
	Type        string   `toml:"type"`
	Include     []string `toml:"include"`
	Exclude     []string `toml:"exclude"`
	IgnoreLocal bool     `toml:"ignore_local"`
	NetNS       string   `toml:"netns"`

	// type = "pipe" (pipeconfig.go)
	Listen       string     `toml:"listen"`
	Target       string     `toml:"target"`
	Name         string     `toml:"name"`
	RateLimit    model.Rate `toml:"rate_limit"`
	MaxConns     *int       `toml:"max_conns"`    // nil: the default
	IdleTimeout  *duration  `toml:"idle_timeout"` // nil: the default
	DrainTimeout duration   `toml:"drain_timeout"`
}

// duration reads "1s", "1m30s".
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: write it like \"1s\", \"500ms\" or \"1m30s\"", b)
	}
	d.Duration = v
	return nil
}

// Config is the validated configuration the agent runs with.
type Config struct {
	// Path is the file it came from, "" for the embedded defaults.
	Path       string
	Aggregator aggregator.Config
	// Manage lets bwmon switch on conntrack accounting and engage
	// conntrack with an nftables table of its own.
	Manage bool
	// Conntrack holds one entry per conntrack monitor.
	Conntrack []monitor.ConntrackConfig
	// TickStats, when set (-tick-stats), receives the tick duration
	// percentiles at exit.
	TickStats io.Writer
	// Pipes holds one entry per pipe monitor.
	Pipes []pipe.Config
	// Notify holds the [[notify]] alert rules.
	Notify notify.Config
	// State is the [state] table (stateconfig.go).
	State StateConfig
	// HTTP is where the page, the API and the metrics are served.
	HTTP HTTPConfig
	// Limits are the bounds of the [limits] table; cmd hands each part
	// its own (the aggregator gets them all, to report).
	Limits model.Limits
}

// Defaults is the configuration without a file: watch the whole host,
// group by executable, tick every second.
func Defaults() *Config {
	return &Config{
		Aggregator: aggregator.Config{Interval: time.Second, Grouper: aggregator.Grouper{AutoGroup: true, By: aggregator.GroupByApp},
			Limits: model.Limits{}.WithDefaults()},
		Manage:    true,
		Conntrack: []monitor.ConntrackConfig{{MaxNamespaces: model.DefaultLimitNamespaces}},
		State:     StateConfig{Dir: DefaultStateDir, Flush: state.DefaultFlush},
		HTTP:      defaultHTTP(),
		Limits:    model.Limits{}.WithDefaults(),
	}
}

// ConfigError is a problem in the configuration file, with the line it is
// on when known.
type ConfigError struct {
	Path string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// LoadConfig reads and validates the file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(path, string(b))
}

// ParseConfig validates text, the content of the file at path. Every error
// is a *ConfigError; its message shows no URL's userinfo, path or query
// (a webhook's credentials), only its scheme and host.
func ParseConfig(path, text string) (*Config, error) {
	lines := locateKeys(text)
	var secrets []string // the webhook URLs, once decoded
	errAt := func(key, format string, args ...any) error {
		msg := redactURLs(redactValues(fmt.Sprintf(format, args...), secrets))
		return &ConfigError{Path: path, Line: lines.line(key), Msg: msg}
	}

	var fc fileConfig
	md, err := toml.Decode(text, &fc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{Path: path, Line: pe.Position.Line, Msg: redactURLs(tomlMessage(pe))}
		}
		line, msg := decodeMessage(err.Error())
		return nil, &ConfigError{Path: path, Line: line, Msg: redactURLs(msg)}
	}
	for _, n := range fc.Notify {
		secrets = append(secrets, n.Webhook)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return nil, errAt(k, "unknown key %q (see config.example.toml for the keys bwmon reads)", k)
	}

	cfg := Defaults()
	cfg.Path = path
	if fc.Interval != nil {
		if fc.Interval.Duration < 100*time.Millisecond {
			return nil, errAt("interval", "interval %s is too short: use at least 100ms", fc.Interval.Duration)
		}
		cfg.Aggregator.Interval = fc.Interval.Duration
	}
	if fc.AutoGroup != nil {
		cfg.Aggregator.Grouper.AutoGroup = *fc.AutoGroup
	}
	if fc.GroupBy != nil {
		by, err := parseGroupBy(*fc.GroupBy)
		if err != nil {
			return nil, errAt("group_by", "%v", err)
		}
		cfg.Aggregator.Grouper.By = by
	}
	if fc.Conntrack.Manage != nil {
		cfg.Manage = *fc.Conntrack.Manage
	}
	ignoreForwarded := fc.Conntrack.Forwarded != nil && !*fc.Conntrack.Forwarded
	allNS := false
	if fc.Conntrack.Namespaces != nil {
		switch *fc.Conntrack.Namespaces {
		case "all":
			allNS = true
		case "own":
		default:
			return nil, errAt("conntrack.namespaces", "namespaces = %q: want \"own\" (the monitor's network namespace; containers behind NAT are followed) or \"all\" (every network namespace of the host)", *fc.Conntrack.Namespaces)
		}
	}
	if err := parseState(fc.State, &cfg.State, errAt); err != nil {
		return nil, err
	}
	if err := parseLimits(fc.Limits, &cfg.Limits, errAt); err != nil {
		return nil, err
	}
	if cfg.HTTP, err = parseHTTP(fc.HTTP, errAt); err != nil {
		return nil, err
	}

	seen := map[string]bool{}
	for i, a := range fc.Apps {
		key := fmt.Sprintf("app.%d", i)
		if strings.TrimSpace(a.Name) == "" {
			return nil, errAt(key, "[[app]] needs a name")
		}
		if seen[a.Name] {
			return nil, errAt(key+".name", "app %q is defined twice", a.Name)
		}
		seen[a.Name] = true
		if len(a.Match) == 0 {
			return nil, errAt(key, "app %q needs match = [\"regex\", ...]", a.Name)
		}
		rule := aggregator.AppRule{Name: a.Name}
		for _, m := range a.Match {
			re, err := compileRegex(m)
			if err != nil {
				return nil, errAt(key+".match", "app %q: %v", a.Name, err)
			}
			rule.Match = append(rule.Match, re)
		}
		cfg.Aggregator.Grouper.Rules = append(cfg.Aggregator.Grouper.Rules, rule)
	}

	if cfg.Notify, err = parseNotify(fc.notifyFile, errAt); err != nil {
		return nil, err
	}

	if len(fc.Monitors) > 0 {
		cfg.Conntrack = nil
	}
	for i, m := range fc.Monitors {
		key := fmt.Sprintf("monitor.%d", i)
		switch m.Type {
		case "conntrack":
			if err := foreignKeys(lines, key, pipeKeys, "pipe", errAt); err != nil {
				return nil, err
			}
			if allNS && m.NetNS != "" {
				return nil, errAt(key+".netns", "[conntrack] namespaces = \"all\" already watches network namespace %q: remove this netns (or this monitor), or set namespaces = \"own\"", m.NetNS)
			}
			mc := monitor.ConntrackConfig{IgnoreLocal: m.IgnoreLocal, NetNS: m.NetNS}
			for _, s := range m.Include {
				re, err := compileRegex(s)
				if err != nil {
					return nil, errAt(key+".include", "include: %v", err)
				}
				mc.Include = append(mc.Include, re)
			}
			for _, s := range m.Exclude {
				re, err := compileRegex(s)
				if err != nil {
					return nil, errAt(key+".exclude", "exclude: %v", err)
				}
				mc.Exclude = append(mc.Exclude, re)
			}
			cfg.Conntrack = append(cfg.Conntrack, mc)
		case "pipe":
			pc, err := parsePipe(m, key, lines, cfg.Pipes, errAt)
			if err != nil {
				return nil, err
			}
			cfg.Pipes = append(cfg.Pipes, pc)
		case "":
			return nil, errAt(key, "[[monitor]] needs a type (\"conntrack\" or \"pipe\")")
		default:
			return nil, errAt(key+".type", "unknown monitor type %q (want \"conntrack\" or \"pipe\")", m.Type)
		}
	}
	for i := range cfg.Conntrack {
		mc := &cfg.Conntrack[i]
		mc.IgnoreForwarded = ignoreForwarded
		mc.AllNamespaces = allNS
		mc.MaxNamespaces = cfg.Limits.Namespaces
		mc.ManageUserNamespaces = fc.Conntrack.ManageUserNS != nil && *fc.Conntrack.ManageUserNS
	}
	cfg.Aggregator.Limits = cfg.Limits
	return cfg, nil
}

// compileRegex compiles a Go (RE2) regex; an empty one is refused, since it
// would match every command line (the original's exclude bug).
func compileRegex(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, errors.New("empty regex matches everything; remove it or write what to match")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("bad regex %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func tomlMessage(pe toml.ParseError) string {
	msg := pe.Message
	if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
		msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
	}
	return msg
}

// decodeMessage splits a decoder error that carries no position field
// (a type mismatch: "toml: line 3 (last key \"a.b\"): incompatible
// types...") into its line and "a.b: incompatible types...".
func decodeMessage(s string) (line int, msg string) {
	msg = strings.TrimPrefix(s, "toml: ")
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	i := 0
	for i < len(rest) && i < 9 && rest[i] >= '0' && rest[i] <= '9' {
		line = line*10 + int(rest[i]-'0')
		i++
	}
	rest, ok = strings.CutPrefix(rest[i:], " (last key ")
	if i == 0 || !ok {
		return 0, msg
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return line, msg
	}
	key, _ := strconv.Unquote(q)
	return line, key + strings.TrimPrefix(rest[len(q):], ")")
}
