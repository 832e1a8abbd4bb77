package pipe

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoClient sends msg through the pipe, reads it back, and then waits for
// release before it closes, so that many connections are open at once.
func echoClient(t *testing.T, addr string, msg []byte, echoed *sync.WaitGroup, release <-chan struct{}) {
	defer echoed.Done()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dialing the pipe: %v", err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Errorf("writing: %v", err)
		return
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("echo: %v", err)
		return
	}
	if release != nil {
		<-release
	}
	c.(*net.TCPConn).CloseWrite()
	if n, err := c.Read(got[:1]); n != 0 || err != io.EOF {
		t.Errorf("after the half-close read %d, %v; want EOF", n, err)
	}
}

func TestNoLeaksAfterConcurrentConnections(t *testing.T) {
	tests := []struct {
		name string
		// conns connections run in waves of wave at a time, all of a wave
		// open together.
		conns, wave int
		long        bool
	}{
		{name: "1000 at once", conns: 1000, wave: 1000},
		{name: "10000 in waves of 500", conns: 10000, wave: 500, long: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("long; run without -short")
			}
			leakCheck(t)
			tg := startTarget(t, echo)
			p := startPipe(t, Config{Target: tg.addr(), MaxConns: NoLimit}, nil)
			// What the pipe holds while idle: the connections must give
			// everything back to this, not only when the pipe closes.
			base := countResources(t)
			msg := pattern(1024, 5)

			for done := 0; done < tt.conns; done += tt.wave {
				var echoed, closed sync.WaitGroup
				release := make(chan struct{})
				for range tt.wave {
					echoed.Add(1)
					closed.Add(1)
					go func() {
						defer closed.Done()
						echoClient(t, p.Addr().String(), msg, &echoed, release)
					}()
				}
				waitFor(t, 30*time.Second, "every connection of the wave to be open", func() bool {
					return int(p.Totals().Open) == tt.wave || t.Failed()
				})
				close(release)
				closed.Wait()
				if t.Failed() {
					t.FailNow()
				}
			}
			waitFor(t, 10*time.Second, "every connection to end", func() bool { return p.Totals().Open == 0 })
			want := uint64(tt.conns * len(msg))
			if tot := p.Totals(); tot.In != want || tot.Out != want || tot.Accepted != uint64(tt.conns) {
				t.Fatalf("totals = %+v, want %d each way and %d accepted", tot, want, tt.conns)
			}
			settles(t, base, 10*time.Second)
		})
	}
}
