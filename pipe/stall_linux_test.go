package pipe

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// queued returns the bytes the kernel holds in one of c's queues:
// unix.SIOCINQ, received and not yet read; unix.SIOCOUTQ, written and not
// yet acknowledged by the peer (sent or not).
func queued(t *testing.T, c *net.TCPConn, queue uint) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var qerr error
	if err := rc.Control(func(fd uintptr) { n, qerr = unix.IoctlGetInt(int(fd), queue) }); err != nil {
		t.Fatal(err)
	}
	if qerr != nil {
		t.Fatalf("reading a socket queue: %v", qerr)
	}
	return n
}

// soleSession waits until p has one session connected to the target and
// returns it.
func soleSession(t *testing.T, p *Pipe) *session {
	t.Helper()
	var s *session
	waitFor(t, 10*time.Second, "the pipe to connect its client to the target", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for ss := range p.sessions {
			if len(p.sessions) == 1 && ss.target != nil {
				s = ss
			}
		}
		return s != nil
	})
	return s
}

// stallingSender writes msg to c until c stays full for 200 ms (or it has
// written it all), sends on handed how much the kernel took, then waits for
// resume to write the rest and half-close. It sends its error on wrote.
func stallingSender(t *testing.T, c *net.TCPConn, msg []byte, handed chan<- int, resume <-chan struct{}, wrote chan<- error) {
	off := 0
	for off < len(msg) {
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Write(msg[off:])
		off += n
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			wrote <- err
			return
		}
	}
	handed <- off
	select {
	case <-resume:
	case <-t.Context().Done():
		wrote <- t.Context().Err()
		return
	}
	c.SetWriteDeadline(time.Time{})
	_, err := c.Write(msg[off:])
	if err == nil {
		err = c.CloseWrite()
	}
	wrote <- err
}

// TestStalledReceiver sends 10 MiB through the pipe to a peer that reads
// nothing until the test lets it, either way (the security review: the
// pipe counted as "in" 4 MB the target never had, held in the pipe's own
// socket). While the receiver stalls, the pipe counts no byte that is not
// in the receiver's socket or, at most unsentLimit, in its own on their
// way there, and holds at most a chunk it has not counted; once the
// receiver reads, the count is what it read, exactly.
func TestStalledReceiver(t *testing.T) {
	const sent = 10 << 20
	// overshoot is how far past TCP_NOTSENT_LOWAT one write may go: the
	// kernel checks the limit before each packet it queues, of 64 KiB at
	// most.
	const overshoot = 64 << 10
	directions := []struct {
		name string
		in   bool // client to target; else target to client
	}{
		{name: "target stalls", in: true},
		{name: "client stalls", in: false},
	}
	for _, mode := range chunkerModes {
		for _, dir := range directions {
			t.Run(mode.name+"/"+dir.name, func(t *testing.T) {
				mode.use(t)
				leakCheck(t)
				held := make(chan *net.TCPConn, 1)
				tg := startTarget(t, func(c *net.TCPConn) {
					held <- c
					<-t.Context().Done()
				})
				p := startPipe(t, Config{Target: tg.addr()}, nil)
				c := dial(t, p)
				tc := <-held
				s := soleSession(t, p)
				// The sender and receiver, the pipe's sockets to each,
				// and the count of their direction.
				sender, receiver, fromSender, toReceiver := c, tc, s.client, s.target
				count := func() int { return int(p.Totals().In) }
				if !dir.in {
					sender, receiver, fromSender, toReceiver = tc, c, s.target, s.client
					count = func() int { return int(p.Totals().Out) }
				}

				handed, wrote, resume := make(chan int, 1), make(chan error, 1), make(chan struct{})
				go stallingSender(t, sender, pattern(sent, 7), handed, resume, wrote)
				var n int
				select {
				case n = <-handed:
				case err := <-wrote:
					t.Fatalf("sender: %v", err)
				}

				// Everything is blocked now; wait for the queues to settle.
				var counted, recvIn, pipeOut, sendOut, pipeIn int
				measure := func() [5]int {
					counted = count()
					recvIn, pipeOut = queued(t, receiver, unix.SIOCINQ), queued(t, toReceiver, unix.SIOCOUTQ)
					sendOut, pipeIn = queued(t, sender, unix.SIOCOUTQ), queued(t, fromSender, unix.SIOCINQ)
					return [5]int{counted, recvIn, pipeOut, sendOut, pipeIn}
				}
				waitFor(t, 10*time.Second, "the queues to settle", func() bool {
					before := measure()
					time.Sleep(100 * time.Millisecond)
					return measure() == before
				})
				// What the pipe took from the sender and has not counted:
				// in its kernel pipe or buffer, or written by a Write that
				// has not returned (the portable chunker's count lags so).
				holds := n - sendOut - pipeIn - counted
				t.Logf("sender handed %d bytes to its kernel; counted %d: %d in the receiver's socket, %d in the pipe's on their way; the pipe holds %d uncounted",
					n, counted, recvIn, pipeOut, holds)
				if counted > recvIn+pipeOut {
					t.Errorf("counted %d, more than the %d bytes in the receiver's socket and the pipe's", counted, recvIn+pipeOut)
				}
				if pipeOut > unsentLimit+overshoot {
					t.Errorf("%d bytes wait in the pipe's socket, want at most %d", pipeOut, unsentLimit+overshoot)
				}
				if holds < 0 || holds > maxChunk {
					t.Errorf("the pipe holds %d bytes it has not counted, want 0 to %d", holds, maxChunk)
				}

				read := make(chan int64, 1)
				go func() {
					receiver.SetReadDeadline(time.Now().Add(20 * time.Second))
					n, _ := io.Copy(io.Discard, receiver)
					read <- n
				}()
				close(resume)
				if err := <-wrote; err != nil {
					t.Fatalf("sender: %v", err)
				}
				if got := <-read; got != sent {
					t.Fatalf("receiver read %d bytes, want %d", got, sent)
				}
				waitFor(t, 10*time.Second, "the count to catch up", func() bool { return count() == sent })
			})
		}
	}
}
