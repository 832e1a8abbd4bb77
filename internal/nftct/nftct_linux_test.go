package nftct

import (
	"os"
	"strings"
	"testing"
)

func TestOwnerPID(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ours bool
	}{
		{"bwmon", 0, true}, // the single table of earlier versions
		{"bwmon-1234-1", 1234, true},
		{"bwmon-1-18446744073709551615", 1, true},
		{"bwmon-1234", 0, false},
		{"bwmon-0-1", 0, false},
		{"bwmon--1-1", 0, false},
		{"bwmon-12x-1", 0, false},
		{"bwmon-12-x", 0, false},
		{"bwmontest", 0, false}, // the tests' and benchmarks' stand-ins for somebody else's rule
		{"bwbench", 0, false},
		{"filter", 0, false},
	}
	for _, tt := range tests {
		pid, ours := ownerPID(tt.name)
		if pid != tt.pid || ours != tt.ours {
			t.Errorf("ownerPID(%q) = %d, %v, want %d, %v", tt.name, pid, ours, tt.pid, tt.ours)
		}
	}
	a, b := NewName(), NewName()
	if a == b || !strings.HasPrefix(a, Table+"-") {
		t.Errorf("NewName gave %q then %q, want two distinct bwmon-PID-N names", a, b)
	}
	if pid, ours := ownerPID(a); !ours || pid != os.Getpid() {
		t.Errorf("ownerPID(NewName() = %q) = %d, %v, want this process (%d)", a, pid, ours, os.Getpid())
	}
}
