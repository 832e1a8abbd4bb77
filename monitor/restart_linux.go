package monitor

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// msgSource is an open netlink subscription: the conntrack event socket
// (eventReader) or the proc connector.
type msgSource interface {
	// read returns the messages of the next datagram; net.ErrClosed (or
	// EBADF) once close was called. It is called from one goroutine.
	read() ([]netlink.Message, error)
	// close releases the subscription; safe from any goroutine, more
	// than once.
	close() error
}

// errReaderClosed is what an open function returns when the reader was
// closed meanwhile.
var errReaderClosed = errors.New("reader closed")

const (
	// restartMin is the first pause before a failed reader is opened
	// again; each failure in a row doubles it, up to restartMax.
	restartMin = 100 * time.Millisecond
	restartMax = 30 * time.Second
	// restartHealthy is how long a reader must have run for its next
	// failure to count as a first one again (pause restartMin).
	restartHealthy = time.Minute
)

// restartingReader reads a kernel subscription for as long as its owner
// runs. ENOBUFS (the kernel dropped messages) is reported and reading
// goes on; any other error closes the subscription, is counted and
// logged, and after a pause (restartMin doubling to restartMax) a new one
// is opened: a reader that stopped for good on its first error left bwmon
// blind to new flows or processes until restart, with one log line.
type restartingReader struct {
	what string // the reader, for logs: "conntrack events"
	log  *slog.Logger
	now  func() time.Time
	// wait sleeps d, returning early, true, when stop is closed.
	wait func(d time.Duration, stop <-chan struct{}) bool

	failures atomic.Uint64 // each failure, of a read or of a reopening
	delay    time.Duration // the last pause (run's goroutine only)

	mu     sync.Mutex // guards cur and closed
	cur    msgSource
	closed bool
}

func newRestartingReader(what string, log *slog.Logger, now func() time.Time) *restartingReader {
	return &restartingReader{what: what, log: log, now: now, wait: sleepOrStop}
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

// set makes src the source run reads first; false (src closed) when the
// reader was closed already.
func (r *restartingReader) set(src msgSource) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		src.close()
		return false
	}
	r.cur = src
	return true
}

// run reads the current source (see set), handing each datagram's
// messages to handle, until close is called or stop is closed. After a
// failure it opens a new source with open. missed is told of messages lost:
// with ENOBUFS when the kernel dropped some, with the failure when the
// reader was reopened after one.
func (r *restartingReader) run(stop <-chan struct{}, open func() (msgSource, error), handle func([]netlink.Message), missed func(error)) {
	r.mu.Lock()
	src := r.cur
	r.mu.Unlock()
	var lostBy error // the failure the new source follows
	for {
		start := r.now()
		var err error
		if src == nil {
			if src, err = open(); err == nil && !r.set(src) {
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
		if errors.Is(err, errReaderClosed) || isClosed(stop) {
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

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// readAll reads src until it is closed (nil) or fails (its error, src
// closed).
func (r *restartingReader) readAll(src msgSource, handle func([]netlink.Message), missed func(error)) error {
	for {
		msgs, err := src.read()
		switch {
		case err == nil:
			handle(msgs)
		case errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) || isClosedErr(err):
			return nil
		case errors.Is(err, unix.ENOBUFS):
			missed(err)
		default:
			r.mu.Lock()
			if r.cur == src {
				r.cur = nil
			}
			r.mu.Unlock()
			src.close()
			return err
		}
	}
}

// backoff returns the pause before the next opening, after a source that
// ran for ran.
func (r *restartingReader) backoff(ran time.Duration) time.Duration {
	if ran >= restartHealthy || r.delay == 0 {
		r.delay = restartMin
	} else {
		r.delay = min(2*r.delay, restartMax)
	}
	return r.delay
}

// close closes the current source, so that run returns; safe more than
// once and before run.
func (r *restartingReader) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	return r.cur.close()
}
