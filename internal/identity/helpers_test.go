package identity

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// quick is how long a lookup or an identification may take in a test,
// bounded by design far below it: a read that blocks (the finding the tests
// reproduce) never returns at all.
var quick = 100 * time.Millisecond

// logBuffer is a logger whose lines a test reads.
type logBuffer struct{ nettest.SyncBuffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *logBuffer) lines() []string {
	return strings.FieldsFunc(l.String(), func(r rune) bool { return r == '\n' })
}

// newFakeClock returns a clock a test moves.
func newFakeClock() *nettest.Clock { return nettest.NewClock(time.Unix(1_800_000_000, 0)) }

// eventually polls cond every few milliseconds for up to 2 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 2 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
