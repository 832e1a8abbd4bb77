package notify

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Options are the notifier's collaborators and the knobs that the
// configuration file does not set; zero values take the defaults.
type Options struct {
	// Logger receives failures and drops; nil discards them.
	Logger *slog.Logger
	// Alerts receives the alert lines (the agent's stderr); nil discards
	// them.
	Alerts io.Writer
	// ShutdownGrace is how long Close lets queued events out and running
	// commands and webhook deliveries finish before it kills them
	// (default 2s).
	ShutdownGrace time.Duration
	// WebhookTimeout bounds each POST (default 5s), WebhookAttempts is the
	// number of tries (default 4), and WebhookBackoff the wait before the
	// first retry, doubling after each (default 1s).
	WebhookTimeout  time.Duration
	WebhookAttempts int
	WebhookBackoff  time.Duration
}

// Notifier checks every tick's rates against the rules and alerts. It
// implements aggregator.Consumer: Consume only updates the moving averages
// and the alert states and queues events; the alert lines, commands and
// webhooks run on the notifier's own goroutines, which Close stops.
type Notifier struct {
	log        *slog.Logger
	alerts     io.Writer
	opts       Options
	rules      []Rule
	maxRunning int
	launcher   []string
	user       string
	client     *http.Client
	// wake tells the dispatcher that an event was queued, a slot freed or
	// Close was called (one pending signal is enough).
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex // guards all following fields
	closed   bool
	tick     uint64    // ticks consumed
	now      time.Time // the time of the latest tick
	handlers map[handlerKey]*handler
	matches  map[string]*match
	// evictable lists, oldest first, the handlers of apps not listed
	// lately that a new app may replace when MaxWatched are watched; built
	// once per tick, when first needed (at tick evictTick).
	evictable []handlerKey
	evictTick uint64
	queue     fairQueue
	// commands and hooks count the commands and webhook deliveries
	// running: at most maxRunning each.
	commands, hooks int
	dropLog         logLimiter
	unwatchedLog    logLimiter

	fired, resolved atomic.Uint64
	dropped, failed atomic.Uint64
}

// MaxWatched bounds the (rule, app) pairs the notifier keeps a moving
// average for, and the app names whose matching rules it remembers. Apps
// come and go: a pair is forgotten once its app has moved nothing for a
// whole window and has no alert open, or, while listed, once its cooldown
// is over too. When MaxWatched are watched, a new app replaces the one
// listed least recently among those not listed lately; when every one is
// still listed, the new app is not watched until one goes (logged).
const MaxWatched = 4096

type handlerKey struct {
	rule int
	app  string
}

// match is the rules watching one app name, remembered while the name is
// listed.
type match struct {
	rules  []int
	listed uint64 // tick count when last listed
}

// delivery is an event on its way out, with the rule that raised it and
// the direction whose state it updates when it goes out.
type delivery struct {
	rule int
	dir  *direction
	ev   Event
}

// New fills in cfg's defaults, checks it (Config.Validate) and starts the
// notifier's dispatcher goroutine. Close stops it.
func New(cfg Config, opts Options) (*Notifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Alerts == nil {
		opts.Alerts = io.Discard
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 2 * time.Second
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 5 * time.Second
	}
	if opts.WebhookAttempts <= 0 {
		opts.WebhookAttempts = 4
	}
	if opts.WebhookBackoff <= 0 {
		opts.WebhookBackoff = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		log:        opts.Logger.With("component", "notify"),
		alerts:     opts.Alerts,
		opts:       opts,
		rules:      cfg.Rules,
		maxRunning: cfg.MaxRunning,
		launcher:   cfg.Launcher,
		user:       cfg.User.Name,
		client:     newHTTPClient(),
		wake:       make(chan struct{}, 1),
		ctx:        ctx,
		cancel:     cancel,
		handlers:   make(map[handlerKey]*handler),
		matches:    make(map[string]*match),
		queue:      newFairQueue(len(cfg.Rules)),
	}
	n.wg.Add(1)
	go n.dispatch()
	return n, nil
}

// Consume implements aggregator.Consumer. It feeds each watched app's rates
// of the tick closed at s.Time into its moving averages and queues the
// events that result; it never waits for I/O.
func (n *Notifier) Consume(s *model.Snapshot) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || len(n.rules) == 0 {
		return
	}
	n.tick++
	n.now = s.Time
	queued := n.queue.len
	for i := range s.Apps {
		a := &s.Apps[i]
		for _, r := range n.rulesForLocked(a.App) {
			k := handlerKey{r, a.App}
			h := n.handlers[k]
			if h == nil {
				if in, out := ruleRates(&n.rules[r], a); in == 0 && out == 0 {
					continue // a new handler would stay as new
				}
				if h = n.watchLocked(k); h == nil {
					continue
				}
			}
			h.listed = n.tick
			in, out := ruleRates(&n.rules[r], a)
			h.step(in, out, s.Time, n.sender(r))
		}
	}
	for k, h := range n.handlers {
		if h.listed != n.tick {
			// Not listed this tick: it moved nothing.
			h.step(0, 0, s.Time, n.sender(k.rule))
			if h.idle() {
				delete(n.handlers, k)
			}
			continue
		}
		if h.pristine(s.Time) {
			delete(n.handlers, k)
		}
	}
	for name, m := range n.matches {
		if m.listed != n.tick {
			delete(n.matches, name)
		}
	}
	if n.queue.len > queued {
		n.poke()
	}
}

// ruleRates returns the rates of app a that rule r watches: all its
// bytes', or those of its Class.
func ruleRates(r *Rule, a *model.AppUsage) (in, out float64) {
	if r.Class == "" {
		return a.RateIn, a.RateOut
	}
	c := a.Classes[r.Class]
	return c.RateIn, c.RateOut
}

// rulesForLocked returns the indexes of the rules watching app, matching
// each name once while it stays listed (at most MaxWatched names are
// remembered; beyond, a name is matched each tick).
func (n *Notifier) rulesForLocked(app string) []int {
	if m, ok := n.matches[app]; ok {
		m.listed = n.tick
		return m.rules
	}
	var rs []int
	for i := range n.rules {
		if n.rules[i].App.MatchString(app) {
			rs = append(rs, i)
		}
	}
	if len(n.matches) < MaxWatched {
		n.matches[app] = &match{rules: rs, listed: n.tick}
	}
	return rs
}

// watchLocked starts watching k's app for k's rule, replacing the handler
// of an app not listed lately when MaxWatched are watched. It returns nil
// when every watched app is still listed.
func (n *Notifier) watchLocked(k handlerKey) *handler {
	if len(n.handlers) >= MaxWatched {
		if n.evictTick != n.tick {
			n.evictTick = n.tick
			n.evictable = n.evictableLocked()
		}
		for len(n.handlers) >= MaxWatched && len(n.evictable) > 0 {
			old := n.evictable[0]
			n.evictable = n.evictable[1:]
			if h := n.handlers[old]; h != nil && h.listed+1 < n.tick && !h.waiting() {
				delete(n.handlers, old)
			}
		}
		if len(n.handlers) >= MaxWatched {
			if count, ok := n.unwatchedLog.note(n.now); ok {
				n.log.Warn("watching too many apps: new apps are not watched until others go",
					"max_watched", MaxWatched, "not_watched", count, "app", logName(k.app))
			}
			return nil
		}
	}
	h := newHandler(&n.rules[k.rule], safename.Clean(k.app))
	n.handlers[k] = h
	return h
}

// evictableLocked lists the handlers that a new app may replace: those of
// apps listed neither this tick nor the one before, with no event waiting,
// least recently listed first.
func (n *Notifier) evictableLocked() []handlerKey {
	var keys []handlerKey
	for k, h := range n.handlers {
		if h.listed+1 < n.tick && !h.waiting() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b handlerKey) int {
		return cmp.Compare(n.handlers[a].listed, n.handlers[b].listed)
	})
	return keys
}

// sender returns the function that queues the events of the given rule's
// handlers, counting each one queued and each one dropped.
func (n *Notifier) sender(rule int) func(*direction, Event) bool {
	return func(d *direction, ev Event) bool {
		if !n.queue.push(delivery{rule: rule, dir: d, ev: ev}) {
			n.dropped.Add(1)
			if count, ok := n.dropLog.note(n.now); ok {
				n.log.Warn("alert queue full: dropping events; each is tried again at the next tick while still due",
					"dropped", count, "rule", rule+1, "app", logName(ev.App), "state", ev.State,
					"queue", MaxQueuedPerRule, "max_running", n.maxRunning)
			}
			return false
		}
		if ev.State == Firing {
			n.fired.Add(1)
		} else {
			n.resolved.Add(1)
		}
		return true
	}
}

// poke wakes the dispatcher up.
func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Stats returns what the notifier did since it started. It is safe to call
// from any goroutine.
func (n *Notifier) Stats() model.NotifyStats {
	return model.NotifyStats{
		Fired: n.fired.Load(), Resolved: n.resolved.Load(),
		Dropped: n.dropped.Load(), Failed: n.failed.Load(),
	}
}

// Close stops taking events, lets the queued ones out and the running
// commands and webhook deliveries finish for Options.ShutdownGrace, then
// kills what is left and drops what still waits (counted). It blocks until
// every goroutine of the notifier has exited, and is safe to call more
// than once.
func (n *Notifier) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.poke()

		done := make(chan struct{})
		go func() {
			n.wg.Wait()
			close(done)
		}()
		grace := time.NewTimer(n.opts.ShutdownGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
			n.log.Warn("killing alert commands and webhooks still running at shutdown")
			n.cancel()
			<-done
		}
		n.cancel()
		n.client.CloseIdleConnections()
	})
	return nil
}
