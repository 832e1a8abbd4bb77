package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
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
	// In and Out are the limits of the moving average, in bytes per
	// second; 0 leaves that direction unchecked.
	In, Out model.Rate
	// Window is the number of ticks in the moving average (1 to MaxWindow).
	Window int
	// Command is the program and its arguments, run without a shell for
	// each event; empty for none.
	Command []string
	// CommandTimeout is how long Command may run before it is killed.
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

// Config is what the notifier needs from the configuration file.
type Config struct {
	Rules []Rule
	// MaxRunning bounds the commands running at once, and apart the
	// webhook deliveries in progress; events beyond it wait in their
	// rule's queue (see MaxQueuedPerRule). 0 means DefaultMaxRunning.
	MaxRunning int
	// Launcher, when set, is put before each command's argv: a program
	// that lowers its own privileges, then executes the rest in its own
	// place (same process, so the timeout still kills it). cmd/bwmon sets
	// it to its own executable's hidden __alert-exec subcommand, with the
	// command_user. Empty runs each command directly, with the agent's
	// privileges and priority.
	Launcher []string
	// CommandUser names the user the commands run as, for the log; ""
	// when not known.
	CommandUser string
}

// check validates the rule at position i (0-based).
func (r *Rule) check(i int) error {
	switch {
	case r.App == nil:
		return fmt.Errorf("notify rule %d: no app regex", i+1)
	case r.In < 0 || r.Out < 0:
		return fmt.Errorf("notify rule %d: negative threshold", i+1)
	case r.In == 0 && r.Out == 0:
		return fmt.Errorf("notify rule %d: no in or out threshold: set at least one", i+1)
	case r.Window < 1 || r.Window > MaxWindow:
		return fmt.Errorf("notify rule %d: window %d: use 1 to %d ticks", i+1, r.Window, MaxWindow)
	case r.Cooldown < 0:
		return fmt.Errorf("notify rule %d: negative cooldown", i+1)
	case len(r.Command) > 0 && r.Command[0] == "":
		return fmt.Errorf("notify rule %d: command has an empty program name", i+1)
	case len(r.Command) > 0 && r.CommandTimeout <= 0:
		return fmt.Errorf("notify rule %d: command_timeout must be positive", i+1)
	}
	if r.Webhook != "" {
		if err := CheckWebhook(r.Webhook); err != nil {
			return fmt.Errorf("notify rule %d: %w", i+1, err)
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
