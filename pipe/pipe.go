package pipe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Pipe is one running forwarder. It is safe for concurrent use.
type Pipe struct {
	cfg    Config
	name   string // the monitor's name: DefaultName of its addresses
	log    *slog.Logger
	ln     *net.TCPListener
	dialer net.Dialer
	// inLim and outLim are the token buckets of each direction, nil
	// without a rate limit.
	inLim, outLim *rate.Limiter
	// ctx is cancelled when Shutdown gives up draining: it aborts dials
	// and rate-limit waits.
	ctx    context.Context
	cancel context.CancelFunc

	// The counters, added to without a lock.
	in, out                   atomic.Uint64 // payload bytes written
	open                      atomic.Int64  // sessions now
	accepted, refused, failed atomic.Uint64
	refusalWarn, dialWarn     warnLimit

	collectMu       sync.Mutex // guards lastIn and lastOut
	lastIn, lastOut uint64     // the counters at the last Collect

	// Shutdown.
	stopping            chan struct{} // closed when Shutdown starts
	acceptDone          chan struct{} // closed when the accept loop has returned
	drained             chan struct{} // closed when stopping and no session is left
	drainOnce, stopOnce sync.Once
	listenErr           error          // from closing the listener
	wg                  sync.WaitGroup // the sessions' goroutines

	mu              sync.Mutex // guards below
	sessions        map[*session]struct{}
	closing, forced bool // Shutdown has started; it has closed the sessions
}

// New validates cfg, listens on cfg.Listen and starts accepting clients.
// The logger may be nil.
func New(cfg Config, logger *slog.Logger) (*Pipe, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipe{
		cfg:        cfg,
		name:       safename.Clean(DefaultName(cfg.Listen, cfg.Target)),
		log:        logger.With("component", "pipe", "pipe", cfg.Name),
		dialer:     net.Dialer{Timeout: cfg.DialTimeout},
		stopping:   make(chan struct{}),
		acceptDone: make(chan struct{}),
		drained:    make(chan struct{}),
		sessions:   make(map[*session]struct{}),
	}
	if cfg.RateLimit > 0 {
		p.inLim, p.outLim = newLimiter(cfg.RateLimit), newLimiter(cfg.RateLimit)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w (is another program using the port? ports below 1024 need root or CAP_NET_BIND_SERVICE)", cfg.Listen, err)
	}
	p.ln = ln.(*net.TCPListener)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.log.Info("listening", "addr", p.ln.Addr().String(), "target", cfg.Target,
		"max_conns", limitText(cfg.MaxConns > 0, cfg.MaxConns, "none"),
		"idle_timeout", limitText(cfg.IdleTimeout > 0, cfg.IdleTimeout, "never"))
	go p.acceptLoop()
	return p, nil
}

// newLimiter returns a token bucket for r bytes per second that holds at
// most a tenth of a second's worth (at least one byte, at most one chunk),
// so that a burst stays small next to the rate.
func newLimiter(r model.Rate) *rate.Limiter {
	burst := int(math.Min(float64(r)/10, maxChunk))
	return rate.NewLimiter(rate.Limit(r), max(burst, 1))
}

// limitText is v for the log when the limit is on, else off.
func limitText(on bool, v any, off string) any {
	if on {
		return v
	}
	return off
}

// Name identifies the pipe in logs and statistics: "pipe-" then its listen
// address and target, which no two pipes share, as safename.Clean makes it.
func (p *Pipe) Name() string { return p.name }

// App is the app name its bytes are grouped under.
func (p *Pipe) App() string { return p.cfg.Name }

// Addr is the address the pipe listens on (with the port it got, when
// Config.Listen asked for port 0).
func (p *Pipe) Addr() net.Addr { return p.ln.Addr() }

// Collect adds to c the bytes counted since the last call, of finished and
// open connections alike, under model.KeyApp of the pipe's app.
func (p *Pipe) Collect(c *model.MonitorEntryCollection, now time.Time) error {
	in, out := p.in.Load(), p.out.Load()
	p.collectMu.Lock()
	dIn, dOut := in-p.lastIn, out-p.lastOut
	p.lastIn, p.lastOut = in, out
	p.collectMu.Unlock()
	if dIn != 0 || dOut != 0 {
		c.Add(model.KeyApp(p.cfg.Name), model.Info{App: p.cfg.Name}, dIn, dOut, now)
	}
	return nil
}

// Stats reports the connections open now as flows.
func (p *Pipe) Stats() model.MonitorStats {
	return model.MonitorStats{Flows: int(p.open.Load())}
}

// Totals is what a pipe has counted since it started.
type Totals struct {
	// In and Out are payload bytes client → target and target → client.
	In, Out uint64
	// Open is the number of connections open now.
	Open int
	// Accepted counts the clients served; Refused those closed because
	// MaxConns were open; Failed those whose target could not be reached.
	Accepted, Refused, Failed uint64
}

// Totals returns the pipe's cumulative counters. Collect does not change
// them.
func (p *Pipe) Totals() Totals {
	return Totals{
		In: p.in.Load(), Out: p.out.Load(), Open: int(p.open.Load()),
		Accepted: p.accepted.Load(), Refused: p.refused.Load(), Failed: p.failed.Load(),
	}
}

// Shutdown stops accepting, lets the open connections finish until ctx is
// done, then closes those left. It blocks until every goroutine of the pipe
// has exited, and returns ctx.Err() when it had to close connections. It is
// safe to call more than once, and concurrently.
func (p *Pipe) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		close(p.stopping)
		if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.listenErr = fmt.Errorf("closing listener: %w", err)
		}
	})
	<-p.acceptDone
	p.mu.Lock()
	p.checkDrainedLocked()
	p.mu.Unlock()

	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		if n := p.forceClose(); n > 0 {
			p.log.Info("closed open connections at shutdown", "conns", n)
		}
		err = ctx.Err()
	}
	p.wg.Wait()
	p.cancel()
	return errors.Join(p.listenErr, err)
}

// Close is Shutdown with Config.DrainTimeout: open connections get that long
// to finish before they are closed. It blocks until every goroutine of the
// pipe has exited and is safe to call more than once.
func (p *Pipe) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// forceClose closes every open connection and returns how many there were.
func (p *Pipe) forceClose() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forced = true
	p.cancel()
	for s := range p.sessions {
		s.closeBoth()
	}
	return len(p.sessions)
}

// checkDrainedLocked closes drained once the pipe is closing and no session
// is left. p.mu must be held.
func (p *Pipe) checkDrainedLocked() {
	if p.closing && len(p.sessions) == 0 {
		p.drainOnce.Do(func() { close(p.drained) })
	}
}
