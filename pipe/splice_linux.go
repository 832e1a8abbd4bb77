package pipe

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// spliceChunker moves bytes with splice(2): from the source socket into a
// kernel pipe, then from the pipe into the destination socket. The bytes
// never enter the process, and since each splice returns its count the copy
// still counts every chunk (the standard library's splice in
// (*net.TCPConn).ReadFrom only returns the count at the end). It waits with
// the runtime's poller through syscall.RawConn, so deadlines and Close
// release it as they release a Read.
type spliceChunker struct {
	src, dst syscall.RawConn
	rfd, wfd int // the kernel pipe's read and write ends
	inPipe   int // bytes of the current chunk still in the pipe
}

// newChunker returns a splice chunker, or the portable one when the kernel
// pipe cannot be made.
func newChunker(dst, src *net.TCPConn) chunker {
	rs, err1 := src.SyscallConn()
	rd, err2 := dst.SyscallConn()
	var fds [2]int
	if err1 != nil || err2 != nil || unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK) != nil {
		return newBufChunker(dst, src)
	}
	// A larger pipe lets one splice move more; the default (64 KiB) works
	// too, so an error (over the user's pipe quota) is not one.
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxChunk)
	return &spliceChunker{src: rs, dst: rd, rfd: fds[0], wfd: fds[1]}
}

const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

func (c *spliceChunker) fill(limit int) (int, error) {
	var n int
	var serr error
	err := c.src.Read(func(fd uintptr) bool {
		for {
			m, err := unix.Splice(int(fd), nil, c.wfd, nil, limit, spliceFlags)
			if err == unix.EINTR {
				continue
			}
			n, serr = int(m), err
			// The pipe is empty here, so EAGAIN means the socket has
			// nothing to read: wait until it has.
			return err != unix.EAGAIN
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, spliceError(err)
	}
	c.inPipe = n
	return n, nil
}

func (c *spliceChunker) flush() (int, error) {
	if c.inPipe == 0 {
		return 0, nil
	}
	var n int
	var serr error
	err := c.dst.Write(func(fd uintptr) bool {
		for {
			m, err := unix.Splice(c.rfd, nil, int(fd), nil, c.inPipe, spliceFlags)
			switch {
			case err == unix.EINTR:
				continue
			case m > 0:
				n, serr = int(m), nil
			case err == nil:
				serr = io.ErrNoProgress // the pipe holds the chunk: cannot happen
			default:
				serr = err
			}
			// The pipe holds data, so EAGAIN means the socket's send
			// buffer is full: wait until it drains.
			return serr != unix.EAGAIN
		}
	})
	c.inPipe -= n
	if err == nil {
		err = serr
	}
	if err != nil {
		return n, spliceError(err)
	}
	return n, nil
}

func (c *spliceChunker) release() {
	unix.Close(c.rfd)
	unix.Close(c.wfd)
}

// spliceError wraps an errno from splice as the net package wraps one from
// a read or write; errors of the poller (deadline, closed) pass as they are.
func spliceError(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return os.NewSyscallError("splice", errno)
	}
	return err
}
