package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

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
	// ShutdownGrace is how long Close lets running commands and webhook
	// deliveries finish before it kills them (default 2s).
	ShutdownGrace time.Duration
	// WebhookTimeout bounds each POST (default 5s), WebhookAttempts is the
	// number of tries (default 4), and WebhookBackoff the wait before the
	// first retry, doubling after each (default 1s).
	WebhookTimeout  time.Duration
	WebhookAttempts int
	WebhookBackoff  time.Duration
}

// queueLen is how many events may wait for the dispatcher.
const queueLen = 256

// Notifier checks every tick's rates against the rules and alerts. It
// implements aggregator.Consumer: Consume only updates the moving averages
// and the alert states; the alert lines, commands and webhooks run on the
// notifier's own goroutines, which Close stops.
type Notifier struct {
	log    *slog.Logger
	alerts io.Writer
	opts   Options
	rules  []Rule
	client *http.Client

	mu       sync.Mutex // guards the tick state against Close
	closed   bool
	tick     uint64
	handlers map[handlerKey]*handler
	matches  map[string][]int // rule indexes watching each app name seen

	queue           chan delivery
	commands, hooks chan struct{} // semaphores of MaxRunning slots
	ctx             context.Context
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	closeOnce       sync.Once
	fired, resolved atomic.Uint64
	dropped, failed atomic.Uint64
}

type handlerKey struct {
	rule int
	app  string
}

// delivery is an event on its way out, with the rule that raised it.
type delivery struct {
	rule *Rule
	ev   Event
}

// New checks cfg and starts the notifier's dispatcher goroutine. Close
// stops it.
func New(cfg Config, opts Options) (*Notifier, error) {
	for i := range cfg.Rules {
		if err := cfg.Rules[i].check(i); err != nil {
			return nil, err
		}
	}
	if cfg.MaxRunning < 0 {
		return nil, fmt.Errorf("max_running %d: use 1 or more", cfg.MaxRunning)
	}
	if cfg.MaxRunning == 0 {
		cfg.MaxRunning = DefaultMaxRunning
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
		log:      opts.Logger.With("component", "notify"),
		alerts:   opts.Alerts,
		opts:     opts,
		rules:    cfg.Rules,
		client:   newHTTPClient(),
		handlers: make(map[handlerKey]*handler),
		matches:  make(map[string][]int),
		queue:    make(chan delivery, queueLen),
		commands: make(chan struct{}, cfg.MaxRunning),
		hooks:    make(chan struct{}, cfg.MaxRunning),
		ctx:      ctx,
		cancel:   cancel,
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
	for i := range s.Apps {
		a := &s.Apps[i]
		for _, r := range n.rulesFor(a.App) {
			k := handlerKey{r, a.App}
			h := n.handlers[k]
			if h == nil {
				if a.RateIn == 0 && a.RateOut == 0 {
					continue // a new handler would stay as new
				}
				h = newHandler(&n.rules[r])
				n.handlers[k] = h
			}
			h.tick = n.tick
			h.step(a.App, a.RateIn, a.RateOut, s.Time, n.emitter(h.rule))
		}
	}
	for k, h := range n.handlers {
		if h.tick != n.tick {
			// Not listed this tick: it moved nothing.
			h.step(k.app, 0, 0, s.Time, n.emitter(h.rule))
		}
		if h.pristine(s.Time) {
			delete(n.handlers, k)
		}
	}
}

// rulesFor returns the indexes of the rules watching app, matching each app
// name once.
func (n *Notifier) rulesFor(app string) []int {
	if rs, ok := n.matches[app]; ok {
		return rs
	}
	var rs []int
	for i := range n.rules {
		if n.rules[i].App.MatchString(app) {
			rs = append(rs, i)
		}
	}
	n.matches[app] = rs
	return rs
}

func (n *Notifier) emitter(r *Rule) func(Event) {
	return func(ev Event) {
		if ev.State == Firing {
			n.fired.Add(1)
		} else {
			n.resolved.Add(1)
		}
		select {
		case n.queue <- delivery{rule: r, ev: ev}:
		default:
			n.dropped.Add(1)
			n.log.Warn("dropping event: alert queue full", "app", ev.App, "direction", ev.Direction, "state", ev.State)
		}
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

// dispatch writes each event's alert line and starts its command and
// webhook, until Close closes the queue.
func (n *Notifier) dispatch() {
	defer n.wg.Done()
	for d := range n.queue {
		if _, err := io.WriteString(n.alerts, d.ev.Line()); err != nil {
			n.log.Warn("writing alert line", "err", err)
		}
		if len(d.rule.Command) > 0 {
			n.start(n.commands, "command", d, n.runCommand)
		}
		if d.rule.Webhook != "" {
			n.start(n.hooks, "webhook", d, n.postWebhook)
		}
	}
}

// start runs deliver on a goroutine of its own if one of the slots of sem
// is free; otherwise it drops the delivery.
func (n *Notifier) start(sem chan struct{}, kind string, d delivery, deliver func(context.Context, delivery) error) {
	select {
	case sem <- struct{}{}:
	default:
		n.dropped.Add(1)
		n.log.Warn("dropping event: max_running "+kind+"s already running",
			"app", d.ev.App, "direction", d.ev.Direction, "state", d.ev.State, "max_running", cap(sem))
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() { <-sem }()
		if err := deliver(n.ctx, d); err != nil {
			n.failed.Add(1)
			n.log.Warn(kind+" failed", "app", d.ev.App, "direction", d.ev.Direction, "state", d.ev.State, "err", err)
		}
	}()
}

// Close stops taking events, lets the queued ones out and the running
// commands and webhook deliveries finish for Options.ShutdownGrace, then
// kills what is left. It blocks until every goroutine of the notifier has
// exited, and is safe to call more than once.
func (n *Notifier) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.queue)
		n.mu.Unlock()

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
