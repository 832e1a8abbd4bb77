package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
)

// TestHeaderCoverage: the header says how much of the interfaces' traffic
// bwmon explained over 15 minutes, at 80 columns as at 200; "–" for a
// direction the interfaces moved nothing in; nothing at all from an agent
// that reads no interface.
func TestHeaderCoverage(t *testing.T) {
	ratio := func(v float64) *float64 { return &v }
	eth := []model.Interface{{Name: "eth0", Kind: "device", Role: model.RoleCounted}}
	tests := []struct {
		name       string
		interfaces []model.Interface
		in, out    *float64
		want       string // "" : no coverage in the header
	}{
		{name: "explained", interfaces: eth, in: ratio(0.99312), out: ratio(0.99871), want: "coverage 15m in 99.3% out 99.9%"},
		{name: "an AF_PACKET sender", interfaces: eth, in: ratio(0.9999), out: ratio(0.66937), want: "coverage 15m in 100.0% out 66.9%"},
		{name: "nothing received", interfaces: eth, out: ratio(1), want: "coverage 15m in – out 100.0%"},
		{name: "more than the interfaces: said as is", interfaces: eth, in: ratio(1.004), out: ratio(1), want: "coverage 15m in 100.4% out 100.0%"},
		{name: "no interface read", in: ratio(1), out: ratio(1)},
	}
	for _, tt := range tests {
		for _, w := range []int{80, 200} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, w), func(t *testing.T) {
				hs := newHarness(t, w, 24)
				s := fakeSnapshot(t0, 30)
				s.Interfaces = tt.interfaces
				s.Coverage.Last15m = model.CoverageSpan{In: tt.in, Out: tt.out}
				hs.tick(s)
				head := strings.Join(hs.screen()[:2], "\n")
				switch {
				case tt.want == "" && strings.Contains(head, "coverage"):
					t.Errorf("the header speaks of coverage with no interface read:\n%s", head)
				case tt.want != "" && !strings.Contains(head, tt.want):
					t.Errorf("the header lacks %q:\n%s", tt.want, head)
				case !strings.Contains(head, "(other): 1412 apps folded"):
					t.Errorf("coverage pushed the folded apps out of the header:\n%s", head)
				}
			})
		}
	}
}
