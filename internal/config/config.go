package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/classify"
	"github.com/bwmon/bwmon/internal/redact"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor"
	"github.com/bwmon/bwmon/notify"
	"github.com/bwmon/bwmon/pipe"
)

// Config is the validated configuration the agent runs with: each part's
// own Config, each checked by that part's Validate.
type Config struct {
	// Path is the file it came from, "" for the built-in defaults.
	Path       string
	Aggregator aggregator.Config
	// Manage lets bwmon switch on conntrack accounting and engage
	// conntrack with an nftables table of its own ([conntrack] manage).
	Manage bool
	// Conntrack holds one entry per conntrack monitor.
	Conntrack []monitor.ConntrackConfig
	// Pipes holds one entry per pipe monitor.
	Pipes []pipe.Config
	// Notify holds the [[notify]] alert rules and [notify_settings]; its
	// User is resolved, its Launcher left for cmd/bwmon to set.
	Notify notify.Config
	// State is the [state] table.
	State state.Config
	// HTTP is where the page, the API and the metrics are served.
	HTTP httpapi.Config
	// Limits are the bounds of the [limits] table; cmd hands each part
	// its own (the aggregator holds them all, to report them).
	Limits model.Limits
	// Classes are the [[class]] sections, and ClassTable the destination
	// classes built of them and the built-in ones, which the monitors
	// classify with; Aggregator.ClassNames holds its names.
	Classes    classify.Config
	ClassTable *classify.Table

	// lines are where the file's keys stand, for ErrorAt.
	lines keyLines
}

// Defaults is the configuration without a file: watch the whole host,
// group by executable, tick every second.
func Defaults() *Config {
	limits := model.Limits{}.WithDefaults()
	classes := classify.Default()
	return &Config{
		ClassTable: classes,
		Aggregator: aggregator.Config{Interval: time.Second, Limits: limits, ClassNames: classes.Names(),
			Grouper: aggregator.Grouper{AutoGroup: true, By: aggregator.GroupByApp}},
		Manage:    true,
		Conntrack: []monitor.ConntrackConfig{{MaxNamespaces: limits.Namespaces, Socket: monitor.SocketAuto, MaxSockets: monitor.DefaultMaxSockets}},
		Notify:    notify.Config{MaxRunning: notify.DefaultMaxRunning, ClassNames: classes.Names()},
		State:     state.Config{Dir: state.DefaultDir, Flush: state.DefaultFlush},
		HTTP:      httpapi.Config{Listen: httpapi.DefaultListen},
		Limits:    limits,
	}
}

// Error is a problem in the configuration file, with the line it is on
// when known. Its message shows no URL's userinfo, path or query (a
// webhook's credentials), only its scheme and host.
type Error struct {
	Path string
	Line int
	Msg  string
}

// Error returns "FILE:LINE: what is wrong", "FILE: ..." when the line is
// not known, or the message alone for the built-in defaults.
func (e *Error) Error() string {
	if e.Path == "" { // the built-in defaults
		return e.Msg
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// ErrorAt returns err, found after loading (while wiring what the
// configuration names), as an *Error on the line of key.
func (c *Config) ErrorAt(key string, err error) error {
	return &Error{Path: c.Path, Line: c.lines.line(key), Msg: redact.URLs(err.Error())}
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, string(b))
}

// Parse validates text, the content of the file at path, for an agent
// running as this process's user. Every error is an *Error.
func Parse(path, text string) (*Config, error) {
	return parse(path, text, system)
}

// env is what parsing depends on beyond the text: whom the agent runs as
// and the user database command_user is looked up in.
type env struct {
	euid  int
	users notify.UserDB
}

var system = env{euid: os.Geteuid(), users: notify.SystemUsers}

// parser maps one file's keys to the parts' Configs.
type parser struct {
	path    string
	lines   keyLines
	secrets []string // the webhook URLs, once decoded
}

// errAt makes an *Error on the line of key, credentials hidden.
func (p *parser) errAt(key, format string, args ...any) error {
	msg := redact.URLs(redact.Values(fmt.Sprintf(format, args...), p.secrets))
	return &Error{Path: p.path, Line: p.lines.line(key), Msg: msg}
}

// invalid turns err, from the Validate of the table keyed prefix ("" for
// the top level), into an *Error on the line of the key it names.
func (p *parser) invalid(prefix string, err error) error {
	var fe *model.FieldError
	if errors.As(model.InField(prefix, err), &fe) {
		return p.errAt(fe.Field, "%s", fe.Err.Error())
	}
	return p.errAt(prefix, "%s", err.Error())
}

func parse(path, text string, e env) (*Config, error) {
	p := &parser{path: path, lines: locateKeys(text)}
	var fc fileConfig
	md, err := toml.Decode(text, &fc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{Path: path, Line: pe.Position.Line, Msg: redact.URLs(tomlMessage(pe))}
		}
		line, msg := decodeMessage(err.Error())
		return nil, &Error{Path: path, Line: line, Msg: redact.URLs(msg)}
	}
	for _, n := range fc.Notify {
		p.secrets = append(p.secrets, n.Webhook)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return nil, p.errAt(k, "unknown key %q (see config.example.toml for the keys bwmon reads)", k)
	}

	cfg := Defaults()
	cfg.Path, cfg.lines = path, p.lines
	if cfg.Limits, err = p.limits(fc.Limits, cfg.Limits); err != nil {
		return nil, err
	}
	if cfg.Classes, cfg.ClassTable, err = p.classes(fc.Classes); err != nil {
		return nil, err
	}
	cfg.Aggregator.ClassNames = cfg.ClassTable.Names()
	if cfg.Aggregator, err = p.aggregator(fc, cfg.Aggregator, cfg.Limits); err != nil {
		return nil, err
	}
	if fc.Conntrack.Manage != nil {
		cfg.Manage = *fc.Conntrack.Manage
	}
	if cfg.State, err = p.state(fc.State, cfg.State); err != nil {
		return nil, err
	}
	if cfg.HTTP, err = p.http(fc.HTTP, cfg.HTTP); err != nil {
		return nil, err
	}
	if cfg.Notify, err = p.notify(fc.Notify, fc.NotifySettings, e, cfg.ClassTable.Names()); err != nil {
		return nil, err
	}
	if cfg.Conntrack, cfg.Pipes, err = p.monitors(fc.Monitors, fc.Conntrack, fc.Socket, cfg.Limits); err != nil {
		return nil, err
	}
	return cfg, nil
}

// compileRegex compiles a Go (RE2) regex; the error says what is wrong
// with it without the regexp package's prefix.
func compileRegex(s string) (*regexp.Regexp, error) {
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
