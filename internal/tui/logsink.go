package tui

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/bwmon/bwmon/internal/safename"
)

const (
	// maxLogLines is how many lines a LogSink keeps: for the log area, and
	// to write out when the UI ends.
	maxLogLines = 500
	// maxLogLine bounds a kept line, in bytes; a longer one is cut, and
	// a line without an end longer than this is kept in pieces.
	maxLogLine = 2048
)

// LogSink is where an agent with a terminal UI writes its log and its alert
// lines (its stderr otherwise). Before the UI is on screen and after it is
// gone, what is written goes through to the real stderr, as without a UI;
// while the UI is on screen, lines go to the UI's log area only, where the
// next redraw cannot wipe them, and when the UI ends they are written to
// stderr, so that nothing logged is lost (at most the last maxLogLines).
// Every line kept is clean (safename.CleanN). Safe for concurrent use.
type LogSink struct {
	mu      sync.Mutex // guards the following fields
	out     io.Writer
	lines   []string // the latest maxLogLines complete lines
	partial []byte   // the start of a line not ended yet
	seq     uint64   // lines kept so far
	held    bool
	// heldFrom is the seq of the first line written while held.
	heldFrom uint64
	// notify, while held, is called after new lines arrive; it must not
	// block.
	notify func()
}

// NewLogSink returns a LogSink that writes through to stderr until a UI
// holds it.
func NewLogSink(stderr io.Writer) *LogSink {
	return &LogSink{out: stderr}
}

// Write keeps p's lines for the log area, and writes p to stderr unless
// the UI is on screen.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if !s.held {
		_, err = s.out.Write(p)
	}
	n := s.seq
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.partial = append(s.partial, rest...)
			if len(s.partial) >= maxLogLine {
				s.keepLocked(s.partial)
				s.partial = s.partial[:0]
			}
			break
		}
		s.partial = append(s.partial, rest[:i]...)
		s.keepLocked(s.partial)
		s.partial = s.partial[:0]
		rest = rest[i+1:]
	}
	if s.held && s.seq != n && s.notify != nil {
		s.notify()
	}
	return len(p), err
}

func (s *LogSink) keepLocked(b []byte) {
	line := safename.CleanN(string(b), maxLogLine)
	if len(s.lines) == maxLogLines {
		copy(s.lines, s.lines[1:])
		s.lines = s.lines[:maxLogLines-1]
	}
	s.lines = append(s.lines, line)
	s.seq++
}

// Lines returns the latest n lines kept, oldest first.
func (s *LogSink) Lines(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.lines))
	return append([]string(nil), s.lines[len(s.lines)-n:]...)
}

// hold starts keeping what is written from stderr: the UI is on screen.
// notify is called after new lines arrive.
func (s *LogSink) hold(notify func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held, s.heldFrom, s.notify = true, s.seq, notify
}

// release writes to stderr the lines kept while held, and lets what comes
// next through again: the UI is gone.
func (s *LogSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		return
	}
	s.held, s.notify = false, nil
	since := s.seq - s.heldFrom
	if since == 0 {
		return
	}
	var b bytes.Buffer
	kept := min(since, uint64(len(s.lines)))
	if since > kept {
		fmt.Fprintf(&b, "(%d earlier log lines not kept)\n", since-kept)
	}
	for _, l := range s.lines[uint64(len(s.lines))-kept:] {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, _ = s.out.Write(b.Bytes())
}
