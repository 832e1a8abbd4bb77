package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls out until it holds want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, no %q in the output:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failingReader is a terminal that went away.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, syscall.EIO }

// TestRun runs the UI on a fake terminal: it draws the feed, expands an
// app with the processes it is given, and ends cleanly on q, on its
// context's end and when the terminal goes away, with its goroutines gone
// and the lines logged meanwhile written to stderr.
func TestRun(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the run: it presses q, cancels, or breaks the input.
		stop func(in io.Writer, cancel context.CancelFunc)
		in   func(r io.Reader) io.Reader
	}{
		{"q", func(in io.Writer, _ context.CancelFunc) { fmt.Fprint(in, "q") }, nil},
		{"ctrl+c", func(in io.Writer, _ context.CancelFunc) { in.Write([]byte{3}) }, nil},
		{"context done (SIGTERM, SIGHUP)", func(_ io.Writer, cancel context.CancelFunc) { cancel() }, nil},
		{"terminal gone", func(io.Writer, context.CancelFunc) {}, func(r io.Reader) io.Reader {
			return io.MultiReader(r, failingReader{}) // EIO once the input is closed
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var stderr, out syncBuffer
			sink := NewLogSink(&stderr)
			fmt.Fprintln(sink, "level=INFO msg=started")
			feed := NewFeed()
			feed.Consume(fakeSnapshot(t0, 3))
			pr, pw := io.Pipe()
			var in io.Reader = pr
			if tt.in != nil {
				in = tt.in(pr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			asked := make(chan string, 10)
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, feed, Options{Title: "bwmon", Input: in, Output: &out, Log: sink,
					Processes: func(_ context.Context, app string) ([]model.ProcessUsage, error) {
						asked <- app
						return fakeProcesses(), nil
					}})
			}()
			waitFor(t, &out, "python3")
			waitFor(t, &out, "msg=started")
			fmt.Fprintln(sink, "level=WARN msg=during")
			waitFor(t, &out, "msg=during")
			if strings.Contains(stderr.String(), "during") {
				t.Fatal("a line logged while the UI is on screen went to stderr")
			}
			fmt.Fprint(pw, "\r") // enter
			if app := <-asked; app != "python3" {
				t.Fatalf("asked for the processes of %q, want python3", app)
			}
			waitFor(t, &out, "python3 -m http.server")
			if tt.in != nil {
				pw.Close()
			}
			tt.stop(pw, cancel)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v, want a clean end", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			pw.Close()
			if got := stderr.String(); got != "level=INFO msg=started\nlevel=WARN msg=during\n" {
				t.Errorf("stderr: %q, want the line before, then the one during the UI", got)
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines after Run, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}
