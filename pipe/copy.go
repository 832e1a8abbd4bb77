package pipe

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// maxChunk is the most a copy moves between two counts, the size it asks
// for its kernel pipe (the pipe may get less, see splice_linux.go) and the
// buffer of the portable copy: so it is also the most a connection holds,
// uncounted, in each direction when its destination stops reading. 256 KiB
// keeps a copy's system calls few; 1 MiB moved 15% more on loopback, but
// 512 connections whose peers stop reading would hold 1 GiB.
// A read returns what has arrived, so slow connections move (and count)
// much less.
const maxChunk = 256 << 10

// bufSize is the buffer of the portable copy.
const bufSize = maxChunk

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// A chunker moves bytes from one connection to the other a chunk at a
// time, so that the copy can count, rate-limit and watch for idleness
// between chunks. It is used by one goroutine.
type chunker interface {
	// fill takes up to max bytes from the source and returns how many;
	// 0 and a nil error mean the source is at EOF. It is called only when
	// the previous chunk has been flushed.
	fill(max int) (int, error)
	// flush writes the chunk to the destination and returns how many
	// bytes it wrote; it is called again after an error the copy
	// survives, until the chunk is written.
	flush() (int, error)
	// release frees what the chunker holds.
	release()
}

// pump copies src to dst until src is at EOF, then shuts dst's write side
// so that the peer sees the same half-close. Each chunk written is added to
// total, once its bytes are in dst. lim, when not nil, is waited on for a
// chunk's bytes before they are written. It returns the bytes it wrote and
// nil at EOF, or the error that stopped it: a read or write error,
// os.ErrDeadlineExceeded when the connection was idle, or the cancellation
// of the pipe.
func (s *session) pump(dst, src *net.TCPConn, total *atomic.Uint64, lim *rate.Limiter) (moved uint64, err error) {
	ch := newChunker(dst, src)
	defer ch.release()
	limit := maxChunk
	if lim != nil {
		limit = min(limit, lim.Burst())
	}
	if idle := s.p.cfg.IdleTimeout; idle > 0 {
		d := time.Now().Add(idle)
		if err := errors.Join(src.SetReadDeadline(d), dst.SetWriteDeadline(d)); err != nil {
			return 0, err
		}
	}
	for {
		n, err := ch.fill(limit)
		if err != nil {
			if s.stillActive(err, src.SetReadDeadline) {
				continue
			}
			return moved, err
		}
		if n == 0 {
			return moved, dst.CloseWrite()
		}
		s.touch()
		if lim != nil {
			if err := lim.WaitN(s.p.ctx, n); err != nil {
				return moved, err
			}
		}
		for n > 0 {
			w, err := ch.flush()
			if w > 0 {
				total.Add(uint64(w))
				moved += uint64(w)
				n -= w
				s.touch()
			}
			if err != nil {
				if s.stillActive(err, dst.SetWriteDeadline) {
					continue
				}
				return moved, err
			}
		}
	}
}

// bufChunker is the portable chunker: a read into a pooled buffer, then a
// write from it.
type bufChunker struct {
	dst, src net.Conn
	buf      *[]byte
	off, end int
	err      error // a read error that came with data, for the next fill
}

func newBufChunker(dst, src net.Conn) *bufChunker {
	return &bufChunker{dst: dst, src: src, buf: bufPool.Get().(*[]byte)}
}

func (c *bufChunker) fill(limit int) (int, error) {
	if c.err != nil {
		err := c.err
		c.err = nil
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, err
	}
	b := *c.buf
	n, err := c.src.Read(b[:min(limit, len(b))])
	c.off, c.end = 0, n
	switch {
	case n > 0:
		c.err = err
		return n, nil
	case errors.Is(err, io.EOF):
		return 0, nil
	case err == nil:
		return 0, io.ErrNoProgress
	}
	return 0, err
}

func (c *bufChunker) flush() (int, error) {
	n, err := c.dst.Write((*c.buf)[c.off:c.end])
	c.off += n
	return n, err
}

func (c *bufChunker) release() {
	if c.buf != nil {
		bufPool.Put(c.buf)
		c.buf = nil
	}
}
