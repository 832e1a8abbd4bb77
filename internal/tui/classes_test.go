package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// TestExpandClasses: an expanded app with bytes in destination classes
// shows them on a line of their own, the largest first, and the screen
// still fits.
func TestExpandClasses(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}, {60, 10}} {
		hs := newHarness(t, sz[0], sz[1])
		s := fakeSnapshot(t0, 3)
		s.Apps[0].Classes = map[string]model.AppClass{
			"lab":      {BytesIn: 10 << 20, BytesOut: 0, RateIn: 3 << 20},
			"internet": {BytesIn: 30 << 20, BytesOut: 1 << 20, RateIn: 9 << 20, RateOut: 100 << 10},
		}
		hs.tick(s)
		for range 10 {
			if strings.HasSuffix(hs.selected(), " python3") {
				break
			}
			hs.keys("j")
		}
		hs.keys("enter")
		hs.send(processesMsg{app: "python3", procs: fakeProcesses()})
		screen := hs.screen()
		if len(screen) > sz[1] {
			t.Fatalf("%dx%d: %d lines", sz[0], sz[1], len(screen))
		}
		joined := strings.Join(screen, "\n")
		if !strings.Contains(joined, "  by class: internet in 9.00 MiB/s out 100 KiB/s (31.0 MiB, 76%) · lab in 3.00 MiB/s") && sz[0] >= 200 {
			t.Errorf("%dx%d: no classes line:\n%s", sz[0], sz[1], joined)
		}
		if i, j := strings.Index(joined, "by class: internet"), strings.Index(joined, "· lab"); sz[0] >= 200 && (i < 0 || j < i) {
			t.Errorf("%dx%d: internet, the largest, should come first:\n%s", sz[0], sz[1], joined)
		}
		hs.tick(fakeSnapshot(t0.Add(time.Second), 3)) // no classes any more
		if strings.Contains(strings.Join(hs.screen(), "\n"), "by class") {
			t.Errorf("%dx%d: a classes line without classes", sz[0], sz[1])
		}
	}
}
