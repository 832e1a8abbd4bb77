package main

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The churn modes make and take short TCP connections with blocking system
// calls, each on an OS thread of its own, not through Go's poller: a
// connection then costs about what the kernel's TCP costs (4 system calls
// a side), as a tight C client's or server's would, and the generator
// reaches rates that tcp-send and tcp-sink, at twice the system calls and
// the runtime's wake-ups, cannot on a small machine (bwbench's churn).

// sockaddr resolves addr (HOST:PORT, as tcp-send takes it) for
// unix.Connect and unix.Bind.
func sockaddr(addr string) (int, unix.Sockaddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	ap := ta.AddrPort()
	if a := ap.Addr().Unmap(); a.Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, nil
}

// tcpChurn makes total connections to addr, k at a time (and, with cps >
// 0, cps a second at most: connection i starts no sooner than i/cps after
// the first): each connects,
// sends size bytes and closes, as a client that hangs up once it has said
// its piece: the kernel sends the data and the FIN after close, and the
// socket lives on (FIN-WAIT, then TIME-WAIT) without its file. Not
// waiting for the server's FIN spares a sleep and a wake-up a connection,
// which are most of its cost on a small VM (10,000 connections/s with the
// wait, 17,000-19,000 without, on 2 vCPUs).
func tcpChurn(addr string, total, size int64, k int, cps float64, ports int) error {
	family, sa, err := sockaddr(addr)
	if err != nil {
		return err
	}
	to := make([]unix.Sockaddr, max(1, ports))
	for p := range to {
		to[p] = withPort(sa, p)
	}
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range max(1, min(int64(k), total)) {
		wg.Go(func() {
			runtime.LockOSThread()
			buf := make([]byte, size)
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if cps > 0 {
					// Ahead by up to paceSlack, a thread goes on: one
					// sleep every few connections, not one each.
					if ahead := time.Until(start.Add(time.Duration(float64(i-1) / cps * float64(time.Second)))); ahead > paceSlack {
						time.Sleep(ahead)
					}
				}
				if err := churnConn(family, to[i%int64(len(to))], buf); err != nil {
					once.Do(func() { first = err })
					next.Store(total)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// withPort is sa with its port raised by d.
func withPort(sa unix.Sockaddr, d int) unix.Sockaddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		b := *a
		b.Port += d
		return &b
	case *unix.SockaddrInet6:
		b := *a
		b.Port += d
		return &b
	}
	return sa
}

// paceSlack is how far ahead of its pace (-cps) tcp-churn may run.
const paceSlack = 10 * time.Millisecond

func churnConn(family int, sa unix.Sockaddr, buf []byte) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	for b := buf; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// tcpChurnSink accepts connections on addr's port and the ports-1 above
// it with k threads (at least one a port), reads each to its end and
// closes it, until killed. A connection holds its thread while it lasts:
// it serves short connections, k at a time.
func tcpChurnSink(addr string, k int, ready string, ports int) error {
	family, sa, err := sockaddr(addr)
	if err != nil {
		return err
	}
	ls := make([]int, max(1, ports))
	for p := range ls {
		if ls[p], err = listen(family, withPort(sa, p)); err != nil {
			return fmt.Errorf("listening on %s's port + %d: %w", addr, p, err)
		}
	}
	markReady(ready)
	errc := make(chan error, 1)
	for t := range max(k, len(ls)) {
		l := ls[t%len(ls)]
		go func() {
			runtime.LockOSThread()
			rb := make([]byte, 64<<10)
			for {
				fd, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
				if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
					continue
				}
				if err != nil {
					errc <- fmt.Errorf("accept: %w", err)
					return
				}
				for {
					n, err := unix.Read(fd, rb)
					if errors.Is(err, unix.EINTR) {
						continue
					}
					if n <= 0 || err != nil {
						break
					}
				}
				unix.Close(fd)
			}
		}()
	}
	return <-errc
}

func listen(family int, sa unix.Sockaddr) (int, error) {
	l, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(l, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return -1, err
	}
	if err := unix.Bind(l, sa); err != nil {
		return -1, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(l, 4096); err != nil {
		return -1, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}
