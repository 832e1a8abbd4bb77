package pipe

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// request is what a requestReply target saw of one connection.
type request struct {
	n      int
	digest [32]byte
}

// requestReply returns a target handler that reads the whole request (to
// the client's half-close), reports it on seen, then answers with reply
// bytes and closes.
func requestReply(seen chan<- request, reply func() []byte) func(*net.TCPConn) {
	return func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil {
			return
		}
		seen <- request{n: len(b), digest: digest(b)}
		c.Write(reply())
	}
}

// roundTrip sends req through the pipe, half-closes, and returns the whole
// reply.
func roundTrip(t testing.TB, p *Pipe, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(req)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	reply, err := io.ReadAll(c)
	if werr := <-errc; werr != nil {
		t.Errorf("writing request: %v", werr)
	}
	if err != nil {
		t.Errorf("reading reply: %v", err)
	}
	return reply
}

func TestExactBytes(t *testing.T) {
	tests := []struct {
		name    string
		in, out int
	}{
		{name: "nothing either way", in: 0, out: 0},
		{name: "one byte in", in: 1, out: 0},
		{name: "one byte out", in: 0, out: 1},
		{name: "small both ways", in: 1000, out: 5000},
		{name: "just over a chunk", in: maxChunk + 1, out: bufSize + 3},
		{name: "several MiB", in: 8<<20 + 17, out: 3<<20 + 5},
	}
	for _, mode := range chunkerModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				mode.use(t)
				leakCheck(t)
				req, reply := pattern(tt.in, 1), pattern(tt.out, 2)
				seen := make(chan request, 1)
				tg := startTarget(t, requestReply(seen, func() []byte { return reply }))
				p := startPipe(t, Config{Target: tg.addr()}, nil)

				got := roundTrip(t, p, req)
				if len(got) != tt.out || !bytes.Equal(got, reply) {
					t.Fatalf("client got %d bytes, want the %d bytes sent", len(got), tt.out)
				}
				if r := <-seen; r.n != tt.in || r.digest != digest(req) {
					t.Fatalf("target got %d bytes, want the %d bytes sent", r.n, tt.in)
				}
				waitFor(t, 5*time.Second, "the connection to end", func() bool { return p.Totals().Open == 0 })
				if tot := p.Totals(); tot.In != uint64(tt.in) || tot.Out != uint64(tt.out) || tot.Accepted != 1 {
					t.Fatalf("totals = %+v, want in %d, out %d, 1 accepted", tot, tt.in, tt.out)
				}
			})
		}
	}
}

func TestManyConcurrentClients(t *testing.T) {
	leakCheck(t)
	const clients = 64
	// Each client sends its index in its first byte; the target answers
	// with a reply sized by it.
	replySize := func(i int) int { return i*7919 + 1 }
	tg := startTarget(t, func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil || len(b) == 0 {
			return
		}
		c.Write(pattern(replySize(int(b[0])), b[0]))
	})
	p := startPipe(t, Config{Target: tg.addr(), Name: "many"}, nil)

	// Collect while the clients run, as the aggregator would.
	entries := model.NewMonitorEntryCollection(time.Hour)
	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				p.Collect(entries, now)
			}
		}
	}()

	var wantIn, wantOut uint64
	var wg sync.WaitGroup
	for i := range clients {
		req := pattern(i*13331+1, byte(i))
		req[0] = byte(i)
		wantIn += uint64(len(req))
		wantOut += uint64(replySize(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := roundTrip(t, p, req)
			if want := pattern(replySize(i), byte(i)); !bytes.Equal(got, want) {
				t.Errorf("client %d got %d bytes, want %d", i, len(got), len(want))
			}
		}()
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "the connections to end", func() bool { return p.Totals().Open == 0 })
	close(stop)
	<-collected
	p.Collect(entries, time.Now())

	if tot := p.Totals(); tot.In != wantIn || tot.Out != wantOut || tot.Accepted != clients {
		t.Fatalf("totals = %+v, want in %d, out %d, %d accepted", tot, wantIn, wantOut, clients)
	}
	e := entryOf(entries, model.KeyApp("many"))
	if e == nil || e.BytesIn != wantIn || e.BytesOut != wantOut || e.Info.App != "many" {
		t.Fatalf("collected entry = %+v, want app many with %d in, %d out", e, wantIn, wantOut)
	}
	if entries.Len() != 1 {
		t.Fatalf("collection has %d entries, want the pipe's only", entries.Len())
	}
}

func TestCollectCountsOpenConnections(t *testing.T) {
	leakCheck(t)
	tg := startTarget(t, func(c *net.TCPConn) {
		buf := make([]byte, 1000)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		c.Write(pattern(2500, 9))
		io.Copy(io.Discard, c) // stay open until the client closes
	})
	p := startPipe(t, Config{Target: tg.addr(), Name: "open"}, nil)
	c := dial(t, p)
	if _, err := c.Write(pattern(1000, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 2500)); err != nil {
		t.Fatal(err)
	}

	// The client may read the bytes a moment before the pipe has counted
	// its write of them: collect until the counts arrive.
	entries := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	var e *model.MonitorEntry
	for deadline := time.Now().Add(2 * time.Second); ; {
		if err := p.Collect(entries, now); err != nil {
			t.Fatal(err)
		}
		e = entryOf(entries, model.KeyApp("open"))
		if e != nil && e.BytesIn == 1000 && e.BytesOut == 2500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e == nil || e.BytesIn != 1000 || e.BytesOut != 2500 || e.Info.App != "open" || !e.LastSeen.Equal(now) {
		t.Fatalf("entry of an open connection = %+v, want 1000 in, 2500 out at %v", e, now)
	}
	if s := p.Stats(); s.Flows != 1 {
		t.Fatalf("stats = %+v, want 1 open flow", s)
	}
	entries.Usage(now)
	p.Collect(entries, now.Add(time.Second))
	if u := entries.Usage(now.Add(time.Second)); len(u) != 0 {
		t.Fatalf("second collect without traffic added %+v, want nothing", u)
	}
}

func TestListenDualStack(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	leakCheck(t)
	tg := startTarget(t, echo)
	p := startPipe(t, Config{Listen: ":0", Target: tg.addr()}, nil)
	port := p.Addr().(*net.TCPAddr).Port
	for i, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			c, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := pattern(100+i, byte(i))
			c.Write(msg)
			c.(*net.TCPConn).CloseWrite()
			if got := readAll(t, c, 5*time.Second); !bytes.Equal(got, msg) {
				t.Fatalf("echo through %s returned %d bytes, want %d", host, len(got), len(msg))
			}
		})
	}
	waitFor(t, 5*time.Second, "the connections to end", func() bool { return p.Totals().Open == 0 })
	if tot := p.Totals(); tot.In != 201 || tot.Out != 201 {
		t.Fatalf("totals = %+v, want 201 each way", tot)
	}
}

// TestHostileNameIsClean: the app name comes from a config file, and
// leaves the pipe (Collect, App) as safename.Clean makes it.
func TestHostileNameIsClean(t *testing.T) {
	leakCheck(t)
	seen := make(chan request, 1)
	tg := startTarget(t, requestReply(seen, func() []byte { return []byte("ok") }))
	const hostile = "web\x1b]0;pwned\x07\u202etxt.exe\xff"
	const clean = `web\x1b]0;pwned\x07\u202etxt.exe\xff`
	p := startPipe(t, Config{Target: tg.addr(), Name: hostile}, nil)
	if p.App() != clean {
		t.Fatalf("App() = %q, want %q", p.App(), clean)
	}
	roundTrip(t, p, []byte("hi"))
	<-seen
	waitFor(t, 5*time.Second, "the connection to end", func() bool { return p.Totals().Open == 0 })
	entries := model.NewMonitorEntryCollection(time.Hour)
	now := time.Unix(1000, 0)
	if err := p.Collect(entries, now); err != nil {
		t.Fatal(err)
	}
	e := entries.Entries()
	if len(e) != 1 || e[0].Key != model.KeyApp(clean) || e[0].Info.App != clean {
		t.Fatalf("collected %+v, want one app %q", e, clean)
	}
}
