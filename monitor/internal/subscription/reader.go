package subscription

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
)

// Source is an open netlink subscription.
type Source interface {
	// Read returns the messages of the next datagram; net.ErrClosed (or
	// EBADF) once Close was called. It is called from one goroutine.
	Read() ([]netlink.Message, error)
	// Close releases the subscription; safe from any goroutine, more
	// than once.
	Close() error
}

const (
	// RestartMin is the first pause before a failed reader is opened
	// again; each failure in a row doubles it, up to restartMax.
	RestartMin = 100 * time.Millisecond
	restartMax = 30 * time.Second
	// restartHealthy is how long a reader must have run for its next
	// failure to count as a first one again (pause RestartMin).
	restartHealthy = time.Minute
)

// Options configure a Reader.
type Options struct {
	// What names the subscription in logs: "conntrack events".
	What string
	// Log receives a warning per failure (default: discarded).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wait sleeps d, returning early, with true, when stop is closed
	// (default: a timer).
	Wait func(d time.Duration, stop <-chan struct{}) bool
}

// Reader reads a kernel subscription for as long as its owner runs (see
// the package's doc). Its methods are safe for concurrent use; Run is
// called once.
type Reader struct {
	what string
	log  *slog.Logger
	now  func() time.Time
	wait func(d time.Duration, stop <-chan struct{}) bool

	failures atomic.Uint64 // each failure, of a read or of a reopening
	delay    time.Duration // the last pause (Run's goroutine only)

	mu     sync.Mutex // guards cur and closed
	cur    Source
	closed bool
}

// New makes a reader with no source yet (see Set).
func New(o Options) *Reader {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait == nil {
		o.Wait = sleepOrStop
	}
	return &Reader{what: o.What, log: o.Log, now: o.Now, wait: o.Wait}
}

// sleepOrStop waits d or until stop is closed; it reports the latter.
func sleepOrStop(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return true
	case <-t.C:
		return false
	}
}

// Failures counts the failures, of a read or of a reopening, since start.
func (r *Reader) Failures() uint64 { return r.failures.Load() }

// Set makes src the source Run reads first; false (src closed) when the
// reader was closed already.
func (r *Reader) Set(src Source) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		src.Close()
		return false
	}
	r.cur = src
	return true
}

// Run reads the current source (see Set), handing each datagram's
// messages to handle, until Close is called or stop is closed. After a
// failure it opens a new source with open. missed is told of messages
// lost: with ENOBUFS when the kernel dropped some, with the failure when
// the reader was reopened after one.
func (r *Reader) Run(stop <-chan struct{}, open func() (Source, error), handle func([]netlink.Message), missed func(error)) {
	r.mu.Lock()
	src := r.cur
	r.mu.Unlock()
	var lostBy error // the failure the new source follows
	for {
		start := r.now()
		var err error
		if src == nil {
			if src, err = open(); err == nil && !r.Set(src) {
				return
			}
		}
		if err == nil {
			if lostBy != nil {
				missed(lostBy)
				lostBy = nil
			}
			if err = r.readAll(src, handle, missed); err == nil {
				return // closed
			}
		}
		src = nil
		if Stopped(stop) {
			return
		}
		lostBy = err
		n := r.failures.Add(1)
		d := r.backoff(r.now().Sub(start))
		r.log.Warn("kernel reader failed; reopening it after a pause", "reader", r.what, "err", err, "retry_in", d, "failures", n)
		if r.wait(d, stop) {
			return
		}
	}
}

// Stopped reports whether stop is closed.
func Stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// readAll reads src until it is closed (nil) or fails (its error, src
// closed).
func (r *Reader) readAll(src Source, handle func([]netlink.Message), missed func(error)) error {
	for {
		msgs, err := src.Read()
		switch {
		case err == nil:
			handle(msgs)
		case IsClosed(err):
			return nil
		case errors.Is(err, syscall.ENOBUFS):
			missed(err)
		default:
			r.mu.Lock()
			if r.cur == src {
				r.cur = nil
			}
			r.mu.Unlock()
			src.Close()
			return err
		}
	}
}

// IsClosed reports whether err is what a read of a closed socket
// returns: net.ErrClosed, EBADF, or mdlayher/netlink's "use of closed
// file".
func IsClosed(err error) bool {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF) {
		return true
	}
	var op *netlink.OpError
	return errors.As(err, &op) && op.Err != nil && op.Err.Error() == "use of closed file"
}

// backoff returns the pause before the next opening, after a source that
// ran for ran.
func (r *Reader) backoff(ran time.Duration) time.Duration {
	if ran >= restartHealthy || r.delay == 0 {
		r.delay = RestartMin
	} else {
		r.delay = min(2*r.delay, restartMax)
	}
	return r.delay
}

// Close closes the current source, so that Run returns; safe more than
// once and before Run. It does not wait for Run to return.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	return r.cur.Close()
}
