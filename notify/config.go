package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bwmon/bwmon/model"
)

// Defaults of the [[notify]] keys and of [notify_settings].
const (
	// DefaultWindow is the number of ticks in the moving average.
	DefaultWindow = 5
	// DefaultCooldown is the least time between two 'firing' events of
	// one rule, app and direction.
	DefaultCooldown = 5 * time.Minute
	// DefaultCommandTimeout is how long a command may run before it is
	// killed.
	DefaultCommandTimeout = 30 * time.Second
	// DefaultMaxRunning is how many commands (and, apart, how many webhook
	// deliveries) may run at once.
	DefaultMaxRunning = 4
	// MaxWindow bounds window: an hour of one-second ticks.
	MaxWindow = 3600
	// ResolveFraction is the hysteresis: a firing alert resolves once the
	// mean falls below this fraction of the threshold, so a rate hovering
	// at the limit does not flap.
	ResolveFraction = 0.9
)

// Rule is one [[notify]] section: which apps it watches, their limits, and
// how to tell.
type Rule struct {
	// App selects the apps the rule watches: those whose name it finds.
	App *regexp.Regexp
	// Class, when set, makes the rule watch only the app's bytes
	// exchanged with remote ends of that destination class (its rates in
	// model.AppUsage.Classes), e.g. "internet" for internet egress; ""
	// watches all its bytes.
	Class string
	// In and Out are the limits of the moving average, in bytes per
	// second; 0 leaves that direction unchecked.
	In, Out model.Rate
	// Window is the number of ticks in the moving average (1 to MaxWindow).
	Window int
	// Command is the program and its arguments, run without a shell for
	// each event; empty for none.
	Command []string
	// CommandTimeout is how long Command may run before it is killed; New
	// reads 0 as DefaultCommandTimeout.
	CommandTimeout time.Duration
	// Cooldown is the least time between two 'firing' events of one app
	// and direction; 0 sends one each tick the app is over its limit.
	Cooldown time.Duration
	// Resolve also sends a 'resolved' event when a firing alert's mean
	// falls below ResolveFraction of the threshold.
	Resolve bool
	// Webhook is an http or https URL each event is POSTed to as JSON;
	// "" for none.
	Webhook string
}

// Config is what the notifier needs from the configuration file: the
// [[notify]] rules and [notify_settings].
type Config struct {
	Rules []Rule
	// MaxRunning bounds the commands running at once, and apart the
	// webhook deliveries in progress; events beyond it wait in their
	// rule's queue (see MaxQueuedPerRule). New reads 0 as
	// DefaultMaxRunning.
	MaxRunning int
	// Launcher, when set, is put before each command's argv: a program
	// that lowers its own privileges, then executes the rest in its own
	// place (same process, so the timeout still kills it). cmd/bwmon sets
	// it to its own executable's hidden __alert-exec subcommand, for User.
	// Empty runs each command directly, with the agent's privileges and
	// priority.
	Launcher []string
	// ClassNames are the destination classes a rule's Class may name
	// (internal/classify's Table.Names); nil leaves Class unchecked.
	ClassNames []string
	// User is whom the commands run as ([notify_settings] command_user,
	// see ResolveUser), which the Launcher switches to; its Name is
	// logged. Zero when no rule has a command.
	User User
}

// withDefaults returns c with the zero values New reads as defaults
// filled in: MaxRunning, and each rule's CommandTimeout.
func (c Config) withDefaults() Config {
	if c.MaxRunning == 0 {
		c.MaxRunning = DefaultMaxRunning
	}
	c.Rules = slices.Clone(c.Rules)
	for i := range c.Rules {
		if c.Rules[i].CommandTimeout == 0 {
			c.Rules[i].CommandTimeout = DefaultCommandTimeout
		}
	}
	return c
}

// Validate reports the first value of c that cannot run, as a
// *model.FieldError naming its key in the configuration file
// ("notify_settings.max_running", "notify.2.window"; "notify.2" for a
// rule as a whole). It checks c as it runs: a zero MaxRunning or
// CommandTimeout, which New reads as the default, is refused here.
func (c Config) Validate() error {
	if c.MaxRunning < 1 {
		return model.FieldErrorf("notify_settings.max_running", "max_running = %d: use 1 or more (default %d)", c.MaxRunning, DefaultMaxRunning)
	}
	for i := range c.Rules {
		if err := c.Rules[i].Validate(); err != nil {
			return model.InField(fmt.Sprintf("notify.%d", i), err)
		}
		if cl := c.Rules[i].Class; cl != "" && c.ClassNames != nil && !slices.Contains(c.ClassNames[1:], cl) {
			return model.FieldErrorf(fmt.Sprintf("notify.%d.class", i), "class %q is not a destination class: use one of %s, or a [[class]] of that name",
				cl, strings.Join(c.ClassNames[1:], ", "))
		}
	}
	if len(c.Launcher) > 0 && c.Launcher[0] == "" {
		return errors.New("command launcher has an empty program name")
	}
	return nil
}

// Validate reports the first field of r that cannot run, as a
// *model.FieldError naming its key in the [[notify]] table ("" for the
// table as a whole).
func (r *Rule) Validate() error {
	switch {
	case r.App == nil || r.App.String() == "":
		return model.FieldErrorf("", `[[notify]] needs app = "REGEX": the apps it watches (".*" for all)`)
	case r.In < 0:
		return model.FieldErrorf("in_threshold", "in_threshold %v must not be negative", float64(r.In))
	case r.Out < 0:
		return model.FieldErrorf("out_threshold", "out_threshold %v must not be negative", float64(r.Out))
	case r.In == 0 && r.Out == 0:
		return model.FieldErrorf("", `[[notify]] for %q checks nothing: set in_threshold or out_threshold (e.g. "10MB/s")`, r.App.String())
	case r.Window < 1 || r.Window > MaxWindow:
		return model.FieldErrorf("window", "window = %d: use 1 to %d ticks", r.Window, MaxWindow)
	case r.Cooldown < 0:
		return model.FieldErrorf("cooldown", `cooldown %s must not be negative: use "0s" for an alert each tick`, r.Cooldown)
	case r.CommandTimeout <= 0:
		return model.FieldErrorf("command_timeout", "command_timeout %s must be positive", r.CommandTimeout)
	case r.Command != nil && (len(r.Command) == 0 || strings.TrimSpace(r.Command[0]) == ""):
		return model.FieldErrorf("command", `command needs the program first: command = ["/path/to/program", "arg", ...]; remove it for none`)
	}
	if r.Webhook != "" {
		if err := CheckWebhook(r.Webhook); err != nil {
			return &model.FieldError{Field: "webhook", Err: err}
		}
	}
	return nil
}

// CheckWebhook reports whether u can serve as a webhook: an absolute http
// or https URL with a host.
func CheckWebhook(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("bad webhook URL %q: %v", u, errors.Unwrap(err))
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("bad webhook URL %q: want an http:// or https:// URL", u)
	}
	if p.Host == "" {
		return fmt.Errorf("bad webhook URL %q: no host", u)
	}
	return nil
}
