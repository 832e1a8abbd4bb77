package monitor

import (
	"strings"
	"testing"
)

// A monitor that fails to start returns its error and releases what it
// opened: no panic from the cleanup of a half-made monitor.
func TestNewConntrackFailsCleanly(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no such namespace", Options{Config: ConntrackConfig{NetNS: "bwmon-test-no-such-netns"}}, "opening network namespace"},
		{"no such proc root", Options{ProcRoot: "/nonexistent-proc"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewConntrack(tt.o)
			if err == nil {
				m.Close()
				t.Fatal("NewConntrack succeeded, want an error")
			}
			if m != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewConntrack = %v, %v; want nil and an error with %q", m, err, tt.want)
			}
		})
	}
}
