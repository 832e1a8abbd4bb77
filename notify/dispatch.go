package notify

import (
	"context"
	"io"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
)

// dispatch takes the queued events in turn, as slots free up, writes each
// one's alert line and starts its command and webhook, until Close has
// been called and the queue is empty, or the shutdown grace is over.
func (n *Notifier) dispatch() {
	defer n.wg.Done()
	for {
		d, ok, done := n.next()
		if done {
			return
		}
		if !ok {
			select {
			case <-n.wake:
			case <-n.ctx.Done():
			}
			continue
		}
		if _, err := io.WriteString(n.alerts, d.ev.Line()); err != nil {
			n.log.Warn("writing alert line", "err", err)
		}
		r := &n.rules[d.rule]
		if len(r.Command) > 0 {
			n.start("command", d, &n.commands, n.runCommand)
		}
		if r.Webhook != "" {
			n.start("webhook", d, &n.hooks, n.postWebhook)
		}
	}
}

// next takes the next event whose outputs can start now, records it as
// sent (a 'firing' starts its cooldown here, at the latest tick's time)
// and takes its slots. done: Close was called and nothing waits, or the
// shutdown grace is over (what still waits is dropped).
func (n *Notifier) next() (d delivery, ok, done bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx.Err() != nil {
		if k := n.queue.clear(); k > 0 {
			n.dropped.Add(uint64(k))
			n.log.Warn("dropping alert events still queued at shutdown", "dropped", k)
		}
		return d, false, true
	}
	d, ok = n.queue.pop(n.readyLocked)
	if !ok {
		return d, false, n.closed && n.queue.len == 0
	}
	d.dir.sent(d.ev.State, n.now)
	r := &n.rules[d.rule]
	if len(r.Command) > 0 {
		n.commands++
	}
	if r.Webhook != "" {
		n.hooks++
	}
	return d, true, false
}

// readyLocked reports whether an event of the rule can go out now: a slot
// free for each of its outputs.
func (n *Notifier) readyLocked(rule int) bool {
	r := &n.rules[rule]
	return (len(r.Command) == 0 || n.commands < n.maxRunning) &&
		(r.Webhook == "" || n.hooks < n.maxRunning)
}

// start runs deliver on a goroutine of its own, in the slot next took for
// it (counted in *running), and frees the slot when it is done.
func (n *Notifier) start(kind string, d delivery, running *int, deliver func(context.Context, delivery) error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.mu.Lock()
			*running--
			n.mu.Unlock()
			n.poke()
		}()
		if err := deliver(n.ctx, d); err != nil {
			n.failed.Add(1)
			n.log.Warn(kind+" failed", "app", logName(d.ev.App), "direction", d.ev.Direction, "state", d.ev.State, "err", err)
		}
	}()
}

// logName is how the log shows an app name: clean, and cut so that no log
// line carries a whole long command line.
func logName(app string) string { return safename.Display(safename.Clean(app), maxLineApp) }

// logEvery is the least time between two log lines about drops of one
// kind: a flood of events makes one line a minute, with the count.
const logEvery = time.Minute

// logLimiter lets one log line through per logEvery, counting what it held
// back. Times are tick times.
type logLimiter struct {
	last  time.Time
	count uint64
}

// note counts one occurrence at now and reports whether to log it, with
// the occurrences since the last line logged (this one included).
func (l *logLimiter) note(now time.Time) (uint64, bool) {
	l.count++
	if !l.last.IsZero() && now.Sub(l.last) < logEvery && now.Sub(l.last) >= 0 {
		return 0, false
	}
	count := l.count
	l.last, l.count = now, 0
	return count, true
}
