package monitor

import (
	"slices"
	"testing"
)

func TestMissingCaps(t *testing.T) {
	tests := []struct {
		name, status string
		want         []string
		wantErr      bool
	}{
		{"root", "Name:\tbwmon\nCapEff:\t000001ffffffffff\n", nil, false},
		{"the service's four", "CapInh:\t0\nCapEff:\t0000000000881004\n", nil, false},
		{"no ptrace", "CapEff:\t0000000000801004\n", []string{"CAP_SYS_PTRACE"}, false},
		{"none", "CapEff:\t0000000000000000\n", []string{"CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}, false},
		{"no line", "Name:\tx\n", nil, true},
		{"garbage", "CapEff:\tzz\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := missingCaps(tt.status)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("missingCaps = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzMissingCaps: no /proc/self/status text makes the parser panic.
func FuzzMissingCaps(f *testing.F) {
	f.Add("Name:\tbwmon\nCapEff:\t000001ffffffffff\n")
	f.Add("CapEff:\t0000000000801004\n")
	f.Add("CapEff:\tzz\n")
	f.Fuzz(func(t *testing.T, status string) {
		if missing, err := missingCaps(status); err != nil && missing != nil {
			t.Fatalf("missing %v with error %v", missing, err)
		}
	})
}
