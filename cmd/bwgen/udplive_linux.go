package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// udpLive opens n connected UDP sockets to addr's host, at addr's port and
// the ports above it (portsPerDest sockets a port), and sends size bytes on
// each once a second, spread evenly over the second, until it is killed:
// n live flows all moving bytes. workers goroutines share the sockets.
// Once a second it prints "sent DATAGRAMS BYTES" (totals since the sending
// began; a datagram the kernel refused for want of buffer is not counted)
// after "ready N" once every socket is open. It raises its own limit of
// open files to fit (as root with CAP_SYS_RESOURCE; without it, run
// several processes below the hard limit). first numbers its sockets from
// first instead of 0, so that processes sharing a destination take
// distinct 4-tuples.
func udpLive(addr string, n, size int64, first int64, workers int) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("udp-live address %q: want IP:PORT: %w", addr, err)
	}
	if n <= 0 || size <= 0 || size > 65000 {
		return fmt.Errorf("udp-live: want N > 0 sockets and 0 < SIZE ≤ 65000 bytes, not %d and %d", n, size)
	}
	if _, above := livePorts(first + n - 1); first < 0 || int(ap.Port())+above > 65535 {
		return fmt.Errorf("udp-live: sockets %d to %d need destination ports up to %d", first, first+n-1, int(ap.Port())+above)
	}
	if err := raiseNoFile(uint64(n) + 64); err != nil {
		return err
	}
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for i := range n {
		fd, err := udpSocket(ap, first+i)
		if err != nil {
			return fmt.Errorf("opening udp-live socket %d of %d: %w", i+1, n, err)
		}
		fds = append(fds, fd)
	}
	fmt.Println("ready", n)

	workers = max(1, min(workers, len(fds)))
	var sent, bytes atomic.Int64
	errc := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		part := fds[len(fds)*w/workers : len(fds)*(w+1)/workers]
		go func() { errc <- sendLive(part, size, start, &sent, &bytes) }()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-tick.C:
			fmt.Println("sent", sent.Load(), bytes.Load())
		}
	}
}

// udpSocket opens the i-th socket of udp-live, on the ports livePorts
// gives it (a local port is shared with SO_REUSEADDR by the sockets of
// other destination ports).
func udpSocket(ap netip.AddrPort, i int64) (int, error) {
	local, above := livePorts(i)
	port := int(ap.Port()) + above
	family := unix.AF_INET
	var from, to unix.Sockaddr = &unix.SockaddrInet4{Port: local}, &unix.SockaddrInet4{Port: port, Addr: ap.Addr().As4()}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
		from, to = &unix.SockaddrInet6{Port: local}, &unix.SockaddrInet6{Port: port, Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err == nil {
		err = unix.Bind(fd, from)
	}
	if err == nil {
		err = unix.Connect(fd, to)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// sendLive sends size bytes on each of fds once a second, in turn, paced so
// that the k-th datagram since start leaves at k/len(fds) s. Behind by more
// than a second (a loaded machine), it skips ahead instead of bursting.
func sendLive(fds []int, size int64, start time.Time, sent, bytes *atomic.Int64) error {
	buf := make([]byte, size)
	perSec := float64(len(fds))
	var k int64 // datagrams due so far, sent or skipped
	for {
		due := int64(time.Since(start).Seconds() * perSec)
		if due-k > int64(len(fds)) {
			k = due - int64(len(fds))
		}
		var s, b int64
		for ; k < due; k++ {
			_, err := unix.Write(fds[k%int64(len(fds))], buf)
			switch {
			case err == nil:
				s, b = s+1, b+size
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ECONNREFUSED):
				// A full buffer drops this one; an ICMP error from a
				// peer that does not drop them is reported here once.
			default:
				return fmt.Errorf("udp-live send: %w", err)
			}
		}
		sent.Add(s)
		bytes.Add(b)
		time.Sleep(time.Millisecond)
	}
}

// raiseNoFile raises the limit of open files to at least n (root may raise
// the hard limit up to fs.nr_open).
func raiseNoFile(n uint64) error {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("reading the open files limit: %w", err)
	}
	if l.Cur >= n {
		return nil
	}
	old := l.Cur
	l.Cur, l.Max = n, max(l.Max, n)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raising the open files limit from %d to %d (needs CAP_SYS_RESOURCE and fs.nr_open %s or more; else run several processes with -first): %w", old, n, nrOpen(), err)
	}
	return nil
}

func nrOpen() string {
	b, _ := os.ReadFile("/proc/sys/fs/nr_open")
	return string(b[:max(len(b)-1, 0)])
}
