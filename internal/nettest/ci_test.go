package nettest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that notes a skip or a failure instead of
// stopping.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestMissing(t *testing.T) {
	tests := []struct {
		name, ci   string
		wantFailed bool
	}{
		{"not in CI: a skip", "", false},
		{"CI=false: a skip", "false", false},
		{"CI=true: a failure", "true", true},
		{"CI=1: a failure", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			Missing(r, "needs %s: apt-get install %s", "promtool", "prometheus")
			got, other := r.skipped, r.failed
			if tt.wantFailed {
				got, other = r.failed, r.skipped
			}
			if !strings.HasPrefix(got, "needs promtool: apt-get install prometheus") || other != "" {
				t.Fatalf("skipped %q, failed %q; want the message as a %s only", r.skipped, r.failed, map[bool]string{true: "failure", false: "skip"}[tt.wantFailed])
			}
		})
	}
}
