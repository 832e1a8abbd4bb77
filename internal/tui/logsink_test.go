package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestLogSink: lines go through to stderr until a UI holds the sink; then
// they are kept only, and written out when it lets go; every line is kept
// clean for the log area.
func TestLogSink(t *testing.T) {
	var stderr bytes.Buffer
	s := NewLogSink(&stderr)
	fmt.Fprintf(s, "before: url=http://127.0.0.1:8000/\n")
	notified := 0
	s.hold(func() { notified++ })
	fmt.Fprintf(s, "during 1\nduring 2 \x1b[2J")
	fmt.Fprintf(s, "still 2\n")
	if got := stderr.String(); got != "before: url=http://127.0.0.1:8000/\n" {
		t.Fatalf("stderr while held: %q, want the line before only", got)
	}
	if notified != 2 {
		t.Errorf("notified %d times, want 2 (one a write with whole lines)", notified)
	}
	want := []string{"before: url=http://127.0.0.1:8000/", "during 1", `during 2 \x1b[2Jstill 2`}
	if got := s.Lines(10); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", got, want)
	}
	s.release()
	fmt.Fprintf(s, "after\n")
	if got, want := stderr.String(), "before: url=http://127.0.0.1:8000/\nduring 1\n"+`during 2 \x1b[2Jstill 2`+"\nafter\n"; got != want {
		t.Fatalf("stderr after release: %q, want %q", got, want)
	}
	s.release() // twice is harmless
}

// TestLogSinkBounded: a flood keeps the latest lines, each bounded, and
// says how many it dropped.
func TestLogSinkBounded(t *testing.T) {
	var stderr bytes.Buffer
	s := NewLogSink(&stderr)
	s.hold(func() {})
	for i := range maxLogLines + 20 {
		fmt.Fprintf(s, "line %d\n", i)
	}
	s.Write(bytes.Repeat([]byte("x"), 3*maxLogLine)) // no end of line
	if got := s.Lines(1 << 20); len(got) != maxLogLines {
		t.Fatalf("kept %d lines, want %d", len(got), maxLogLines)
	}
	for _, l := range s.Lines(3) {
		if len(l) > maxLogLine+len("…") {
			t.Fatalf("a line of %d bytes kept", len(l))
		}
	}
	s.release()
	out := stderr.String()
	if !strings.HasPrefix(out, "(21 earlier log lines not kept)\nline 21\n") {
		t.Fatalf("stderr after a flood begins %q", out[:min(len(out), 80)])
	}
}

func TestFeed(t *testing.T) {
	f := NewFeed()
	if u := f.take(); u.snap != nil || u.status != nil || u.log {
		t.Fatalf("an empty feed gives %+v", u)
	}
	a, b := fakeSnapshot(t0, 1), fakeSnapshot(t0, 2)
	f.Consume(a)
	f.Consume(b)
	f.SetStatus(Status{Down: true, Text: "gone"})
	f.logged()
	select {
	case <-f.wake:
	default:
		t.Fatal("no wake-up pending")
	}
	u := f.take()
	if u.snap != b || u.status == nil || !u.status.Down || !u.log {
		t.Fatalf("take gives %+v, want the latest snapshot, the status and the log", u)
	}
	if u := f.take(); u.snap != nil || u.status != nil || u.log {
		t.Fatalf("a second take gives %+v, want nothing new", u)
	}
}
