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
//
// It makes its kernel pipe when the first byte arrives, so that a
// connection that says nothing holds no pipe, and falls back to the
// portable chunker when the pipe cannot be made.
type spliceChunker struct {
	dstConn, srcConn *net.TCPConn
	src, dst         syscall.RawConn
	rfd, wfd         int // the kernel pipe's read and write ends; -1 before the first byte
	inPipe           int // bytes of the current chunk still in the pipe
	// portable is the chunker in use instead when the kernel pipe could
	// not be made (over the process's descriptor limit, say).
	portable *bufChunker
}

// newChunker returns a splice chunker, or the portable one when the
// sockets give no raw access.
func newChunker(dst, src *net.TCPConn) chunker {
	rs, err1 := src.SyscallConn()
	rd, err2 := dst.SyscallConn()
	if err1 != nil || err2 != nil {
		return newBufChunker(dst, src)
	}
	return &spliceChunker{dstConn: dst, srcConn: src, src: rs, dst: rd, rfd: -1, wfd: -1}
}

// pipe2 is unix.Pipe2; tests make it fail to run the portable chunker.
var pipe2 = unix.Pipe2

// makePipe makes the kernel pipe.
func (c *spliceChunker) makePipe() error {
	var fds [2]int
	if err := pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	// A larger pipe lets one splice move more; the default (64 KiB) works
	// too, so an error (over the user's pipe quota) is not one.
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxChunk)
	c.rfd, c.wfd = fds[0], fds[1]
	return nil
}

// waitData waits until the source has a byte to read or is at EOF, without
// taking anything from it, and reports EOF.
func (c *spliceChunker) waitData() (eof bool, err error) {
	var one [1]byte
	var rerr error
	err = c.src.Read(func(fd uintptr) bool {
		for {
			n, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if err == unix.EINTR {
				continue
			}
			eof, rerr = n == 0 && err == nil, err
			return err != unix.EAGAIN
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return false, spliceError("recvfrom", err)
	}
	return eof, nil
}

const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

func (c *spliceChunker) fill(limit int) (int, error) {
	if c.portable != nil {
		return c.portable.fill(limit)
	}
	if c.rfd < 0 {
		eof, err := c.waitData()
		if err != nil || eof {
			return 0, err
		}
		if c.makePipe() != nil {
			c.portable = newBufChunker(c.dstConn, c.srcConn)
			return c.portable.fill(limit)
		}
	}
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
		return 0, spliceError("splice", err)
	}
	c.inPipe = n
	return n, nil
}

func (c *spliceChunker) flush() (int, error) {
	if c.portable != nil {
		return c.portable.flush()
	}
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
		return n, spliceError("splice", err)
	}
	return n, nil
}

func (c *spliceChunker) release() {
	if c.portable != nil {
		c.portable.release()
	}
	if c.rfd >= 0 {
		unix.Close(c.rfd)
		unix.Close(c.wfd)
		c.rfd, c.wfd = -1, -1
	}
}

// spliceError wraps an errno from the system call call as the net package
// wraps one from a read or write; errors of the poller (deadline, closed)
// pass as they are.
func spliceError(call string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return os.NewSyscallError(call, errno)
	}
	return err
}
