package bench

import (
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/pipe"
)

// payload is what one operation sends.
const payload = 64 << 20

// chunk is the size of the sender's writes and the sink's reads.
const chunk = 256 << 10

// sink accepts connections on 127.0.0.1, reads them and answers one byte
// per payload received, so that a sender knows the payload has arrived.
func sink(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, chunk)
				got := 0
				for {
					n, err := c.Read(buf)
					if got += n; got >= payload {
						got -= payload
						if _, err := c.Write([]byte{1}); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// startPipe starts a pipe on 127.0.0.1 to target.
func startPipe(b *testing.B, target string) string {
	p, err := pipe.New(pipe.Config{Listen: "127.0.0.1:0", Target: target}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p.Addr().String()
}

// sender is one connection that sends payloads.
type sender struct {
	c   net.Conn
	buf []byte
}

func dial(b *testing.B, addr string) *sender {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &sender{c: c, buf: make([]byte, chunk)}
}

// send sends one payload and waits until the sink has it all.
func (s *sender) send(b *testing.B) {
	for sent := 0; sent < payload; sent += len(s.buf) {
		if _, err := s.c.Write(s.buf); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := io.ReadFull(s.c, s.buf[:1]); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDirect sends 64 MiB per operation over a loopback connection.
func BenchmarkDirect(b *testing.B) {
	s := dial(b, sink(b))
	b.SetBytes(payload)
	for b.Loop() {
		s.send(b)
	}
}

// BenchmarkPipe sends 64 MiB per operation through a pipe on loopback.
func BenchmarkPipe(b *testing.B) {
	s := dial(b, startPipe(b, sink(b)))
	b.SetBytes(payload)
	for b.Loop() {
		s.send(b)
	}
}

// BenchmarkPipeVsDirect sends 64 MiB directly, then 64 MiB through the
// pipe, per operation, and reports both throughputs and the pipe's as a
// percentage of the direct one: measured in turns in one run, so that both
// see the same machine. It also reports the CPU time the process spent per
// byte through the pipe as a multiple of that of a direct byte: sender,
// pipe and sink share the machine's cores, so where that multiple times
// the direct run's cores exceeds the cores there are, the pipe is bound by
// CPU, not by its copy loop.
func BenchmarkPipeVsDirect(b *testing.B) {
	dst := sink(b)
	direct, piped := dial(b, dst), dial(b, startPipe(b, dst))
	var tDirect, tPipe, cDirect, cPipe time.Duration
	n := 0
	for b.Loop() {
		c0, t0 := cpuTime(b), time.Now()
		direct.send(b)
		c1, t1 := cpuTime(b), time.Now()
		piped.send(b)
		c2, t2 := cpuTime(b), time.Now()
		tDirect += t1.Sub(t0)
		tPipe += t2.Sub(t1)
		cDirect += c1 - c0
		cPipe += c2 - c1
		n++
	}
	mbps := func(d time.Duration) float64 { return float64(n) * payload / 1e6 / d.Seconds() }
	ratio := 100 * tDirect.Seconds() / tPipe.Seconds()
	b.ReportMetric(mbps(tDirect), "direct-MB/s")
	b.ReportMetric(mbps(tPipe), "pipe-MB/s")
	b.ReportMetric(ratio, "pipe-%-of-direct")
	b.ReportMetric(cPipe.Seconds()/cDirect.Seconds(), "pipe-cpu-x")
	b.ReportMetric(cDirect.Seconds()/tDirect.Seconds(), "direct-cores")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
