package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Rate is a data rate in bytes per second. In configuration it is written
// with a unit ("500KiB/s", "80Mbit/s", "10MB/s") or as a bare integer in
// bytes per second.
type Rate float64

var rateUnits = map[string]float64{
	"B/s": 1, "KiB/s": 1 << 10, "MiB/s": 1 << 20, "GiB/s": 1 << 30,
	"kB/s": 1e3, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9,
	"bit/s": 1.0 / 8, "kbit/s": 1e3 / 8, "Mbit/s": 1e6 / 8, "Gbit/s": 1e9 / 8,
}

// RateUnits lists the units ParseRate accepts, for error messages.
const RateUnits = "B/s, KiB/s, MiB/s, GiB/s, kB/s, MB/s, GB/s, bit/s, kbit/s, Mbit/s, Gbit/s"

// ParseRate parses a rate such as "500KiB/s", "80 Mbit/s" or "1024".
// Units are spelled exactly as listed in RateUnits (KB/s is taken as kB/s);
// a lowercase b ("Mb/s", "kb/s"), which some read as bits and others as
// bytes, is refused rather than guessed: 8x off is an alert that never
// fires.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty rate: want a number with a unit (%s)", RateUnits)
	}
	i := strings.IndexFunc(t, func(r rune) bool { return unicode.IsLetter(r) || r == '/' || r == ' ' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad rate %q: want a number with a unit (%s)", s, RateUnits)
	}
	if v < 0 {
		return 0, fmt.Errorf("bad rate %q: must not be negative", s)
	}
	if unit == "" {
		if num != strconv.FormatInt(int64(v), 10) {
			return 0, fmt.Errorf("bad rate %q: a bare number is bytes per second and must be an integer; or add a unit (%s)", s, RateUnits)
		}
		return Rate(v), nil
	}
	m, ok := rateUnits[unit]
	if !ok {
		if lower := strings.ToLower(unit); len(lower) == 4 && strings.HasSuffix(lower, "b/s") && unit[1] == 'b' {
			p := strings.ToUpper(unit[:1])
			if p == "K" {
				p = "k"
			}
			return 0, fmt.Errorf("bad rate %q: %q is ambiguous: write %sB/s for bytes or %sbit/s for bits", s, unit, p, p)
		}
		return 0, fmt.Errorf("bad rate %q: unknown unit %q (use %s)", s, unit, RateUnits)
	}
	if math.IsInf(v*m, 0) {
		return 0, fmt.Errorf("bad rate %q: too large", s)
	}
	return Rate(v * m), nil
}

// UnmarshalText lets a Rate be read from a string (flags, TOML strings).
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// UnmarshalTOML accepts a TOML string with a unit or a bare integer.
func (r *Rate) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		return r.UnmarshalText([]byte(x))
	case int64:
		if x < 0 {
			return fmt.Errorf("bad rate %d: must not be negative", x)
		}
		*r = Rate(x)
		return nil
	default:
		return fmt.Errorf("bad rate %v: want a string such as \"500KiB/s\" or an integer in bytes/s", v)
	}
}

// String formats the rate in the decimal unit that reads best, e.g.
// "12.40 MB/s".
func (r Rate) String() string { return FormatRate(float64(r)) }

// FormatRate formats bytes/s with decimal units (B/s, kB/s, MB/s, GB/s), as
// alert lines do.
func FormatRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f GB/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f MB/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.2f kB/s", bps/1e3)
	default:
		return fmt.Sprintf("%.2f B/s", bps)
	}
}

// FormatBytes formats a byte count with binary units: "512 B", "1.50 KiB",
// "12.00 MiB".
func FormatBytes(n float64) string {
	const unit = 1024.0
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	for i, suffix := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v := n / math.Pow(unit, float64(i+1))
		if v < unit || suffix == "PiB" {
			return fmt.Sprintf("%.2f %s", v, suffix)
		}
	}
	return fmt.Sprintf("%.0f B", n)
}
