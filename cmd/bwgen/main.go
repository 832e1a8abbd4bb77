// Command bwgen moves a known number of bytes, for bwmon's end-to-end tests
// and benchmarks. Tests copy it under a unique name, so that bwmon groups
// its traffic under an app of its own.
//
//	bwgen tcp-send  ADDR BYTES        connect, send BYTES, half-close, wait for EOF
//	bwgen tcp-recv  ADDR BYTES        connect, read BYTES the server sends
//	bwgen tcp-sink  LISTEN            accept; read and discard everything
//	bwgen tcp-serve LISTEN BYTES      accept; send BYTES to each client, close
//	bwgen udp-send  ADDR BYTES SIZE   send BYTES in datagrams of SIZE bytes
//	bwgen udp-sink  LISTEN            receive and discard datagrams
//	bwgen ping      ADDR COUNT SIZE   ICMP echo over a raw socket, COUNT times
//	bwgen udp-flows ADDR N            one datagram from each of N flows, each
//	                                  from a local port of its own (as udp-live)
//	bwgen udp-live  ADDR N SIZE       hold N connected UDP sockets and send SIZE
//	                                  bytes on each once a second, spread over
//	                                  the second, until killed: N live flows
//	                                  (Linux; to ADDR's port and the ports above
//	                                  it, 50,000 sockets a port; raises its open
//	                                  files limit; prints "ready N", then "sent
//	                                  DATAGRAMS BYTES" each second)
//	bwgen raw-eth   IFACE BYTES SIZE  send BYTES in Ethernet frames of SIZE bytes
//	                                  on IFACE through an AF_PACKET socket, as no
//	                                  IP socket sees them (Linux)
//	bwgen tcp-churn IP:PORT BYTES     -conns connections, -parallel at a time, each
//	                                  connect, send BYTES, close (not waiting for
//	                                  the server's end), on threads making
//	                                  blocking system calls: a connection costs
//	                                  little more than the kernel's TCP (Linux;
//	                                  benchmarks' churn)
//	bwgen tcp-churn-sink IP:PORT      accept, read to the end, close: -parallel
//	                                  threads, one connection each at a time
//	                                  (Linux; short connections only)
//
// Options before the mode: -hold D keeps the process alive D after the
// transfer; -linger D keeps each socket open D after its transfer (tests of
// accounting use it, so that a process that lives a few milliseconds is not
// what they measure; tcp-sink closes each connection D after its client's
// end); -conns N repeats a tcp-send/tcp-recv N times, one connection
// after another; -parallel K runs those connections K at a time (tcp-send;
// udp-live: K goroutines share the sockets); -first I numbers udp-live's
// sockets from I, so that several processes (each below its open files
// limit) hold distinct flows to one destination; -ready FILE writes "ready" to
// FILE once listening; -rate N paces tcp-send to N bytes per second; -thread
// NAME makes tcp-send's sockets on threads named NAME (not the process's
// comm), as a multithreaded program's workers (Linux); -cps N paces
// tcp-churn to N new connections a second; -ports P spreads tcp-churn's
// connections over P ports from ADDR's up (tcp-churn-sink listens on them),
// so that a client's 64,000 ports make P times as many distinct flows.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

func main() {
	hold := flag.Duration("hold", 0, "stay alive this long after the transfer")
	flag.DurationVar(&linger, "linger", 0, "keep each socket open this long after its transfer")
	conns := flag.Int("conns", 1, "connections, one after another (tcp-send, tcp-recv)")
	parallel := flag.Int("parallel", 1, "connections at a time (tcp-send); sending goroutines (udp-live)")
	first := flag.Int64("first", 0, "number udp-live's sockets from this one (processes sharing a destination)")
	ready := flag.String("ready", "", "file to write once listening")
	flag.Int64Var(&rate, "rate", 0, "bytes per second for tcp-send (0: as fast as possible)")
	thread := flag.String("thread", "", "make tcp-send's sockets on threads of this name (Linux)")
	cps := flag.Float64("cps", 0, "new connections per second at most, for tcp-churn (0: as fast as possible)")
	ports := flag.Int("ports", 1, "tcp-churn: connect to the port and the ports-1 above it in turn; tcp-churn-sink: listen on them")
	flag.Parse()
	a := flag.Args()
	if len(a) < 2 {
		fatal(errors.New("usage: bwgen [-hold D] [-conns N] [-parallel K] [-ready FILE] [-rate N] MODE ADDR [BYTES [SIZE]]"))
	}
	n := func(i int) int64 {
		if i >= len(a) {
			fatal(fmt.Errorf("mode %s needs more arguments", a[0]))
		}
		v, err := strconv.ParseInt(a[i], 10, 64)
		if err != nil {
			fatal(fmt.Errorf("bad number %q", a[i]))
		}
		return v
	}
	var err error
	switch a[0] {
	case "tcp-send":
		send := func() error { return tcpSend(a[1], n(2)) }
		if *thread != "" {
			send = func() error { return onThread(*thread, func() error { return tcpSend(a[1], n(2)) }) }
		}
		err = parallelConns(*conns, *parallel, send)
	case "tcp-recv":
		for i := 0; i < *conns && err == nil; i++ {
			err = tcpRecv(a[1], n(2))
		}
	case "tcp-sink":
		err = tcpServe(a[1], -1, *ready)
	case "tcp-serve":
		err = tcpServe(a[1], n(2), *ready)
	case "udp-send":
		err = udpSend(a[1], n(2), n(3))
	case "udp-sink":
		err = udpSink(a[1], *ready)
	case "ping":
		err = ping(a[1], n(2), n(3))
	case "udp-flows":
		err = udpFlows(a[1], n(2))
	case "udp-live":
		err = udpLive(a[1], n(2), n(3), *first, *parallel)
	case "raw-eth":
		err = rawEth(a[1], n(2), n(3))
	case "tcp-churn":
		err = tcpChurn(a[1], int64(*conns), n(2), *parallel, *cps, *ports)
	case "tcp-churn-sink":
		err = tcpChurnSink(a[1], *parallel, *ready, *ports)
	default:
		err = fmt.Errorf("unknown mode %q", a[0])
	}
	if err != nil {
		fatal(err)
	}
	time.Sleep(*hold)
}

// parallelConns runs conn total times, k at a time, and returns the first
// error (the others stop at their next connection).
func parallelConns(total, k int, conn func() error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range max(1, min(k, total)) {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				if err := conn(); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(total))
				}
			}
		})
	}
	wg.Wait()
	return first
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bwgen:", err)
	os.Exit(1)
}

var chunk = make([]byte, 64<<10)

// linger is how long a socket stays open after its transfer (-linger).
var linger time.Duration

// rate paces tcp-send, in bytes per second; 0 does not.
var rate int64

// pacedWriter writes at most rate bytes per second on average, in pieces of
// a fiftieth of a second's worth.
type pacedWriter struct {
	w     io.Writer
	start time.Time
	sent  int64
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	step := max(rate/50, 1)
	written := 0
	for len(b) > 0 {
		n, err := p.w.Write(b[:min(int64(len(b)), step)])
		written += n
		p.sent += int64(n)
		if err != nil {
			return written, err
		}
		b = b[n:]
		time.Sleep(time.Until(p.start.Add(time.Duration(float64(p.sent) / float64(rate) * float64(time.Second)))))
	}
	return written, nil
}

func tcpSend(addr string, total int64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var w io.Writer = c
	if rate > 0 {
		w = &pacedWriter{w: c, start: time.Now()}
	}
	if _, err := io.CopyN(w, zeros{}, total); err != nil {
		return err
	}
	// Linger before the half-close: once both ends have sent their FIN
	// the kernel turns the socket into a time-wait one, with no inode,
	// even while its file is still open.
	time.Sleep(linger)
	_ = c.(*net.TCPConn).CloseWrite()
	_, err = io.Copy(io.Discard, c) // wait until the sink has read it all
	return err
}

func tcpRecv(addr string, total int64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	got, err := io.CopyN(io.Discard, c, total)
	if err != nil {
		return fmt.Errorf("received %d of %d bytes: %w", got, total, err)
	}
	time.Sleep(linger)
	return nil
}

func tcpServe(addr string, each int64, ready string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	markReady(ready)
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if each < 0 {
				_, _ = io.Copy(io.Discard, c)
				time.Sleep(linger) // a server slow to close after its client
				return
			}
			_, _ = io.CopyN(c, zeros{}, each)
		}()
	}
}

func udpSend(addr string, total, size int64) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, size)
	for sent := int64(0); sent < total; sent += size {
		// A closed port answers with ICMP unreachable, which a connected
		// socket reports on a later write: keep sending regardless.
		if _, err := c.Write(buf[:min(size, total-sent)]); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		if sent/size%64 == 63 {
			time.Sleep(time.Millisecond) // let the sink keep up
		}
	}
	time.Sleep(linger)
	return nil
}

func udpSink(addr string, ready string) error {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	markReady(ready)
	buf := make([]byte, 65536)
	for {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return err
		}
	}
}

func ping(addr string, count, size int64) error {
	ip := net.ParseIP(addr)
	network, proto := "ip4:icmp", 1
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if ip.To4() == nil {
		network, proto, typ = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for i := int64(0); i < count; i++ {
		m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: int(i), Data: make([]byte, size)}}
		b, err := m.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: ip}); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if r, err := icmp.ParseMessage(proto, buf[:n]); err == nil && (r.Type == ipv4.ICMPTypeEchoReply || r.Type == ipv6.ICMPTypeEchoReply) {
				break
			}
		}
	}
	time.Sleep(linger)
	return nil
}

// udpFlows sends one small datagram from each of n fresh sockets: n
// conntrack flows, each from its own source port.
func udpFlows(addr string, n int64) error {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	// Each flow from a local port of its own, as udp-live picks them (a
	// port the kernel picked could be one it handed out before, and two
	// of the N flows would be one conntrack entry); a port in use is
	// passed over.
	for i, made := int64(0), int64(0); made < n; i++ {
		local, above := livePorts(i)
		dst := *raddr
		dst.Port += above
		c, err := net.DialUDP("udp", &net.UDPAddr{Port: local}, &dst)
		if errors.Is(err, syscall.EADDRINUSE) && i < n+portsPerDest {
			continue
		}
		if err != nil {
			return err
		}
		_, err = c.Write([]byte("x"))
		c.Close()
		if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		made++
	}
	return nil
}

func markReady(path string) {
	if path != "" {
		_ = os.WriteFile(path, []byte("ready"), 0o644)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
