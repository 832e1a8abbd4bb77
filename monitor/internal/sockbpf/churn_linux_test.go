package sockbpf

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkChurnRing measures whether close records keep up with churn:
// 16 goroutines open, use (1 kB) and close TCP connections over loopback
// as fast as they can for BWMON_CHURN_SECS (default 10) while Read runs
// once a second, as the agent's tick does. It reports the connections a
// second and the close records that found the ring buffer full
// (Stats.RingLost, counted host-wide: every socket closing on the host
// goes through the same ring) per second. It ignores b.N: run it with
// -benchtime 1x.
//
//	go test -run '^$' -bench ChurnRing -benchtime 1x ./monitor/internal/sockbpf
func BenchmarkChurnRing(b *testing.B) {
	c := openCounter(b, Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}()
		}
	}()
	secs := envInt("BWMON_CHURN_SECS", 10)
	if err := c.Read(func(*Socket) {}); err != nil {
		b.Fatal(err)
	}
	before := c.Stats()
	var conns atomic.Uint64
	stop := make(chan struct{})
	var gen sync.WaitGroup
	msg := make([]byte, 1000)
	for range 16 {
		gen.Add(1)
		go func() {
			defer gen.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					continue
				}
				_, _ = conn.Write(msg)
				conn.Close()
				conns.Add(1)
			}
		}()
	}
	b.ResetTimer()
	start := time.Now()
	closed := 0
	tick := time.NewTicker(time.Second)
	for range secs {
		<-tick.C
		if err := c.Read(func(s *Socket) {
			if s.Closed {
				closed++
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	close(stop)
	gen.Wait()
	el := time.Since(start).Seconds()
	if err := c.Read(func(s *Socket) {
		if s.Closed {
			closed++
		}
	}); err != nil {
		b.Fatal(err)
	}
	after := c.Stats()
	b.ReportMetric(float64(conns.Load())/el, "conns/s")
	b.ReportMetric(float64(closed)/el, "closed/s")
	b.ReportMetric(float64(after.RingLost-before.RingLost)/el, "ring-lost/s")
}
