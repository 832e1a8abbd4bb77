package model

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRate checks that ParseRate, which reads the thresholds and rate
// limits of the configuration file, never panics; that a rate it accepts
// is finite and not negative; that what it accepts, it accepts again as
// FormatRate prints it (to the precision of the print); and that its error
// messages stay one readable line.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{
		"1024", "500KiB/s", "80 Mbit/s", "1.5 GiB/s", "2KB/s", "80Mb/s", "-5KiB/s", "1.5", "",
		"fast", " 10MB/s ", "1e308GB/s", "1e3", "0x10", "NaN", "Inf kB/s", "5 furlongs/s", "\xffMB/s",
	} {
		f.Add(s)
	}
	f.Add("1" + strings.Repeat("0", 300) + " GB/s") // 1e309 bytes/s: beyond float64
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") && !strings.ContainsAny(s, "\n\r") {
				t.Fatalf("ParseRate(%q): error of several lines: %q", s, msg)
			}
			return
		}
		v := float64(r)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("ParseRate(%q) = %v: want a finite rate, not negative", s, v)
		}
		if !utf8.ValidString(s) {
			return // accepted: the bytes around the number were spaces
		}
		printed := FormatRate(v)
		back, err := ParseRate(printed)
		if err != nil {
			t.Fatalf("ParseRate(%q) = %v, printed %q, which ParseRate refuses: %v", s, v, printed, err)
		}
		// Two decimals of the unit printed: half a hundredth of it off.
		if tol := max(v*0.0051, 0.0051); math.Abs(float64(back)-v) > tol {
			t.Fatalf("ParseRate(%q) = %v, printed %q, read back as %v", s, v, printed, float64(back))
		}
	})
}
