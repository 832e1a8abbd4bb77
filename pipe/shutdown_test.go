package pipe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestShutdownDrains(t *testing.T) {
	leakCheck(t)
	// Room for the probes of "stop accepting" below, should one be
	// accepted just before the listener closed: the target must never
	// block on it, or its cleanup would wait forever.
	seen := make(chan request, 16)
	reply := pattern(200000, 4)
	tg := startTarget(t, func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil {
			return
		}
		seen <- request{n: len(b), digest: digest(b)}
		if len(b) > 0 { // a probe gets no reply: the totals are the request's
			c.Write(reply)
		}
	})
	p := startPipe(t, Config{Target: tg.addr(), DrainTimeout: 10 * time.Second}, nil)

	// A request in flight when the pipe is told to stop.
	c := dial(t, p)
	if _, err := c.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the connection to be forwarded", func() bool { return p.Totals().In == 11 })
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- p.Close() }()

	waitFor(t, 5*time.Second, "the pipe to stop accepting", func() bool {
		c, err := net.Dial("tcp", p.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a connection was still open", err)
	default:
	}

	// The open connection still completes.
	c.Write([]byte("second half"))
	c.CloseWrite()
	if got := readAll(t, c, 5*time.Second); !bytes.Equal(got, reply) {
		t.Fatalf("draining connection got %d bytes, want %d", len(got), len(reply))
	}
	// Probes arrive empty; the request is the one with bytes.
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case r := <-seen:
			if r.n == 0 {
				continue
			}
			if r.n != 22 {
				t.Fatalf("target got %d bytes, want 22", r.n)
			}
			got = true
		case <-deadline:
			t.Fatal("the target never got the request")
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s although the connection ended", d)
	}
	if tot := p.Totals(); tot.In != 22 || tot.Out != uint64(len(reply)) || tot.Open != 0 {
		t.Fatalf("totals after Close = %+v, want 22 in, %d out, none open", tot, len(reply))
	}
}

func TestShutdownClosesWhatDoesNotDrain(t *testing.T) {
	tests := []struct {
		name string
		// stop shuts the pipe down and returns what it returned.
		stop    func(p *Pipe) error
		wantErr error
	}{
		{name: "Close after DrainTimeout", stop: (*Pipe).Close},
		{
			name: "Shutdown when its context ends",
			stop: func(p *Pipe) error {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				return p.Shutdown(ctx)
			},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			tg := startTarget(t, echo)
			p := startPipe(t, Config{Target: tg.addr(), DrainTimeout: 300 * time.Millisecond}, nil)
			c := dial(t, p)
			c.Write([]byte("x"))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			if err := tt.stop(p); !errors.Is(err, tt.wantErr) {
				t.Fatalf("stopping: %v, want %v", err, tt.wantErr)
			}
			if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
				t.Fatalf("stopping took %s, want about the 300ms drain time", d)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
				t.Fatalf("client read after the shutdown: %v, want the connection closed", err)
			}
			if tot := p.Totals(); tot.Open != 0 {
				t.Fatalf("%d connections open after the shutdown", tot.Open)
			}
			start = time.Now()
			if err := p.Close(); err != nil || time.Since(start) > time.Second {
				t.Fatalf("second Close: %v after %s, want nil at once", err, time.Since(start))
			}
		})
	}
}
