package pipe

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// warnEvery spaces the warnings about clients the pipe cannot serve
// (refused beyond MaxConns, or whose target cannot be reached), which any
// client can make come by the thousand: a line every 10 s at most, with
// the total so far.
const warnEvery = 10 * time.Second

// warnLimit lets one warning of its kind through per warnEvery. It is safe
// for concurrent use.
type warnLimit struct {
	last atomic.Int64 // unix nanoseconds of the last warning
}

// allow reports whether to log the warning due now.
func (l *warnLimit) allow(now time.Time) bool {
	t, last := now.UnixNano(), l.last.Load()
	return t-last >= int64(warnEvery) && l.last.CompareAndSwap(last, t)
}

// session is one client and its connection to the target.
type session struct {
	p      *Pipe
	client *net.TCPConn
	target *net.TCPConn // set by serve under p.mu once dialed
	start  time.Time
	// last is when a byte last moved either way, in nanoseconds since
	// start (monotonic); only kept with an idle timeout.
	last atomic.Int64
}

// acceptLoop accepts clients until the listener is closed. Errors such as
// running out of file descriptors are retried with a growing pause.
func (p *Pipe) acceptLoop() {
	defer close(p.acceptDone)
	var pause time.Duration
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			p.log.Warn("accepting connection", "err", err, "retry_in", pause)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-p.stopping:
				t.Stop()
				return
			}
			continue
		}
		pause = 0
		p.admit(c)
	}
}

// admit starts a session for c, or closes c when the pipe is full or
// closing.
func (p *Pipe) admit(c *net.TCPConn) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.cfg.MaxConns > 0 && len(p.sessions) >= p.cfg.MaxConns {
		p.mu.Unlock()
		p.refuse(c)
		return
	}
	s := &session{p: p, client: c, start: time.Now()}
	p.sessions[s] = struct{}{}
	p.open.Add(1)
	p.wg.Add(1)
	p.mu.Unlock()
	p.accepted.Add(1)
	go p.serve(s)
}

// refuse closes a client beyond MaxConns at once: it sees the connection
// end before any byte, and may try again later.
func (p *Pipe) refuse(c *net.TCPConn) {
	defer c.Close() // after the count and the log, for whoever watches them
	n := p.refused.Add(1)
	if p.refusalWarn.allow(time.Now()) {
		p.log.Warn("refusing connection: max_conns reached (raise max_conns to serve more)",
			"max_conns", p.cfg.MaxConns, "client", c.RemoteAddr().String(), "refused_total", n)
	}
}

// untrack forgets a session that has ended.
func (p *Pipe) untrack(s *session) {
	p.mu.Lock()
	delete(p.sessions, s)
	p.open.Add(-1)
	p.checkDrainedLocked()
	p.mu.Unlock()
}

// serve connects the client to the target and copies both ways until both
// are done or either fails.
func (p *Pipe) serve(s *session) {
	defer p.wg.Done()
	defer p.untrack(s)
	client := s.client.RemoteAddr().String()

	c, err := p.dialer.DialContext(p.ctx, "tcp", p.cfg.Target)
	if err != nil {
		// Counted and logged before the client sees the close, for
		// whoever watches them.
		n := p.failed.Add(1)
		if p.ctx.Err() == nil && p.dialWarn.allow(time.Now()) {
			p.log.Warn("connecting to target", "target", p.cfg.Target, "client", client, "err", err, "failed_total", n)
		}
		s.client.Close()
		return
	}
	target := c.(*net.TCPConn)
	limitUnsent(target)
	limitUnsent(s.client)
	p.mu.Lock()
	forced := p.forced
	if !forced {
		s.target = target
	}
	p.mu.Unlock()
	if forced {
		target.Close()
		s.client.Close()
		return
	}

	var in uint64
	var inErr error
	inDone := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(inDone)
		in, inErr = s.pump(target, s.client, &p.in, p.inLim)
		if inErr != nil {
			s.closeBoth()
		}
	}()
	out, outErr := s.pump(s.client, target, &p.out, p.outLim)
	if outErr != nil {
		s.closeBoth()
	}
	<-inDone
	s.closeBoth()
	p.log.Debug("connection closed", "client", client, "in", in, "out", out,
		"duration", time.Since(s.start).Round(time.Millisecond), "end", endReason(inErr, outErr))
}

// closeBoth closes both sides; it unblocks the copies of both directions.
// Closing twice is harmless.
func (s *session) closeBoth() {
	s.client.Close()
	if t := s.target; t != nil {
		t.Close()
	}
}

// touch records that bytes moved now.
func (s *session) touch() {
	if s.p.cfg.IdleTimeout > 0 {
		s.last.Store(int64(time.Since(s.start)))
	}
}

// stillActive reports whether err is an idle deadline that expired while
// the other direction was moving bytes; it then moves the deadline on with
// set, and the copy continues.
func (s *session) stillActive(err error, set func(time.Time) error) bool {
	idle := s.p.cfg.IdleTimeout
	if idle <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	next := s.start.Add(time.Duration(s.last.Load()) + idle)
	if !time.Now().Before(next) {
		return false
	}
	return set(next) == nil
}

// endReason says how a connection ended, for the debug log.
func endReason(inErr, outErr error) string {
	for _, err := range []error{inErr, outErr} {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return "idle"
		}
	}
	for _, err := range []error{inErr, outErr} {
		switch {
		case err == nil, errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF):
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			return "reset"
		default:
			return err.Error()
		}
	}
	return "closed"
}
