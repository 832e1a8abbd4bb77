package pipe

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHalfClose(t *testing.T) {
	tests := []struct {
		name string
		// target serves the connection; client drives it and checks what
		// it got; seen carries what the target got.
		target func(c *net.TCPConn, seen chan<- []byte)
		client func(t *testing.T, c *net.TCPConn)
		want   []byte // what the target must have read
	}{
		{
			name: "client shuts its write side and still gets the whole response",
			target: func(c *net.TCPConn, seen chan<- []byte) {
				req, _ := io.ReadAll(c)
				seen <- req
				// Answer after the client's EOF, in parts, as a slow
				// server would.
				for i := range 3 {
					c.Write(pattern(100000, byte(i)))
					time.Sleep(20 * time.Millisecond)
				}
			},
			client: func(t *testing.T, c *net.TCPConn) {
				c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
				c.CloseWrite()
				got := readAll(t, c, 10*time.Second)
				want := append(append(pattern(100000, 0), pattern(100000, 1)...), pattern(100000, 2)...)
				if !bytes.Equal(got, want) {
					t.Fatalf("client got %d bytes of the response, want %d", len(got), len(want))
				}
			},
			want: []byte("GET / HTTP/1.0\r\n\r\n"),
		},
		{
			name: "target shuts its write side and still gets the whole upload",
			target: func(c *net.TCPConn, seen chan<- []byte) {
				c.Write([]byte("ready"))
				c.CloseWrite()
				req, _ := io.ReadAll(c)
				seen <- req
			},
			client: func(t *testing.T, c *net.TCPConn) {
				if got := readAll(t, c, 10*time.Second); string(got) != "ready" {
					t.Fatalf("client got %q, want \"ready\" then EOF", got)
				}
				if _, err := c.Write(pattern(300000, 7)); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
			},
			want: pattern(300000, 7),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			seen := make(chan []byte, 1)
			tg := startTarget(t, func(c *net.TCPConn) { tt.target(c, seen) })
			p := startPipe(t, Config{Target: tg.addr()}, nil)
			tt.client(t, dial(t, p))
			if got := <-seen; !bytes.Equal(got, tt.want) {
				t.Fatalf("target got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestFailureClosesBothSides(t *testing.T) {
	tests := []struct {
		name string
		// resetTarget: the target resets; otherwise the client does.
		resetTarget bool
	}{
		{name: "target resets", resetTarget: true},
		{name: "client resets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			targetEnd := make(chan error, 1)
			tg := startTarget(t, func(c *net.TCPConn) {
				if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
					targetEnd <- err
					return
				}
				if tt.resetTarget {
					c.SetLinger(0)
					c.Close()
					return
				}
				c.Write([]byte("ok"))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Read(make([]byte, 1))
				targetEnd <- err
			})
			p := startPipe(t, Config{Target: tg.addr()}, nil)
			c := dial(t, p)
			c.Write([]byte("hello"))
			if tt.resetTarget {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
					t.Fatalf("client read after the target reset: %v, want the connection closed", err)
				}
			} else {
				if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
					t.Fatal(err)
				}
				c.SetLinger(0)
				c.Close()
				if err := <-targetEnd; !closedByPeer(err) {
					t.Fatalf("target read after the client reset: %v, want the connection closed", err)
				}
			}
			waitFor(t, 5*time.Second, "the connection to end", func() bool { return p.Totals().Open == 0 })
		})
	}
}

func TestTargetDown(t *testing.T) {
	tests := []struct {
		name string
		// down returns the address of a target that does not answer and a
		// function that brings it up.
		down    func(t *testing.T) (addr string, up func())
		wantLog string
	}{
		{
			name: "refused",
			down: func(t *testing.T) (string, func()) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				return addr, func() {
					ln, err := net.Listen("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					serveTarget(t, ln, echo)
				}
			},
			wantLog: "connection refused",
		},
		{
			name: "times out",
			down: func(t *testing.T) (string, func()) {
				ln := unreachable(t)
				return ln.Addr().String(), func() { serveTarget(t, ln, echo) }
			},
			wantLog: "i/o timeout",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			var logs logBuffer
			addr, up := tt.down(t)
			p := startPipe(t, Config{Target: addr, DialTimeout: 300 * time.Millisecond}, logs.logger())

			c := dial(t, p)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
				t.Fatalf("client of a target that is down read: %v, want the connection closed", err)
			}
			waitFor(t, 5*time.Second, "the failure to be counted", func() bool { return p.Totals().Failed == 1 })
			if l := logs.String(); !strings.Contains(l, `msg="connecting to target"`) || !strings.Contains(l, tt.wantLog) {
				t.Fatalf("log does not report the failure with %q:\n%s", tt.wantLog, l)
			}

			up()
			// A target that was down may take a moment to answer at once
			// (a SYN dropped by its full queue is retried after 1 s,
			// past the pipe's 300 ms): wait until it does.
			waitFor(t, 5*time.Second, "the target to answer", func() bool {
				tc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err != nil {
					return false
				}
				tc.Close()
				return true
			})
			c = dial(t, p)
			c.Write([]byte("still serving"))
			c.CloseWrite()
			if got := readAll(t, c, 5*time.Second); string(got) != "still serving" {
				t.Fatalf("after the target came up the client got %q, want the echo", got)
			}
		})
	}
}

// TestUnreachableTargetWarnsOnce: a flood of clients while the target is
// down makes one warning (then one each warnEvery), and every failure is
// counted.
func TestUnreachableTargetWarnsOnce(t *testing.T) {
	leakCheck(t)
	addr := refusing(t) // each dial is refused at once
	var logs logBuffer
	p := startPipe(t, Config{Target: addr}, logs.logger())
	const clients = 30
	for range clients {
		c := dial(t, p)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
			t.Fatalf("client of a target that is down read: %v, want the connection closed", err)
		}
		c.Close()
	}
	waitFor(t, 5*time.Second, "every failure to be counted", func() bool { return p.Totals().Failed == clients })
	l := logs.String()
	if n := strings.Count(l, `msg="connecting to target"`); n != 1 || !strings.Contains(l, "failed_total=1\n") {
		t.Fatalf("%d warnings for %d clients of a target that is down, want 1 (with failed_total=1) within %s:\n%s", n, clients, warnEvery, l)
	}
}

func TestIdleTimeout(t *testing.T) {
	// A byte every 100 ms against a timeout of 1 s: a machine shared by
	// many builds stalls a goroutine for 300 ms now and then.
	const idle = time.Second
	tests := []struct {
		name string
		// ticks bytes the target sends, one every 100 ms, before it closes.
		ticks      int
		wantClosed bool // by the pipe, for idleness
	}{
		{name: "idle connection is closed", wantClosed: true},
		{name: "traffic one way keeps it open", ticks: 25}, // 2.5 s, two and a half idle timeouts
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			tg := startTarget(t, func(c *net.TCPConn) {
				if tt.ticks == 0 {
					io.Copy(io.Discard, c)
					return
				}
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for range tt.ticks {
					<-tick.C
					if _, err := c.Write([]byte{'.'}); err != nil {
						return
					}
				}
			})
			p := startPipe(t, Config{Target: tg.addr(), IdleTimeout: idle}, nil)
			start := time.Now()
			c := dial(t, p)
			got := readAll(t, c, 10*time.Second)
			elapsed := time.Since(start)
			if tt.wantClosed {
				if elapsed < idle || elapsed > 5*idle {
					t.Fatalf("idle connection closed after %s, want about %s", elapsed, idle)
				}
				return
			}
			if len(got) != tt.ticks {
				t.Fatalf("client got %d bytes before the end, want %d: closed as idle while busy", len(got), tt.ticks)
			}
		})
	}
}

func TestMaxConns(t *testing.T) {
	leakCheck(t)
	var logs logBuffer
	tg := startTarget(t, echo)
	p := startPipe(t, Config{Target: tg.addr(), MaxConns: 2}, logs.logger())
	ping := func(c *net.TCPConn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 4))
		return err
	}
	first, second := dial(t, p), dial(t, p)
	for _, c := range []*net.TCPConn{first, second} {
		if err := ping(c); err != nil {
			t.Fatalf("connection within max_conns: %v", err)
		}
	}

	third := dial(t, p)
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := third.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("connection beyond max_conns read %d, %v; want a clean EOF", n, err)
	}
	if err := ping(first); err != nil {
		t.Fatalf("open connection after a refusal: %v", err)
	}
	if tot := p.Totals(); tot.Refused != 1 || tot.Open != 2 {
		t.Fatalf("totals = %+v, want 1 refused, 2 open", tot)
	}
	if !strings.Contains(logs.String(), "max_conns reached") {
		t.Fatalf("refusal not logged:\n%s", logs.String())
	}

	first.Close()
	waitFor(t, 5*time.Second, "the closed connection to end", func() bool { return p.Totals().Open == 1 })
	if err := ping(dial(t, p)); err != nil {
		t.Fatalf("connection after one closed: %v", err)
	}
}
