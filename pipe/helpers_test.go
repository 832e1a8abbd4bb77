package pipe

import (
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/model"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resources is what a test must give back: goroutines and open files.
type resources struct{ goroutines, fds int }

func countResources(t testing.TB) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting file descriptors: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds) - 1} // minus ReadDir's own
}

// settles waits until the goroutines and open files are back to base, and
// fails with a goroutine dump when they do not come back.
func settles(t testing.TB, base resources, timeout time.Duration) {
	t.Helper()
	var now resources
	deadline := time.Now().Add(timeout)
	for {
		now = countResources(t)
		if now.goroutines <= base.goroutines && now.fds <= base.fds {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf("leak: %d goroutines and %d fds, started with %d and %d\nfds: %s\n%s",
		now.goroutines, now.fds, base.goroutines, base.fds, openFiles(), buf)
}

// openFiles lists what the open file descriptors point to.
func openFiles() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return strings.Join(out, " ")
}

// leakCheck fails the test when it ends with more goroutines or open files
// than it started with. Call it first, so that its cleanup runs last.
func leakCheck(t *testing.T) {
	base := countResources(t)
	t.Cleanup(func() {
		if !t.Failed() {
			settles(t, base, 5*time.Second)
		}
	})
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct{ nettest.SyncBuffer }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startPipe starts a pipe listening on 127.0.0.1 (unless cfg says where)
// and closes it when the test ends.
func startPipe(t testing.TB, cfg Config, logger *slog.Logger) *Pipe {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	p, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing pipe: %v", err)
		}
	})
	return p
}

// target is a TCP server on 127.0.0.1 that runs handle for each connection
// and, when the test ends, closes its listener and connections and waits
// for its goroutines.
type target struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func startTarget(t testing.TB, handle func(c *net.TCPConn)) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveTarget(t, ln, handle)
}

func serveTarget(t testing.TB, ln net.Listener, handle func(c *net.TCPConn)) *target {
	tg := &target{ln: ln, conns: map[net.Conn]bool{}}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.mu.Lock()
			tg.conns[c] = true
			tg.mu.Unlock()
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				handle(c.(*net.TCPConn))
				c.Close()
				tg.mu.Lock()
				delete(tg.conns, c)
				tg.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		tg.mu.Lock()
		for c := range tg.conns {
			c.Close()
		}
		tg.mu.Unlock()
		tg.wg.Wait()
	})
	return tg
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// echo copies what it reads back until EOF. It copies through a buffer:
// io.Copy between two *net.TCPConn would splice through a pipe from the
// standard library's pool, which stays open after the test.
func echo(c *net.TCPConn) {
	io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
}

// pattern returns n deterministic bytes that differ by seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

// dial connects to the pipe.
func dial(t testing.TB, p *Pipe) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readAll reads c to EOF, failing the test after timeout.
func readAll(t testing.TB, c net.Conn, timeout time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v (after %d bytes)", err, len(b))
	}
	return b
}

// closedByPeer reports whether err is how a read sees a connection the
// other side closed or reset (and not a timeout of the test's own).
func closedByPeer(err error) bool {
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset")
}

// open returns the number of connections the target holds.
func (tg *target) open() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return len(tg.conns)
}

// entryOf returns the entry of c under key, or nil.
func entryOf(c *model.MonitorEntryCollection, key model.Key) *model.MonitorEntry {
	for _, e := range c.Entries() {
		if e.Key == key {
			return e
		}
	}
	return nil
}
