package monitor

import (
	"testing"
	"time"
)

// TestQuietLog: a socket is placed by the setting it was made under; a
// switch made in the tick that first listed it came after it.
func TestQuietLog(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tick := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	l := newQuietLog(true)
	if !l.now() || !l.madeUnder(tick(0)) {
		t.Fatal("a new log is not its initial setting")
	}
	l.set(tick(10), false) // a listener came
	l.set(tick(11), false) // no change: nothing recorded
	l.set(tick(30), true)  // it went
	for _, c := range []struct {
		born int
		want bool
	}{
		{0, true},   // older than the agent
		{10, true},  // listed by the tick that switched: made before the switch
		{11, false}, // made while the events were on
		{30, false},
		{31, true},
	} {
		if got := l.madeUnder(tick(c.born)); got != c.want {
			t.Errorf("a socket first listed at tick %d: made under quiet %v, want %v", c.born, got, c.want)
		}
	}
	if !l.now() {
		t.Error("now: not quiet after the last switch")
	}
	// Only the last quietKeep switches are kept; the oldest kept setting
	// answers for anything older.
	for i := range 20 {
		l.set(tick(100+i), i%2 == 0)
	}
	if len(l.switches) != quietKeep {
		t.Errorf("%d switches kept, want %d", len(l.switches), quietKeep)
	}
	if got, want := l.madeUnder(tick(0)), l.initial; got != want {
		t.Errorf("before every kept switch: %v, want the setting before them, %v", got, want)
	}
	if got := l.madeUnder(tick(200)); got != l.now() {
		t.Errorf("after every switch: %v, want the current setting %v", got, l.now())
	}
}
